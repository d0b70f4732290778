"""Steps of the authorization code flow, driven through the app's own pages with a TestClient."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

REDIRECT = "https://app.example/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def authorize_params(client_id: str, **extra: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "xyz"}
    params.update(extra)
    return {key: value for key, value in params.items() if value is not None}


def approve(client: TestClient, params: dict[str, str], decision: str = "approve") -> dict[str, str]:
    """GET the consent page, submit the decision, return the redirect's query parameters."""
    page = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 200, page.text
    fields = hidden_fields(page.text)
    fields["decision"] = decision
    response = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])


def get_code(client: TestClient, params: dict[str, str]) -> str:
    return approve(client, params)["code"]


def tokens_for(client: TestClient, db: Any) -> tuple[Any, str | None, dict[str, Any]]:
    """A new user approves a new confidential app; returns (app client, its secret, the token answer)."""
    from tests.factories import make_client, make_user, web_session

    app_client, secret = make_client(db)
    web_session(client, make_user(db))
    code = get_code(client, authorize_params(app_client.id))
    body = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app_client.id,
            "client_secret": secret,
        },
    ).json()
    return app_client, secret, body
