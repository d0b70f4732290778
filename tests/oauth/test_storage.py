"""Ids, secrets, codes and tokens are 40 lowercase hex, and only their SHA-256 digests are stored."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from piazza.oauth.models import AuthorizationCode, Client, Token
from tests.factories import make_user, web_session
from tests.oauth.flow import REDIRECT, approve, authorize_params

HEX40 = re.compile(r"^[0-9a-f]{40}$")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_values_are_hex40_and_stored_only_as_digests(client, db):
    registered = client.post("/api/client", data={"client_name": "App", "redirect_uris": REDIRECT}).json()
    user = make_user(db)
    web_session(client, user)
    code = approve(client, authorize_params(registered["client_id"]))["code"]
    issued = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
        },
    ).json()
    values = [
        registered["client_id"],
        registered["client_secret"],
        code,
        issued["access_token"],
        issued["refresh_token"],
    ]
    assert all(HEX40.match(value) for value in values)
    with db.session() as s:
        stored_client = s.scalar(select(Client).where(Client.id == registered["client_id"]))
        stored_code = s.scalar(
            select(AuthorizationCode).where(AuthorizationCode.client_id == registered["client_id"])
        )
        stored_token = s.scalar(select(Token).where(Token.client_id == registered["client_id"]))
        assert stored_client.secret_digest == sha256(registered["client_secret"])
        assert stored_code.code_digest == sha256(code)
        assert stored_token.access_digest == sha256(issued["access_token"])
        assert stored_token.refresh_digest == sha256(issued["refresh_token"])
        columns = [*vars(stored_client).values(), *vars(stored_code).values(), *vars(stored_token).values()]
    for secret in values[1:]:
        assert secret not in [str(value) for value in columns]
