"""Every rate limit of Piazza, in one table.

Kinds of rule:
- `Counts.EVERY` counts each request, like Gancio's SPAM limiter (gancio-api.md §0.7: 6 requests per
  5 minutes per client on registration, recovery, client registration, events and moderation messages).
- `Counts.FAILURES` counts only requests whose response is a failure (a wrong password, a failed client
  authentication), so a person who logs in correctly is never slowed down, while guessing is. The count
  is reserved before the request runs, so parallel guesses cannot pass the limit together.
- `Counts.FAILURES_AFTERWARDS`: failures counted once they happened (refused 160-bit tokens only).

A request is refused with 429 when any of its rules is over its limit. Counts are kept in sliding
windows (storage.py). Rules that name the same `counter` count together: a page form and the API route
that does the same thing (`/register` and `POST /api/user/register`) share one budget, so using both
does not double it. Every POST page route has a rule or is on the list in
tests/limits/test_page_routes.py, which reads the routes from the app.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

MINUTE = 60


class Counts(StrEnum):
    EVERY = "every request"
    # A count is reserved before the request runs and given back once its answer shows no failure, so a
    # burst of parallel attempts never gets more of them checked than the limit.
    FAILURES = "failed requests"
    # Counted once the answer shows a failure, never reserved: for credentials nobody can guess (160-bit
    # tokens), where a burst gains nothing and reserving would cap how many requests an app may have in
    # flight at once.
    FAILURES_AFTERWARDS = "failed requests, counted afterwards"


class KeyBy(StrEnum):
    IP = "client address"
    # An app's Bearer token (digested, never looked up here: a made-up token only starts a fresh count
    # for a request the app then refuses with 401, and refused tokens count against the address).
    TOKEN = "Bearer token"  # noqa: S105  (a description, not a secret)
    # The user id of a page session (the signed session cookie, already checked by SessionMiddleware).
    SESSION_USER = "logged-in user"
    # A form field of an application/x-www-form-urlencoded body (the user name of a login).
    FORM_FIELD = "form field"


class Callers(StrEnum):
    """Who a rule applies to, by what the request really is on its route: API routes know their caller
    by an `Authorization: Bearer` token only (oauth/bearer.py), pages by their session only."""

    ANY = "anyone"
    ANONYMOUS = "API requests without a Bearer token"  # other schemes included: the API refuses them
    TOKEN = "API requests with a Bearer token"  # noqa: S105
    VISITOR = "page requests without a logged-in session"
    MEMBER = "page requests of a logged-in session"


FailureTest = Callable[[int, bytes], bool]


def oauth_failure(status: int, body: bytes) -> bool:
    """A failed client authentication (401, or 400 `invalid_client` when the secret came in the body:
    RFC 6749 §5.2 allows either), refused credentials (403, Gancio's status for a wrong password), or
    `invalid_grant` (400: a bad password, code or refresh token)."""
    return status in (401, 403) or (
        status == 400 and (b'"invalid_grant"' in body or b'"invalid_client"' in body)
    )


def page_failure(status: int, body: bytes) -> bool:
    """The web login page answers 400, 401 or 403 when it re-renders the form with an error."""
    return status in (400, 401, 403)


def token_refused(status: int, body: bytes) -> bool:
    return status == 401


@dataclass(frozen=True)
class Rule:
    name: str  # unique
    method: str
    path: str  # a path, where `{name}` matches one segment
    limit: int
    window: int  # seconds
    counts: Counts = Counts.EVERY
    key_by: KeyBy = KeyBy.IP
    form_field: str = ""  # for KeyBy.FORM_FIELD
    callers: Callers = Callers.ANY
    is_failure: FailureTest | None = None  # for Counts.FAILURES and FAILURES_AFTERWARDS
    counter: str = ""  # names the counters; rules with the same counter count together (default: name)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.counts is Counts.EVERY) != (self.is_failure is None):
            raise ValueError(f"rule {self.name}: a failure test goes with the failure counts, and only there")
        if (self.key_by is KeyBy.FORM_FIELD) != bool(self.form_field):
            raise ValueError(f"rule {self.name}: form_field goes with KeyBy.FORM_FIELD, and only there")
        if self.key_by is KeyBy.TOKEN and self.callers is not Callers.TOKEN:
            raise ValueError(f"rule {self.name}: KeyBy.TOKEN needs Callers.TOKEN")
        if self.key_by is KeyBy.SESSION_USER and self.callers is not Callers.MEMBER:
            raise ValueError(f"rule {self.name}: KeyBy.SESSION_USER needs Callers.MEMBER")
        if not self.counter:
            object.__setattr__(self, "counter", self.name)
        regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path))
        # A trailing slash is tolerated, as Gancio (Express) does; the router redirects it anyway.
        object.__setattr__(self, "pattern", re.compile(regex + "/?"))

    @property
    def policy(self) -> str:
        """The draft-6 `RateLimit-Policy` value, as Gancio sends it: `6;w=300`."""
        return f"{self.limit};w={self.window}"


SPAM_LIMIT = 6
SPAM_WINDOW = 5 * MINUTE
LOGIN_FAILURES = 10
# Event writes of a person or an app (each may carry an image to decode): one a second on average.
TOKEN_EVENT_WRITES = 300
# Event writes of a person on the pages, per user: plenty for typing them in by hand.
PAGE_EVENT_WRITES = 60
GEOCODING_LIMIT = 60


def _spam(
    name: str, path: str, *, callers: Callers = Callers.ANY, counter: str = "", method: str = "POST"
) -> Rule:
    return Rule(name, method, path, SPAM_LIMIT, SPAM_WINDOW, callers=callers, counter=counter)


RULES: tuple[Rule, ...] = (
    # Gancio's SPAM limiter (§0.7), per client address, and the page forms that do the same.
    _spam("client-registration", "/api/client"),
    _spam("user-registration", "/api/user/register"),
    _spam("web-registration", "/register", counter="user-registration"),
    _spam("password-recovery", "/api/user/recover"),
    _spam("web-recovery", "/recover", counter="password-recovery"),
    _spam("password-reset", "/api/user/recover_password"),
    # The pages that set a password with a recovery or invitation code (the API sets both with
    # recover_password).
    _spam("web-password-reset", "/recover/{code}", counter="password-reset"),
    _spam("web-invitation", "/user_confirm/{code}", counter="password-reset"),
    _spam("moderation-message", "/api/event/messages/{event_id}"),
    # The geocoding proxy makes the server a client of the provider, whose usage policy counts our
    # requests: 60 lookups per 5 minutes per address is plenty for someone typing an address.
    Rule("geocoding", "GET", "/api/placeOSM/{provider}/{query}", GEOCODING_LIMIT, 5 * MINUTE),
    # New events. Gancio applies 6 per 5 minutes to everyone, which stops an app importing a season of
    # events. Anonymous posters keep Gancio's limit per address (on the API and on the page's form
    # together); an app or person sending a token gets 300 per 5 minutes (one a second) per token, a
    # person on the pages 60 per 5 minutes; and requests whose token is refused count against the
    # address, so inventing tokens to get fresh counts does not pay. A request with an Authorization
    # header of another scheme is anonymous here, and the API answers it 401.
    _spam("anonymous-event", "/api/event", callers=Callers.ANONYMOUS),
    _spam("web-anonymous-event", "/add", callers=Callers.VISITOR, counter="anonymous-event"),
    Rule(
        "token-event",
        "POST",
        "/api/event",
        TOKEN_EVENT_WRITES,
        5 * MINUTE,
        key_by=KeyBy.TOKEN,
        callers=Callers.TOKEN,
    ),
    Rule(
        "refused-token-event",
        "POST",
        "/api/event",
        SPAM_LIMIT,
        SPAM_WINDOW,
        counts=Counts.FAILURES_AFTERWARDS,
        callers=Callers.TOKEN,
        is_failure=token_refused,
    ),
    # Event updates (which may carry an image too): per token as for new events; anonymous updates,
    # which the API and the edit form refuse, per address.
    Rule(
        "token-event-update",
        "PUT",
        "/api/event",
        TOKEN_EVENT_WRITES,
        5 * MINUTE,
        key_by=KeyBy.TOKEN,
        callers=Callers.TOKEN,
    ),
    Rule(
        "refused-token-event-update",
        "PUT",
        "/api/event",
        SPAM_LIMIT,
        SPAM_WINDOW,
        counts=Counts.FAILURES_AFTERWARDS,
        callers=Callers.TOKEN,
        is_failure=token_refused,
    ),
    _spam("anonymous-event-update", "/api/event", method="PUT", callers=Callers.ANONYMOUS),
    _spam(
        "web-anonymous-event-edit", "/event/edit", callers=Callers.VISITOR, counter="anonymous-event-update"
    ),
    # A person's new events and edits on the pages, together.
    Rule(
        "web-event-add",
        "POST",
        "/add",
        PAGE_EVENT_WRITES,
        5 * MINUTE,
        key_by=KeyBy.SESSION_USER,
        callers=Callers.MEMBER,
        counter="web-event-write",
    ),
    Rule(
        "web-event-edit",
        "POST",
        "/event/edit",
        PAGE_EVENT_WRITES,
        5 * MINUTE,
        key_by=KeyBy.SESSION_USER,
        callers=Callers.MEMBER,
        counter="web-event-write",
    ),
    # Failed logins (design.md: "failed logins and client authentications are rate limited"), per
    # address and per user name, on the API and the login page together: the address limit slows one
    # guesser, the user-name limit slows many guessers sharing out one account. The user-name limit is
    # generous, because anyone can spend it to lock a person out for a quarter of an hour.
    Rule(
        "oauth-login-address",
        "POST",
        "/oauth/login",
        LOGIN_FAILURES,
        5 * MINUTE,
        counts=Counts.FAILURES,
        is_failure=oauth_failure,
    ),
    Rule(
        "oauth-login-user",
        "POST",
        "/oauth/login",
        LOGIN_FAILURES,
        15 * MINUTE,
        counts=Counts.FAILURES,
        key_by=KeyBy.FORM_FIELD,
        form_field="username",
        is_failure=oauth_failure,
    ),
    Rule(
        "web-login-address",
        "POST",
        "/login",
        LOGIN_FAILURES,
        5 * MINUTE,
        counts=Counts.FAILURES,
        is_failure=page_failure,
        counter="oauth-login-address",
    ),
    Rule(
        "web-login-user",
        "POST",
        "/login",
        LOGIN_FAILURES,
        15 * MINUTE,
        counts=Counts.FAILURES,
        key_by=KeyBy.FORM_FIELD,
        form_field="email",
        is_failure=page_failure,
        counter="oauth-login-user",
    ),
    # Failed client authentications and bad grants at the token endpoint, per address. Client secrets
    # are 160 random bits, so a per-client count would add no safety and would let anyone lock an app out.
    Rule(
        "token-endpoint-address",
        "POST",
        "/oauth/token",
        10,
        5 * MINUTE,
        counts=Counts.FAILURES,
        is_failure=oauth_failure,
    ),
    # Revocation and introspection authenticate the client too: without these, they would be the
    # place to guess client secrets without limit (RFC 6819 §4.3.5).
    Rule(
        "revocation-address",
        "POST",
        "/oauth/revoke",
        10,
        5 * MINUTE,
        counts=Counts.FAILURES,
        is_failure=oauth_failure,
    ),
    Rule(
        "introspection-address",
        "POST",
        "/oauth/introspect",
        10,
        5 * MINUTE,
        counts=Counts.FAILURES,
        is_failure=oauth_failure,
    ),
)
