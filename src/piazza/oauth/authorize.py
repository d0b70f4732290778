"""The authorization endpoint's steps (RFC 6749 §4.1.1-4.1.2), free of pages: web/ renders the results.

Stateless across nodes: the consent form carries the validated request parameters, and the decision
validates them again (plus the CSRF token and the logged-in user) before a code is issued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy.orm import Session
from starlette.responses import Response

from piazza.accounts.models import User
from piazza.config import Config
from piazza.oauth.scopes import SCOPE_DESCRIPTIONS, Scope
from piazza.oauth.server import OAuthRequest, PiazzaAuthorizationServer
from piazza.oauth.service import check_consent, find_logged_in_user, save_consent

# The request parameters the consent form carries back to the decision.
AUTHORIZATION_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


def check_request_characters(request: OAuthRequest) -> bool:
    """Whether the parameters Authlib quotes in error descriptions stay within the characters RFC 6749
    allows there (§5.2: %x20-21 / %x23-5B / %x5D-7E). A redirect URI cannot contain others unencoded
    (RFC 3986), nor can a response type (Appendix A.3); without this check Authlib's error would be a 500."""
    for name in ("response_type", "redirect_uri"):
        value = request.payload.data.get(name) or ""
        if any(not (0x20 <= ord(ch) <= 0x7E) or ch in '"\\' for ch in value):
            return False
    return True


def site_of(uri: str) -> str:
    """The host (and port) of a URI, or the private-use scheme of a native app (`org.example.app:`)."""
    parts = urlsplit(uri)
    return parts.netloc.lower() if parts.netloc else f"{parts.scheme}:"


@dataclass
class Outcome:
    """One of: `response` (a redirect to the client), `error` (an error page, never a redirect: the
    client or its redirect URI could not be trusted), or `consent` (ask the person)."""

    response: Response | None = None
    error: str | None = None
    client_name: str = ""
    client_website: str | None = None
    redirect_uri: str = ""
    redirect_host: str = ""  # shown large on the consent page: where the code will go
    website_host: str | None = None
    scopes: list[tuple[str, str]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    logged_in: bool = False  # whether the session's person was found (active, current password)
    # With `error`: the client's error redirect, offered as a link the person may follow, never sent as
    # an automatic redirect (RFC 9700 §4.11.2).
    return_to: str | None = None


def _error_outcome(server: PiazzaAuthorizationServer, request: OAuthRequest, error: OAuth2Error) -> Outcome:
    # RFC 9700 §4.11.2: registration is open, so a redirect URI proves nothing about who owns it; an
    # automatic error redirect (a bad scope, response type or PKCE method, no login or consent needed)
    # would let anyone use Piazza as an open redirector to their phishing page. The error page shows
    # the error and offers the client's error redirect as a link instead (RFC 6749 §4.1.2.1's answer).
    return_to = None
    if error.redirect_uri:
        return_to = server.handle_error_response(request, error).headers["location"]
    return Outcome(error=error.description or error.error, return_to=return_to)


def start_authorization(
    db: Session, config: Config, request: OAuthRequest, user_id: int | None, fingerprint: str | None
) -> Outcome:
    """Validate a GET /authorize request. Skips consent when the person already approved the client
    for these scopes (design.md); otherwise returns what the consent page shows."""
    if not check_request_characters(request):
        return Outcome(error="The request has characters that no client or redirect URI may contain.")
    server = PiazzaAuthorizationServer(db, config, "authorize")
    user = find_logged_in_user(db, user_id, fingerprint)
    try:
        grant = server.get_consent_grant(request, end_user=user)
    except OAuth2Error as error:
        return _error_outcome(server, request, error)
    client = grant.request.client
    if user is not None and check_consent(db, user.id, client.id, grant.request.scope):
        return Outcome(response=server.create_authorization_response(request, grant_user=user, grant=grant))
    return Outcome(
        logged_in=user is not None,
        client_name=client.row.name,
        client_website=client.row.website,
        redirect_uri=grant.redirect_uri,
        # Consent phishing (RFC 6819 §4.2.2, §5.2.4.5): any name can be registered, so the page shows
        # where the code really goes, and the app's website host, side by side.
        redirect_host=site_of(grant.redirect_uri),
        website_host=site_of(client.row.website) if client.row.website else None,
        scopes=[
            (scope, SCOPE_DESCRIPTIONS.get(Scope(scope), scope)) for scope in grant.request.scope.split()
        ],
        params={k: v for k in AUTHORIZATION_PARAMS if (v := request.payload.data.get(k))},
    )


def decide_authorization(
    db: Session, config: Config, request: OAuthRequest, user_id: int | None, fingerprint: str, approved: bool
) -> Outcome:
    """The person's decision on the consent page: validated again from scratch, then a code (approve)
    or an `access_denied` redirect (deny)."""
    if not check_request_characters(request):
        return Outcome(error="The request has characters that no client or redirect URI may contain.")
    server = PiazzaAuthorizationServer(db, config, "authorize")
    user: User | None = find_logged_in_user(db, user_id, fingerprint)
    if user is None:
        return Outcome()  # not logged in (any more): the page sends the person to log in
    try:
        grant = server.get_consent_grant(request, end_user=user)
    except OAuth2Error as error:
        return _error_outcome(server, request, error)
    if approved:
        save_consent(db, user.id, grant.request.client.id, grant.request.scope)
    response = server.create_authorization_response(
        request, grant_user=user if approved else None, grant=grant
    )
    return Outcome(response=response)
