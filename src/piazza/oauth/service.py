"""OAuth rules that are not Authlib's: registration, redirect URI rules, codes, consents, token rows.

Functions take a session first and never see a request. The Authlib grants in `grants.py` call them.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from piazza import json_input
from piazza.accounts.models import User
from piazza.db.base import affected_rows, utcnow
from piazza.errors import NotFound, PiazzaError
from piazza.oauth.models import SELF_CLIENT_ID, AuthorizationCode, Client, Consent, Token
from piazza.oauth.scopes import Scope, check_scopes_known, parse_scopes
from piazza.oauth.tokens import digest, generate_token

CODE_LIFETIME = timedelta(seconds=60)  # design.md: codes live 60 s
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2048  # the size of oauth_codes.redirect_uri
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
# Names an app may not take, besides the instance's own title and host name (consent phishing).
RESERVED_CLIENT_NAMES = ("self", "piazza", "gancio", "admin", "administrator")
# Names an app's name may not even contain ("Piazza Official Login", "<title> app"), besides the
# instance's title and host name. Not "gancio": Gancio's own WordPress plugin registers as "WPGancio".
INSTANCE_NAMES = ("piazza",)
# An instance name shorter than this (as a skeleton) is only matched as whole words: "Smart calendar"
# does not contain an instance called "Art".
MIN_CONTAINED_SKELETON = 5
# Plain http redirects only to the person's own machine (RFC 8252 §7.3, §8.3): browsers resolve
# `localhost` to loopback themselves (W3C Secure Contexts), so a code never crosses a network in clear.
LOOPBACK_REDIRECT_HOSTS = ("127.0.0.1", "::1", "localhost")
# Latin look-alikes from other scripts, and the digit and letter swaps of classic phishing names.
LOOK_ALIKES = str.maketrans(
    {
        **dict(zip("аеорсухјѕԁɡһкмптвԛԝ", "aeopcyxjsdghkmntbqw", strict=True)),  # Cyrillic and others
        **dict(zip("αβεζηικμνορτυχ", "abeznikuvoptux", strict=True)),  # Greek
        **dict.fromkeys("0", "o"),
        **dict.fromkeys("1ilі", "l"),
    }
)


class RegistrationError(PiazzaError):
    """POST /api/client refuses the request: 422 with a JSON `error` (Gancio's shape, §3.1)."""

    status = 422


@dataclass(frozen=True)
class Registered:
    client: Client
    secret: str | None  # None for a public client


# --- the token endpoint's statements ----------------------------------------------------------------
# Every token request runs these, inside SQLite's one write lock (so a millisecond spent here is one no
# other writer gets). They are Core statements built once and run on the session's connection: the same
# SQL as through the ORM, without the identity map, the "evaluate" synchronisation of UPDATEs, the
# unit-of-work flush, and building and cache-keying each statement anew, which together cost several
# times the SQL itself (py-spy, issue 7: the CPU of a refresh's transaction went from about 2.5 to 0.8 ms).

# (`__table__` is typed as any FromClause; these are Tables.)
CLIENTS, TOKENS, CONSENTS, USERS = (cast(Table, model.__table__) for model in (Client, Token, Consent, User))
SELECT_CLIENT = select(CLIENTS).where(CLIENTS.c.id == bindparam("client_id"))
SELECT_ACTIVE_USER_ID = select(USERS.c.id).where(
    USERS.c.id == bindparam("user_id"), USERS.c.is_active.is_(True)
)
SELECT_BY_REFRESH_DIGEST = select(TOKENS).where(TOKENS.c.refresh_digest == bindparam("refresh_digest"))
CLAIM_TOKEN = (
    update(TOKENS)
    .where(TOKENS.c.id == bindparam("token_id"), TOKENS.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
INSERT_TOKEN = insert(TOKENS)
# (An UPDATE's parameters may not be named like its columns: those names are for its SET clause.)
TOUCH_CONSENT = (
    update(CONSENTS)
    .where(CONSENTS.c.user_id == bindparam("b_user_id"), CONSENTS.c.client_id == bindparam("b_client_id"))
    .values(last_used_at=bindparam("now"))
)


# --- redirect URIs ---------------------------------------------------------------------------------


def validate_redirect_uri(uri: str) -> str:
    """Raises RegistrationError unless `uri` is an absolute https URI without a fragment or userinfo,
    an http URI of the loopback interface (`127.0.0.1`, `[::1]`, `localhost`; RFC 8252 §7.3), or a
    private-use scheme of a native app (RFC 8252 §7.1: a reverse domain name like `org.example.app:`).
    A code sent to any other http URI would cross the network in clear (RFC 9700 §2.6)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise RegistrationError(f"Invalid redirect_uri: {uri}") from None
    if not uri or "#" in uri or any(ch.isspace() for ch in uri):
        raise RegistrationError(f"Invalid redirect_uri (no fragment or spaces allowed): {uri}")
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        # A longer one could never be stored with a code: the decision would fail (500 on PostgreSQL).
        raise RegistrationError(f"redirect_uri is too long (at most {MAX_REDIRECT_URI_LENGTH} characters)")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise RegistrationError(f"Invalid redirect_uri (must be absolute, without userinfo): {uri}")
        if scheme == "http" and parts.hostname not in LOOPBACK_REDIRECT_HOSTS:
            raise RegistrationError(
                f"Invalid redirect_uri (use https; http only for 127.0.0.1, [::1] or localhost): {uri}"
            )
    elif "." not in scheme:
        raise RegistrationError(
            f"Invalid redirect_uri (use http(s), or a private-use scheme like org.example.app:/cb): {uri}"
        )
    return uri


def parse_redirect_uris(value: Any) -> list[str]:
    """One URI, several separated by whitespace, or a JSON array (as a list or as a string)."""
    if value is None or value == "":
        raise RegistrationError("redirect_uris required")
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json_input.loads(value)
        except ValueError:
            raise RegistrationError("redirect_uris: invalid JSON array") from None
    uris = value.split() if isinstance(value, str) else value
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise RegistrationError("redirect_uris must be a string or an array of strings")
    if len(uris) > MAX_REDIRECT_URIS:
        raise RegistrationError(f"At most {MAX_REDIRECT_URIS} redirect_uris")
    return [validate_redirect_uri(u.strip()) for u in uris]


def check_redirect_uri(registered: list[str], uri: str) -> bool:
    """Exact string match with a registered URI; for http://127.0.0.1 and http://[::1] any port,
    comparing every other component exactly (RFC 8252 §7.3). `https://good.example.evil.com`,
    userinfo, fragments, other ports and path suffixes all fail."""
    if uri in registered:
        return True
    try:
        asked = urlsplit(uri)
        asked_port = asked.port
    except ValueError:
        return False
    if asked.scheme != "http" or asked.fragment or "@" in asked.netloc:
        return False
    asked_host = asked.netloc.rsplit(":", 1)[0] if asked_port is not None else asked.netloc
    if asked_host not in LOOPBACK_HOSTS:
        return False
    for candidate in registered:
        parts = urlsplit(candidate)
        host = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
        if (parts.scheme, host, parts.path, parts.query) == ("http", asked_host, asked.path, asked.query):
            return True
    return False


# --- clients ---------------------------------------------------------------------------------------


def name_skeleton(name: str) -> str:
    """What a name looks like to a hurried reader: compatibility forms folded, accents, case, spaces
    and punctuation dropped, look-alike letters of other scripts mapped to Latin, `rn` read as `m`."""
    folded = unicodedata.normalize("NFKD", name).casefold().translate(LOOK_ALIKES)
    letters = "".join(ch for ch in folded if ch.isalnum())
    return letters.replace("rn", "m")


def validate_client_name(db: Session, name: str | None, instance_host: str | None = None) -> str:
    """The app name people will read on the consent page. Raises RegistrationError for a missing or
    overlong name, invisible or direction-changing characters (which can make `moc.live` read as
    `evil.com`), and names that read like this instance or its first-party client (RFC 6819 §4.2.2
    and §5.2.4.5: the person must be able to tell who is asking)."""
    name = (name or "").strip()
    if not name:
        raise RegistrationError("client_name required")
    if len(name) > 255:
        raise RegistrationError("client_name is too long")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") for ch in name):
        raise RegistrationError("client_name may not contain control or invisible characters")
    # Imported here: importing instance/ loads its router, which imports oauth/.
    from piazza.instance.settings import get_setting

    title = get_setting(db, "title")
    own_names = [*INSTANCE_NAMES, title if isinstance(title, str) else "", instance_host or ""]
    skeleton = name_skeleton(name)
    if not skeleton:
        raise RegistrationError("client_name needs letters or digits")
    if skeleton in {name_skeleton(r) for r in RESERVED_CLIENT_NAMES} or any(
        _contains_name(name, own) for own in own_names
    ):
        raise RegistrationError("client_name may not be or contain the name of this instance")
    return name


def _contains_name(name: str, own: str) -> bool:
    """Whether `name` reads as containing `own` (the instance's title or host, or "Piazza"): as a run of
    letters anywhere once spaces, punctuation and look-alikes are folded away, or, for a short one, as
    whole words."""
    own_skeleton = name_skeleton(own)
    if not own_skeleton:
        return False
    if own_skeleton == name_skeleton(name):
        return True
    if len(own_skeleton) >= MIN_CONTAINED_SKELETON:
        return own_skeleton in name_skeleton(name)
    words = [name_skeleton(word) for word in re.split(r"[\W_]+", name) if name_skeleton(word)]
    own_words = [name_skeleton(word) for word in re.split(r"[\W_]+", own) if name_skeleton(word)]
    return any(words[i : i + len(own_words)] == own_words for i in range(len(words)))


# How a client authenticates at the token, revocation and introspection endpoints, in the order Authlib
# tries them and the metadata lists them; the first two prove a secret, `none` is a public client's.
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
CLIENT_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]


def register_client(
    db: Session,
    name: str | None,
    redirect_uris: Any,
    scopes: str | None,
    website: str | None,
    instance_host: str | None = None,
    auth_method: str | None = None,
) -> Registered:
    """Create a third-party client. Confidential by default: it gets a secret, shown once. With
    `auth_method="none"` (RFC 7591 §2 `token_endpoint_auth_method`) a public client for native and
    browser apps that cannot keep a secret: no secret, and PKCE is then required at /authorize.
    Raises RegistrationError for a missing name, a bad redirect URI, scope or auth method."""
    if auth_method not in (None, "", *CLIENT_AUTH_METHODS):
        raise RegistrationError("Invalid token_endpoint_auth_method")
    scope_set = parse_scopes(scopes) if scopes and scopes.strip() else frozenset({Scope.EVENT_WRITE.value})
    if not check_scopes_known(scope_set):
        raise RegistrationError("Invalid scopes")
    name = validate_client_name(db, name, instance_host)
    uris = parse_redirect_uris(redirect_uris)
    website = (website or "").strip() or None
    if website is not None:
        parts = urlsplit(website)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(website) > 2048:
            raise RegistrationError("website must be an http(s) URL")
    secret = None if auth_method == "none" else generate_token()
    client = Client(
        id=generate_token(),
        name=name,
        secret_digest=digest(secret) if secret else None,
        redirect_uris=uris,
        scopes=" ".join(sorted(scope_set)),
        website=website,
    )
    db.add(client)
    db.flush()
    return Registered(client, secret)


def find_client(db: Session, client_id: str) -> Row[Any] | None:
    """The client's columns (read-only), or None."""
    if not client_id or len(client_id) > 40:
        return None
    return db.connection().execute(SELECT_CLIENT, {"client_id": client_id}).one_or_none()


def get_client(db: Session, client_id: str) -> Row[Any]:
    """Raises NotFound (Gancio's text)."""
    client = find_client(db, client_id)
    if client is None or client.id == SELF_CLIENT_ID:
        raise NotFound("Not found!")
    return client


# --- consents --------------------------------------------------------------------------------------


def check_consent(db: Session, user_id: int, client_id: str, scope: str) -> bool:
    """Whether the person already approved this client for (at least) these scopes."""
    consent = db.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    return consent is not None and parse_scopes(scope) <= parse_scopes(consent.scope)


def save_consent(db: Session, user_id: int, client_id: str, scope: str) -> None:
    consent = db.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    if consent is None:
        db.add(Consent(user_id=user_id, client_id=client_id, scope=scope, approved_at=utcnow()))
    else:
        consent.scope = " ".join(sorted(parse_scopes(consent.scope) | parse_scopes(scope)))
        consent.approved_at = utcnow()
    db.flush()


def touch_consent(db: Session, user_id: int, client_id: str) -> None:
    params = {"b_user_id": user_id, "b_client_id": client_id, "now": utcnow()}
    db.connection().execute(TOUCH_CONSENT, params)


def list_authorized_apps(db: Session, user_id: int) -> list[dict[str, Any]]:
    """The apps a person approved: never secrets, never token values."""
    rows = db.execute(
        select(
            Client.id, Client.name, Client.website, Consent.scope, Consent.approved_at, Consent.last_used_at
        )
        .join(Client, Client.id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.approved_at)
    ).all()
    return [
        {
            "client_id": row.id,
            "name": row.name,
            "website": row.website,
            "scopes": row.scope,
            "approved_at": int(row.approved_at.timestamp()),
            "last_used_at": int(row.last_used_at.timestamp()) if row.last_used_at else None,
        }
        for row in rows
    ]


def revoke_app(db: Session, user_id: int, client_id: str) -> int:
    """Forget the person's approval of a client and revoke every token of it. Raises NotFound."""
    consent = db.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    if consent is None or client_id == SELF_CLIENT_ID:
        raise NotFound("Not found!")
    db.delete(consent)
    return revoke_tokens(db, Token.user_id == user_id, Token.client_id == client_id)


# --- codes -----------------------------------------------------------------------------------------


def create_code(
    db: Session,
    code: str,
    *,
    client_id: str,
    user_id: int,
    redirect_uri: str,
    redirect_uri_sent: bool,
    scope: str,
    code_challenge: str | None,
) -> None:
    db.add(
        AuthorizationCode(
            code_digest=digest(code),
            client_id=client_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=redirect_uri_sent,
            scope=scope,
            code_challenge=code_challenge,
            expires_at=utcnow() + CODE_LIFETIME,
        )
    )
    db.flush()


def redeem_code(db: Session, code: str, client_id: str) -> AuthorizationCode | None:
    """The live code, now marked used; None when unknown, another client's, expired or used.

    Marking it used is one conditional UPDATE, so of two nodes redeeming the same code only one wins.
    A code presented a second time revokes every token issued from it (RFC 6749 §4.1.2).
    """
    row = db.scalar(select(AuthorizationCode).where(AuthorizationCode.code_digest == digest(code)))
    if row is None or row.client_id != client_id:
        return None
    now = utcnow()
    claimed = affected_rows(
        db.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        )
    )
    if claimed != 1:
        families = select(Token.family_id).where(Token.code_id == row.id).scalar_subquery()
        revoke_tokens(db, Token.family_id.in_(families))
        return None
    if row.expires_at <= now:
        return None
    return row


# --- tokens ----------------------------------------------------------------------------------------


def revoke_tokens(db: Session, *where: Any) -> int:
    return affected_rows(
        db.execute(update(Token).where(Token.revoked_at.is_(None), *where).values(revoked_at=utcnow()))
    )


def revoke_family(db: Session, family_id: str) -> int:
    return revoke_tokens(db, Token.family_id == family_id)


def find_refresh_token(db: Session, value: str) -> Row[Any] | None:
    """The columns (read-only) of the token row whose refresh token is `value`, or None."""
    params = {"refresh_digest": digest(value)}
    return db.connection().execute(SELECT_BY_REFRESH_DIGEST, params).one_or_none()


def claim_refresh_token(db: Session, token_id: int) -> bool:
    """Revoke a live token row for its rotation; False when it was already revoked. One conditional
    UPDATE: of two concurrent refreshes (two nodes even) with the same token only one wins."""
    claimed = db.connection().execute(CLAIM_TOKEN, {"token_id": token_id, "now": utcnow()})
    return claimed.rowcount == 1


def create_token(db: Session, **values: Any) -> None:
    """Insert a token row (digests only; `created_at` comes from the column default)."""
    db.connection().execute(INSERT_TOKEN, values)


def find_token(db: Session, value: str, hint: str | None = None) -> Token | None:
    """The token row whose access or refresh token is `value` (the hint decides which is tried first)."""
    value_digest = digest(value)
    columns = [Token.access_digest, Token.refresh_digest]
    if hint == "refresh_token":
        columns.reverse()
    for column in columns:
        row = db.scalar(select(Token).where(column == value_digest))
        if row is not None:
            return row
    return None


def find_active_user(db: Session, user_id: int) -> User | None:
    user = db.get(User, user_id)
    return user if user is not None and user.is_active else None


def find_active_user_id(db: Session, user_id: int) -> Row[Any] | None:
    """A row with just the `id` of an active user, or None: all a token grant needs of its user."""
    return db.connection().execute(SELECT_ACTIVE_USER_ID, {"user_id": user_id}).one_or_none()


def login_fingerprint(user: User) -> str:
    """A short digest of the password hash and the session generation, kept in the login session: a new
    password (set_password, a reset) or a logout (end_login_sessions) changes it, which ends every
    session opened before, every copy of its cookie included."""
    return digest(f"{user.session_generation}:{user.password or ''}")[:16]


def find_logged_in_user(db: Session, user_id: int | None, fingerprint: str | None) -> User | None:
    """The active user of a login session, or None when the session is absent or outdated."""
    if user_id is None or not fingerprint:
        return None
    user = find_active_user(db, user_id)
    if user is None or not hmac.compare_digest(login_fingerprint(user), fingerprint):
        return None
    return user


def end_login_sessions(db: Session, user_id: int | None, fingerprint: str | None) -> None:
    """Logout: the session's user gets a new session generation, so no copy of this session's cookie
    (nor of any other session of theirs) is accepted any more. A session already outdated changes
    nothing."""
    user = find_logged_in_user(db, user_id, fingerprint)
    if user is not None:
        user.session_generation += 1
