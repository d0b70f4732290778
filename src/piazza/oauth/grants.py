"""The grants Piazza offers: authorization code (with PKCE), refresh token (rotating), and the password
grant for the first-party client `self` on /oauth/login only. Storage hooks call `oauth/service.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7636 import CodeChallenge as AuthlibCodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from sqlalchemy import Row

from piazza.accounts.models import User
from piazza.accounts.service import confirm_login
from piazza.db.base import utcnow
from piazza.oauth.models import AuthorizationCode, Token
from piazza.oauth.server import OAuthClient, PiazzaAuthorizationServer
from piazza.oauth.service import (
    CLIENT_AUTH_METHODS,
    claim_refresh_token,
    create_code,
    find_active_user_id,
    find_refresh_token,
    redeem_code,
    revoke_family,
)
from piazza.oauth.tokens import generate_token


@dataclass
class CodeRecord:
    """Authlib's view of a redeemed AuthorizationCode row."""

    row: AuthorizationCode

    @property
    def code_challenge(self) -> str | None:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str | None:
        return "S256" if self.row.code_challenge else None

    def get_redirect_uri(self) -> None:
        # Authlib would demand the redirect_uri whenever the code has one; our rule is subtler and is
        # checked in AuthorizationCodeGrant.validate_token_request below.
        return None

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class TokenRecord:
    """Authlib's view of a Token row (refresh, revocation, introspection)."""

    row: Token | Row[Any]  # an ORM object, or the plain columns on the refresh grant's hot path
    presented: str = "access_token"  # which of the row's two values the client presented

    def check_client(self, client: OAuthClient) -> bool:
        same: bool = self.row.client_id == client.id
        return same

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        expires = self.row.access_expires_at
        return int((expires - utcnow()).total_seconds()) if expires else 0

    def is_expired(self) -> bool:
        expires = (
            self.row.refresh_expires_at if self.presented == "refresh_token" else self.row.access_expires_at
        )
        return expires is not None and expires <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class CodeChallenge(AuthlibCodeChallenge):
    """PKCE (RFC 7636), S256 only; required at /authorize for public clients (design.md)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("Public clients must send a code_challenge (PKCE, S256)")
        # Without a method RFC 7636 §4.3 means "plain", which we refuse rather than guess.
        if challenge and method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: PiazzaAuthorizationServer

    def generate_authorization_code(self) -> str:
        return generate_token()

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> Any:
        self.redirect_uri = redirect_uri
        return super().create_authorization_response(redirect_uri, grant_user)

    def save_authorization_code(self, code: str, request: Any) -> None:
        create_code(
            self.server.db,
            code,
            client_id=request.client.id,
            user_id=request.user.id,
            redirect_uri=self.redirect_uri,
            redirect_uri_sent=bool(request.payload.redirect_uri),
            scope=request.scope,
            code_challenge=request.payload.data.get("code_challenge"),
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> CodeRecord | None:
        row = redeem_code(self.server.db, code, client.id)
        return CodeRecord(row) if row is not None else None

    def validate_token_request(self) -> None:
        super().validate_token_request()
        code: CodeRecord = self.request.authorization_code
        client: OAuthClient = self.request.client
        sent = self.request.form.get("redirect_uri")
        if sent is not None:
            # RFC 6749 §4.1.3: when sent, it must be identical to the authorization request's.
            if sent != code.row.redirect_uri:
                raise InvalidGrantError("redirect_uri does not match the authorization request")
        elif not (code.row.code_challenge or client.redirect_uris == [code.row.redirect_uri]):
            # Clients in the wild omit it (gancio-api.md §3.3); that is safe only when the code is bound
            # to a PKCE challenge or to the client's one registered URI (design.md, RFC 6749 §4.1.3).
            raise InvalidRequestError("redirect_uri is required for this code")

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        pass  # already marked used, atomically, when redeemed

    def authenticate_user(self, authorization_code: CodeRecord) -> Row[Any] | None:
        return find_active_user_id(self.server.db, authorization_code.row.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh tokens rotate; a reused one revokes its whole family (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: PiazzaAuthorizationServer

    def validate_token_request(self) -> None:
        db = self.server.db
        client = self._validate_request_client()
        self.request.client = client
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        row = find_refresh_token(db, value)
        if row is None or row.client_id != client.id:
            raise InvalidGrantError("Invalid refresh token")
        if row.revoked_at is not None:
            revoke_family(db, row.family_id)
            raise InvalidGrantError("The refresh token was already used or revoked")
        record = TokenRecord(row, presented="refresh_token")
        if record.is_expired():
            raise InvalidGrantError("The refresh token has expired")
        self._validate_token_scope(record)  # the new scope may only narrow (RFC 6749 §6)
        # Claim it with one conditional UPDATE: of two concurrent refreshes only one wins.
        if not claim_refresh_token(db, row.id):
            revoke_family(db, row.family_id)
            raise InvalidGrantError("The refresh token was already used or revoked")
        self.request.refresh_token = record

    def authenticate_user(self, refresh_token: TokenRecord) -> Row[Any] | None:
        return find_active_user_id(self.server.db, refresh_token.row.user_id)

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        pass  # revoked when claimed in validate_token_request


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """Only on /oauth/login, only for `self` (gancio-api.md §3.2): the web pages' own login."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    server: PiazzaAuthorizationServer

    def authenticate_user(self, username: str, password: str) -> User:
        # The password was checked before the write transaction (accounts.service.check_password).
        user = confirm_login(self.server.db, self.server.checked_password)
        if user is None:
            # Gancio answers 403 here (gancio-api.md §3.2); its clients depend on it.
            raise InvalidGrantError("Invalid resource owner credentials", status_code=403)
        return user


class RefusedPasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """Gancio accepted the password grant from any client at /oauth/token; third-party apps must never
    see a person's password, so here it is refused (design.md)."""

    def validate_token_request(self) -> None:
        raise UnauthorizedClientError("The password grant is only for the first-party client on /oauth/login")
