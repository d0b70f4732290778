"""The OAuth steps the threat tests repeat, through the app's real endpoints."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.oauth.flow import authorize_params, get_code


def exchange(client: TestClient, code: str, client_id: str, secret: str | None = None, **extra: str) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id, **extra}
    if secret:
        data["client_secret"] = secret
    return client.post("/oauth/token", data=data)


def refresh(client: TestClient, client_id: str, secret: str | None, token: str, **extra: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id, **extra}
    if secret:
        data["client_secret"] = secret
    return client.post("/oauth/token", data=data)


def issue(client: TestClient, client_id: str, secret: str | None, **params: str) -> dict[str, Any]:
    """Consent (the client's session must be logged in), then exchange the code: the token JSON."""
    verifier = params.pop("_verifier", None)
    code = get_code(client, authorize_params(client_id, **params))
    extra = {"code_verifier": verifier} if verifier else {}
    response = exchange(client, code, client_id, secret, **extra)
    assert response.status_code == 200, response.text
    return response.json()


def user_status(client: TestClient, token: str) -> int:
    return client.get("/api/user", headers={"Authorization": f"Bearer {token}"}).status_code
