"""Every rate limit of Piazza, in one table.

Two kinds of rule:
- `Counts.EVERY` counts each request, like Gancio's SPAM limiter (gancio-api.md §0.7: 6 requests per
  5 minutes per client on registration, recovery, client registration, events and moderation messages).
- `Counts.FAILURES` counts only requests whose response is a failure (a wrong password, a failed client
  authentication), so a person who logs in correctly is never slowed down, while guessing is.

A request is refused with 429 when any of its rules is over its limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

MINUTE = 60


class Counts(StrEnum):
    EVERY = "every request"
    FAILURES = "failed requests"


class KeyBy(StrEnum):
    IP = "client address"
    # An app's token. The header is digested as a whole and never parsed or looked up here: a made-up
    # header only starts a fresh count for a request the app will then refuse with 401.
    AUTHORIZATION = "Authorization header"
    # A form field of an application/x-www-form-urlencoded body (the user name of a login).
    FORM_FIELD = "form field"


class Callers(StrEnum):
    ANY = "anyone"
    ANONYMOUS = "requests without an Authorization header"
    AUTHENTICATED = "requests with an Authorization header"


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
    name: str  # unique: it names the counters
    method: str
    path: str  # a path, where `{name}` matches one segment
    limit: int
    window: int  # seconds
    counts: Counts = Counts.EVERY
    key_by: KeyBy = KeyBy.IP
    form_field: str = ""  # for KeyBy.FORM_FIELD
    callers: Callers = Callers.ANY
    is_failure: FailureTest | None = None  # for Counts.FAILURES
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.counts is Counts.FAILURES) != (self.is_failure is not None):
            raise ValueError(f"rule {self.name}: a failure test goes with Counts.FAILURES, and only there")
        if (self.key_by is KeyBy.FORM_FIELD) != bool(self.form_field):
            raise ValueError(f"rule {self.name}: form_field goes with KeyBy.FORM_FIELD, and only there")
        regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path))
        # A trailing slash is tolerated, as Gancio (Express) does; the router redirects it anyway.
        object.__setattr__(self, "pattern", re.compile(regex + "/?"))

    @property
    def policy(self) -> str:
        """The draft-6 `RateLimit-Policy` value, as Gancio sends it: `6;w=300`."""
        return f"{self.limit};w={self.window}"


SPAM_LIMIT = 6
SPAM_WINDOW = 5 * MINUTE
GEOCODING_LIMIT = 60

RULES: tuple[Rule, ...] = (
    # Gancio's SPAM limiter (§0.7), per client address.
    Rule("client-registration", "POST", "/api/client", SPAM_LIMIT, SPAM_WINDOW),
    Rule("user-registration", "POST", "/api/user/register", SPAM_LIMIT, SPAM_WINDOW),
    Rule("password-recovery", "POST", "/api/user/recover", SPAM_LIMIT, SPAM_WINDOW),
    Rule("password-reset", "POST", "/api/user/recover_password", SPAM_LIMIT, SPAM_WINDOW),
    Rule("moderation-message", "POST", "/api/event/messages/{event_id}", SPAM_LIMIT, SPAM_WINDOW),
    # The geocoding proxy makes the server a client of the provider, whose usage policy counts our
    # requests: 60 lookups per 5 minutes per address is plenty for someone typing an address.
    Rule("geocoding", "GET", "/api/placeOSM/{provider}/{query}", GEOCODING_LIMIT, 5 * MINUTE),
    # New events. Gancio applies 6 per 5 minutes to everyone, which stops an app importing a season of
    # events. Anonymous posters keep Gancio's limit per address; an app or person sending a token gets
    # 300 per 5 minutes (one a second) per token; and requests whose token is refused count against
    # the address, so inventing tokens to get fresh counts does not pay.
    Rule("anonymous-event", "POST", "/api/event", SPAM_LIMIT, SPAM_WINDOW, callers=Callers.ANONYMOUS),
    Rule(
        "token-event",
        "POST",
        "/api/event",
        300,
        5 * MINUTE,
        key_by=KeyBy.AUTHORIZATION,
        callers=Callers.AUTHENTICATED,
    ),
    Rule(
        "refused-token-event",
        "POST",
        "/api/event",
        SPAM_LIMIT,
        SPAM_WINDOW,
        counts=Counts.FAILURES,
        callers=Callers.AUTHENTICATED,
        is_failure=token_refused,
    ),
    # Failed logins (design.md: "failed logins and client authentications are rate limited"), per
    # address and per user name: the address limit slows one guesser, the user-name limit slows many
    # guessers sharing out one account. The user-name limit is generous, because anyone can spend it
    # to lock a person out for a quarter of an hour.
    Rule(
        "oauth-login-address",
        "POST",
        "/oauth/login",
        10,
        5 * MINUTE,
        counts=Counts.FAILURES,
        is_failure=oauth_failure,
    ),
    Rule(
        "oauth-login-user",
        "POST",
        "/oauth/login",
        10,
        15 * MINUTE,
        counts=Counts.FAILURES,
        key_by=KeyBy.FORM_FIELD,
        form_field="username",
        is_failure=oauth_failure,
    ),
    Rule(
        "web-login-address", "POST", "/login", 10, 5 * MINUTE, counts=Counts.FAILURES, is_failure=page_failure
    ),
    Rule(
        "web-login-user",
        "POST",
        "/login",
        10,
        15 * MINUTE,
        counts=Counts.FAILURES,
        key_by=KeyBy.FORM_FIELD,
        form_field="email",
        is_failure=page_failure,
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
