"""Authlib's AuthorizationServer, adapted to Starlette the way authlib's Django integration is.

The route awaits the body first, builds an `OAuthRequest` from the query and form pairs, then runs the
synchronous Authlib core in the thread pool with one database session (`db.write(fn, ...)`): a new
server per call, bound to that session. The answer comes back as a ready Starlette Response.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from sqlalchemy import Row
from sqlalchemy.orm import Session
from starlette.responses import Response

from piazza.accounts.service import CheckedPassword
from piazza.config import Config
from piazza.db.base import utcnow
from piazza.oauth.models import SELF_CLIENT_ID
from piazza.oauth.scopes import Scope, parse_scopes
from piazza.oauth.service import (
    SECRET_AUTH_METHODS,
    check_redirect_uri,
    create_token,
    find_client,
    touch_consent,
)
from piazza.oauth.tokens import check_secret, digest, generate_token

# Authlib logs issued tokens at DEBUG ("Issue token %r to %r"); nothing secret may reach the logs,
# whatever PIAZZA_LOG_LEVEL says.
logging.getLogger("authlib").setLevel(logging.INFO)

Pairs = Iterable[tuple[str, str]]
Endpoint = Literal["token", "login", "authorize", "revoke", "introspect"]


class OAuthPayload(OAuth2Payload):
    def __init__(self, query: Pairs, form: Pairs) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in [*query, *form]:
            self._data.setdefault(key, value)
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class OAuthRequest(OAuth2Request):
    """An OAuth2Request built from an already-read Starlette request."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], query: Pairs, form: Pairs) -> None:
        # Not calling OAuth2Request.__init__: its https check reads the URL uvicorn saw, which is plain
        # http behind the TLS-terminating proxy; the public scheme is the operator's PIAZZA_BASE_URL.
        self.method = method
        self.uri = uri
        self.headers = headers  # Starlette Headers: case-insensitive, as Authlib expects
        self._body = None
        query, form = list(query), list(form)
        self._args = dict(reversed(query))  # first value wins, as in the payload
        self._form = dict(reversed(form))
        self.payload = OAuthPayload(query, form)
        # Set by Authlib's grants as they authenticate the client and find the user (OAuthClient, User).
        self.client: Any = None
        self.auth_method = None
        self.user: Any = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class OAuthClient(ClientMixin):
    """Authlib's view of a Client row."""

    def __init__(self, row: Row[Any]) -> None:
        self.row = row
        self.id: str = row.id
        self.is_public = row.secret_digest is None
        self.redirect_uris: list[str] = list(row.redirect_uris or [])

    def get_client_id(self) -> str:
        return self.id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 §3.1.2.3: redirect_uri may be omitted only when exactly one is registered.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        allowed = parse_scopes(self.row.scopes)
        if not scope:
            return " ".join(sorted(allowed))
        requested = parse_scopes(scope)
        return " ".join(sorted(requested)) if requested <= allowed else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return check_redirect_uri(self.redirect_uris, redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(client_secret, self.row.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A confidential client must prove its secret; a public one (PKCE-only, or `self`) has none.
        if self.is_public:
            return method == "none"
        return method in SECRET_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        # `self` never takes part in the code flow: that closed Gancio's W2 takeover (gancio-api.md §3.8).
        return response_type == "code" and self.id != SELF_CLIENT_ID

    def check_grant_type(self, grant_type: str) -> bool:
        if self.id == SELF_CLIENT_ID:
            return grant_type in ("password", "refresh_token")
        return grant_type in ("authorization_code", "refresh_token")


class PiazzaAuthorizationServer(AuthorizationServer):
    def __init__(
        self,
        db: Session,
        config: Config,
        endpoint: Endpoint,
        *,
        checked_password: CheckedPassword | None = None,
        client_read_before: Row[Any] | None = None,
    ) -> None:
        from piazza.oauth import endpoints, grants  # grants import this module

        super().__init__(scopes_supported=[scope.value for scope in Scope])
        self.db = db
        self.config = config
        self.checked_password = checked_password  # the login's password, checked before the transaction
        # The client named by the request, read before the write transaction (api._endpoint) so that
        # its lookup does not hold the write lock. Safe to use: a client deleted since has lost its codes
        # and tokens with it, so the grant's own conditional updates fail.
        self.client_read_before = client_read_before
        self.register_token_generator("default", self.create_bearer_token)
        if endpoint == "login":
            self.register_grant(grants.PasswordGrant)
        else:
            self.register_grant(grants.AuthorizationCodeGrant, [grants.CodeChallenge()])
            self.register_grant(grants.RefreshTokenGrant)
            self.register_grant(grants.RefusedPasswordGrant)
        self.register_endpoint(endpoints.RevocationEndpoint)
        self.register_endpoint(endpoints.IntrospectionEndpoint)

    def query_client(self, client_id: str) -> OAuthClient | None:
        row = self.client_read_before
        if row is None or row.id != client_id:
            row = find_client(self.db, client_id)
        return OAuthClient(row) if row is not None else None

    def create_bearer_token(
        self,
        grant_type: str,
        client: OAuthClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {"access_token": generate_token(), "token_type": "Bearer"}
        if self.config.access_token_ttl:
            token["expires_in"] = self.config.access_token_ttl  # only when the token expires
        if include_refresh_token:
            token["refresh_token"] = generate_token()
        token["scope"] = scope or ""
        return token

    def save_token(self, token: dict[str, Any], request: OAuthRequest) -> None:
        """Store the token's digests; a refreshed token stays in its family, a code's starts one."""
        now = utcnow()
        previous = request.refresh_token
        code = request.authorization_code
        access_ttl, refresh_ttl = self.config.access_token_ttl, self.config.refresh_token_ttl
        refresh = token.get("refresh_token")
        create_token(
            self.db,
            access_digest=digest(token["access_token"]),
            refresh_digest=digest(refresh) if refresh else None,
            client_id=request.client.id,
            user_id=request.user.id,
            scope=token.get("scope", ""),
            family_id=previous.row.family_id if previous is not None else generate_token(),
            code_id=code.row.id if code is not None else (previous.row.code_id if previous else None),
            access_expires_at=now + timedelta(seconds=access_ttl) if access_ttl else None,
            refresh_expires_at=now + timedelta(seconds=refresh_ttl) if refresh and refresh_ttl else None,
        )
        if request.client.id != SELF_CLIENT_ID:
            touch_consent(self.db, request.user.id, request.client.id)

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_response(self, status: int, body: Any, headers: Iterable[tuple[str, str]]) -> Response:
        header_dict = dict(headers)
        if status == 302 and "Location" in header_dict:
            # RFC 9207 §2: every authorization response, errors included, names the issuer.
            header_dict["Location"] = add_params_to_uri(
                header_dict["Location"], [("iss", self.config.base_url)]
            )
        content = json.dumps(body).encode() if isinstance(body, dict | list) else (body or "").encode()
        return Response(content, status_code=status, headers=header_dict)
