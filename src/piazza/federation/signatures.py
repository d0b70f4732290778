"""HTTP signatures as the fediverse uses them (draft-cavage-http-signatures, gancio-federation.md §7).

Pure functions, no I/O: the caller finds the key (by `keyId`) and passes headers as received.

Signing: `rsa-sha256` over `(request-target) host date` plus `digest` when there is a body. The
request-target is the lower-case method and the path *with* its query string, as the draft says.

Verifying accepts `rsa-sha256` and `hs2019` with an RSA key, requires `date` to be signed and within
`max_skew` seconds, and a signed `digest` that matches the body whenever there is a body (Gancio never
compares it, §20). Two of Gancio's quirks (§7.4) are tolerated: a signed `host` without the port, and a
signed GET whose request-target omits the query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCEPTED_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
MAX_SKEW_SECONDS = 300  # Gancio's and Mastodon's window
# name="value", or name=123 for the draft's numeric `created` and `expires`
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|(\d+))\s*(?:,|$)')


class SignatureError(Exception):
    """The request's signature, date or digest does not hold; the message says which (no secrets)."""


@dataclass(frozen=True)
class SignatureParams:
    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes


def digest_header(body: bytes) -> str:
    """The `Digest` value of a body: `SHA-256=<base64>`."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def digest_matches(header: str | None, body: bytes) -> bool:
    """True when `header` (possibly several `alg=value` entries) holds a SHA-256 equal to the body's."""
    if not header:
        return False
    expected = hashlib.sha256(body).digest()
    for entry in header.split(","):
        algorithm, _, value = entry.strip().partition("=")
        if algorithm.strip().lower() != "sha-256":
            continue
        try:
            received = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(received, expected)
    return False


def http_date(when: datetime | None = None) -> str:
    """IMF-fixdate, e.g. `Mon, 01 Dec 2025 10:00:00 GMT`."""
    return format_datetime((when or datetime.now(UTC)).astimezone(UTC), usegmt=True)


def parse_signature_header(value: str | None) -> SignatureParams:
    """Parse `keyId="…",algorithm="…",headers="…",signature="…"`; `headers` defaults to `date`."""
    if not value:
        raise SignatureError("No signature")
    params: dict[str, str] = {}
    position = 0
    text = value.strip()
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None:
            raise SignatureError("Malformed signature header")
        params[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
        position = match.end()
    for required in ("keyId", "signature"):
        if not params.get(required):
            raise SignatureError(f"Signature without {required}")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError as exc:
        raise SignatureError("Signature is not base64") from exc
    headers = tuple(params.get("headers", "date").lower().split())
    return SignatureParams(params["keyId"], params.get("algorithm", "hs2019").lower(), headers, signature)


def signing_string(
    signed_headers: tuple[str, ...], method: str, target: str, headers: Mapping[str, str]
) -> str:
    """The text that is signed: one `name: value` line per signed header, in the signed order.
    `headers` must be keyed by lower-case names."""
    lines = []
    for name in signed_headers:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            raise SignatureError(f"Signed header {name} is missing")
    return "\n".join(lines)


def _request_target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not an absolute URL: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.netloc.rpartition("@")[2].lower(), target


def sign_request(
    private_key_pem: str,
    key_id: str,
    method: str,
    url: str,
    body: bytes | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to send with a signed request: Host, Date, Digest (when there is a body) and
    Signature. `Host` is the URL's host with its port when the URL has one, as the receiver sees it."""
    host, target = _request_target(url)
    headers = {"host": host, "date": http_date(now)}
    if body is not None:
        headers["digest"] = digest_header(body)
    signed = ("(request-target)", *headers)
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the instance key is not an RSA key")
    text = signing_string(signed, method, target, headers).encode("utf-8")
    signature = base64.b64encode(key.sign(text, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
    header = f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(signed)}",signature="{signature}"'
    return {
        "Host": headers["host"],
        "Date": headers["date"],
        **({"Digest": headers["digest"]} if body is not None else {}),
        "Signature": header,
    }


def check_date(value: str | None, now: datetime | None = None, max_skew: int = MAX_SKEW_SECONDS) -> None:
    if not value:
        raise SignatureError("No Date header")
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise SignatureError("Unreadable Date header") from exc
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    skew = abs(((now or datetime.now(UTC)) - sent).total_seconds())
    if skew > max_skew:
        raise SignatureError("Date is too far from the current time")


def load_public_key(public_key_pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SignatureError("Unreadable public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("Only RSA keys are accepted")
    return key


def verify_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    public_key_pem: str,
    now: datetime | None = None,
    max_skew: int = MAX_SKEW_SECONDS,
) -> SignatureParams:
    """Verify a received request; raise SignatureError with the reason, or return its parameters.

    `target` is the path with the query string as received; `headers` the received headers (any case);
    `body` the raw body (None or b"" for a GET). The caller must still check that `keyId` belongs to the
    actor the request speaks for.
    """
    received = {name.lower(): value.strip() for name, value in headers.items()}
    params = parse_signature_header(received.get("signature"))
    if params.algorithm not in ACCEPTED_ALGORITHMS:
        raise SignatureError(f"Unsupported algorithm {params.algorithm}")
    if "date" not in params.headers:
        raise SignatureError("Date is not signed")
    check_date(received.get("date"), now, max_skew)
    if body:
        if "digest" not in params.headers:
            raise SignatureError("Digest is not signed")
        if not digest_matches(received.get("digest"), body):
            raise SignatureError("Digest does not match the body")
    key = load_public_key(public_key_pem)
    for text in _candidate_strings(params, method, target, received):
        try:
            key.verify(params.signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return params
    raise SignatureError("Request signature could not be verified")


def _candidate_strings(
    params: SignatureParams, method: str, target: str, received: dict[str, str]
) -> list[str]:
    """The signing string as the draft says, then the forms Gancio signs (§7.4): `host` without the
    port, and for a GET the request-target without its query string."""
    targets = [target]
    if method.upper() in {"GET", "HEAD"} and "?" in target:
        targets.append(target.partition("?")[0])
    hosts = [received.get("host", "")]
    bare = _without_port(hosts[0])
    if bare != hosts[0]:
        hosts.append(bare)
    candidates = []
    for host in hosts:
        variant = {**received, "host": host} if "host" in received else received
        for each in targets:
            candidates.append(signing_string(params.headers, method, each, variant))
    return candidates


def _without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host.partition("]")[0] + "]"
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() else host
