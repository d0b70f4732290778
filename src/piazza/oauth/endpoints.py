"""Token revocation (RFC 7009), introspection (RFC 7662) and server metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint as AuthlibRevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as AuthlibIntrospectionEndpoint

from piazza.config import Config
from piazza.oauth.grants import TokenRecord
from piazza.oauth.models import Token
from piazza.oauth.scopes import Scope
from piazza.oauth.server import OAuthClient, OAuthRequest
from piazza.oauth.service import CLIENT_AUTH_METHODS, find_token, revoke_family, revoke_tokens
from piazza.oauth.tokens import digest


def _query_token(server: Any, value: str, hint: str | None) -> TokenRecord | None:
    row = find_token(server.db, value, hint)
    if row is None:
        return None
    presented = "refresh_token" if row.refresh_digest == digest(value) else "access_token"
    return TokenRecord(row, presented=presented)


class RevocationEndpoint(AuthlibRevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _query_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: OAuthRequest) -> None:
        # RFC 7009 §2.1: revoking a refresh token also ends the access tokens of the same grant.
        if token.presented == "refresh_token":
            revoke_family(self.server.db, token.row.family_id)
        else:
            revoke_tokens(self.server.db, Token.id == token.row.id)


class IntrospectionEndpoint(AuthlibIntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _query_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: OAuthClient, request: OAuthRequest) -> bool:
        # A client may introspect only its own tokens; anyone else's look inactive (RFC 7662 §2.2).
        return token.check_client(client)

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        row = token.row
        payload: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "token_type": "Bearer" if token.presented == "access_token" else "refresh_token",
            "sub": str(row.user_id),
            "iat": int(row.created_at.timestamp()),
        }
        expires = row.access_expires_at if token.presented == "access_token" else row.refresh_expires_at
        if expires is not None:
            payload["exp"] = int(expires.timestamp())
        return payload


def server_metadata(config: Config) -> dict[str, Any]:
    """RFC 8414 §2, with the issuer = PIAZZA_BASE_URL."""
    base = config.base_url
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "registration_endpoint": f"{base}/api/client",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "scopes_supported": [scope.value for scope in Scope],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
