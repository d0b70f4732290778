"""The geocoding proxy (gancio-api.md §2.11): `GET /api/placeOSM/{Nominatim,Photon}/{query}`.

The place form asks the server, which asks the provider named in the setting `geocoding_provider` (one
URL for both kinds, as in Gancio) and answers the provider's JSON unchanged. The server fetches only that
configured URL, never one from the request: the host is resolved and checked like an `image_url` (no
private, loopback or link-local address unless `allow_private_fetch`), the connection goes to the checked
address, redirects are refused, and time and size are capped. Answers are cached in memory, bounded and
for a day, per query; outbound requests are spaced out (Nominatim's usage policy asks for at most one a
second) and carry a User-Agent naming the instance and its URL, as that policy also asks.
"""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from sqlalchemy.orm import Session

from piazza import __version__
from piazza.errors import Forbidden, Invalid, NotFound, PiazzaError
from piazza.events.images import resolve_fetchable
from piazza.instance.settings import read_settings

PROVIDERS = ("Nominatim", "Photon")
SETTING_KEYS = ("allow_geolocation", "geocoding_provider", "geocoding_countrycodes", "title")
MAX_QUERY_LENGTH = 200
RESULT_LIMIT = 3
FETCH_TIMEOUT_SECONDS = 8.0
MAX_ANSWER_BYTES = 1024 * 1024
CACHE_TTL_SECONDS = 24 * 3600
CACHE_ENTRIES = 2000
MIN_INTERVAL_SECONDS = 1.0  # between two requests to the provider
MAX_WAITING = 20  # requests queued for the provider before more are turned away
MAX_QUEUE_SECONDS = 15.0  # how long a request waits for its turn before it is turned away
FIELD = "geocoding_provider"


class ProviderFailed(PiazzaError):
    status = 502
    message = "geocoding provider failed"


class ProviderTimedOut(PiazzaError):
    status = 504
    message = "geocoding provider timed out"


class ProviderBusy(PiazzaError):
    status = 503
    message = "geocoding provider busy, try again"


@dataclass(frozen=True)
class GeocodingRequest:
    provider_url: str
    params: tuple[tuple[str, str], ...]
    user_agent: str

    @property
    def url(self) -> str:
        return f"{self.provider_url}?{urlencode(self.params)}"


def _country_codes(value: Any) -> str:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ""
    return ",".join(code.strip() for code in value if isinstance(code, str) and code.strip())


def build_request(db: Session, base_url: str, provider: str, query: str) -> GeocodingRequest:
    """What to ask the provider for `query`. Raises NotFound (unknown provider kind), Forbidden
    (`allow_geolocation` off, as Gancio), Invalid (an empty or overlong query, a provider URL that is
    not http(s))."""
    if provider not in PROVIDERS:
        raise NotFound()
    settings = read_settings(db, SETTING_KEYS)
    if settings["allow_geolocation"] is not True:
        raise Forbidden()
    query = query.strip()
    if not query or len(query) > MAX_QUERY_LENGTH:
        raise Invalid(f"the query must have 1 to {MAX_QUERY_LENGTH} characters", field="query")
    provider_url = settings["geocoding_provider"]
    if not isinstance(provider_url, str) or urlsplit(provider_url).scheme not in ("http", "https"):
        raise ProviderFailed("geocoding provider is not an http(s) URL")
    params: list[tuple[str, str]] = [("q", query), ("limit", str(RESULT_LIMIT))]
    if provider == "Nominatim":
        params = [
            ("countrycodes", _country_codes(settings["geocoding_countrycodes"])),
            *params,
            ("format", "json"),
            ("addressdetails", "1"),
            ("namedetails", "1"),
        ]
    return GeocodingRequest(provider_url, tuple(params), user_agent(settings["title"], base_url))


def user_agent(title: Any, base_url: str) -> str:
    """`Piazza/<version> (<title>; <base URL>)`. A header is ASCII without control characters, so the
    title is folded to ASCII (`Città` → `Citta`) and what cannot be folded is dropped."""
    name = unicodedata.normalize("NFKD", title if isinstance(title, str) else "")
    name = "".join(" " if c.isspace() else c for c in name)
    name = "".join(c for c in name if " " <= c <= "~" and c not in "();")
    name = " ".join(name.split())[:80] or "Piazza"
    return f"Piazza/{__version__} ({name}; {base_url})"


class Geocoder:
    """One per app: the answer cache and the spacing of outbound requests."""

    def __init__(
        self,
        *,
        allow_private: bool,
        ttl: float = CACHE_TTL_SECONDS,
        entries: int = CACHE_ENTRIES,
        interval: float = MIN_INTERVAL_SECONDS,
        timeout: float = FETCH_TIMEOUT_SECONDS,
        queue_wait: float = MAX_QUEUE_SECONDS,
    ) -> None:
        self.allow_private = allow_private
        self.ttl, self.entries, self.interval, self.timeout = ttl, entries, interval, timeout
        self.queue_wait = queue_wait
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = asyncio.Lock()
        self._next_slot = 0.0
        self._waiting = 0
        self.fetches = 0  # requests sent to the provider (for tests and the record)

    def cached(self, key: str) -> Any | None:
        found = self._cache.get(key)
        if found is None:
            return None
        stored_at, answer = found
        if time.monotonic() - stored_at > self.ttl:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return answer

    def _store(self, key: str, answer: Any) -> None:
        self._cache[key] = (time.monotonic(), answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self.entries:
            self._cache.popitem(last=False)

    async def lookup(self, request: GeocodingRequest) -> Any:
        """The provider's JSON for `request`, from the cache when fresh. Raises ProviderFailed (502),
        ProviderBusy (503), ProviderTimedOut (504)."""
        key = request.url
        answer = self.cached(key)
        if answer is not None:
            return answer
        if self._waiting >= MAX_WAITING:
            raise ProviderBusy()
        self._waiting += 1
        try:
            try:
                async with asyncio.timeout(self.queue_wait):
                    await self._lock.acquire()
            except TimeoutError:
                raise ProviderBusy() from None
            try:
                answer = self.cached(key)  # a request queued before us may have fetched it
                if answer is not None:
                    return answer
                delay = self._next_slot - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    answer = await self._fetch(request)
                finally:
                    self._next_slot = time.monotonic() + self.interval
            finally:
                self._lock.release()
        finally:
            self._waiting -= 1
        self._store(key, answer)
        return answer

    async def _fetch(self, request: GeocodingRequest) -> Any:
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._download(request)
        except TimeoutError:
            raise ProviderTimedOut() from None
        try:
            return json.loads(body)
        except ValueError:
            raise ProviderFailed("geocoding provider answered no JSON") from None

    async def _download(self, request: GeocodingRequest) -> bytes:
        parts = urlsplit(request.url)
        if not parts.hostname:
            raise ProviderFailed("geocoding provider is not an http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = await resolve_fetchable(parts.hostname, port, self.allow_private, FIELD)
        except ValueError:
            raise ProviderFailed("geocoding provider has a bad port") from None
        except Invalid as refused:
            raise ProviderFailed(refused.message) from None
        host_in_url = f"[{address}]" if ":" in address else address
        pinned = parts._replace(netloc=f"{host_in_url}:{port}").geturl()
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Accept": "application/json",
            "User-Agent": request.user_agent,
        }
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            outgoing = client.build_request(
                "GET", pinned, headers=headers, extensions={"sni_hostname": parts.hostname}
            )
            try:
                response = await client.send(outgoing, stream=True)
            except httpx.TimeoutException:
                raise ProviderTimedOut() from None
            except httpx.HTTPError:
                raise ProviderFailed() from None
            try:
                if response.status_code != 200:
                    raise ProviderFailed(f"geocoding provider answered {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                    raise ProviderFailed("geocoding answer too large")
                body = bytearray()
                try:
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_ANSWER_BYTES:
                            raise ProviderFailed("geocoding answer too large")
                except httpx.TimeoutException:
                    raise ProviderTimedOut() from None
                except httpx.HTTPError:
                    raise ProviderFailed() from None
                return bytes(body)
            finally:
                await response.aclose()
