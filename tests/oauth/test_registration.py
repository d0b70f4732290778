"""POST /api/client, GET /api/client/{id} (gancio-api.md §3.1, oauth-seed.md)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from piazza.oauth.models import Client
from tests.factories import bearer, make_token, make_user

HEX40 = re.compile(r"^[0-9a-f]{40}$")


def test_registration_answers_the_seed_shape(client, db):
    response = client.post(
        "/api/client",
        data={
            "client_name": "Wordpress Event Manager",
            "redirect_uris": "https://noblogs.org/",
            "website": "https://myapp.example",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body)[:6] == ["name", "scopes", "website", "client_secret", "redirect_uris", "client_id"]
    assert body["scopes"] == "event:write" and body["redirect_uris"] == "https://noblogs.org/"
    assert HEX40.match(body["client_id"]) and HEX40.match(body["client_secret"])


def test_registration_takes_json_and_several_redirect_uris(client, db):
    response = client.post(
        "/api/client",
        json={
            "client_name": "App",
            "redirect_uris": ["https://a.example/cb", "org.example.app:/cb"],
            "scopes": "event:write",
        },
    )
    assert response.status_code == 200
    assert response.json()["redirect_uris"] == "https://a.example/cb org.example.app:/cb"


def test_whitespace_separated_redirect_uris_are_several(client, db):
    response = client.post(
        "/api/client", data={"client_name": "App", "redirect_uris": "https://a.example/1 https://a.example/2"}
    )
    assert response.json()["redirect_uris"] == "https://a.example/1 https://a.example/2"


def test_unknown_scope_is_422_invalid_scopes(client, db):
    response = client.post(
        "/api/client", data={"client_name": "App", "redirect_uris": "https://a.example/", "scopes": "admin"}
    )
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid scopes"}


def test_missing_name_is_422(client, db):
    response = client.post("/api/client", data={"redirect_uris": "https://a.example/"})
    assert response.status_code == 422
    assert "client_name" in response.json()["error"]


@pytest.mark.parametrize(
    "uri",
    [
        "/relative",
        "https://a.example/cb#frag",
        "javascript:alert(1)",
        "ftp://a.example/",
        "https://user@a.example/",
        "",
    ],
)
def test_invalid_redirect_uri_is_422(client, db, uri):
    response = client.post("/api/client", data={"client_name": "App", "redirect_uris": uri})
    assert response.status_code == 422
    assert "redirect_uri" in response.json()["error"]


def test_secret_is_stored_as_a_digest(client, db):
    body = client.post(
        "/api/client", data={"client_name": "App", "redirect_uris": "https://a.example/"}
    ).json()
    with db.session() as s:
        row = s.scalar(select(Client).where(Client.id == body["client_id"]))
        assert row.secret_digest != body["client_secret"] and len(row.secret_digest) == 64


def test_client_details_never_show_the_secret(client, db):
    body = client.post(
        "/api/client", data={"client_name": "App", "redirect_uris": "https://a.example/"}
    ).json()
    user = make_user(db)
    response = client.get(f"/api/client/{body['client_id']}", headers=bearer(make_token(db, user)))
    assert response.status_code == 200
    assert response.json() == {
        "client_id": body["client_id"],
        "redirect_uris": "https://a.example/",
        "name": "App",
        "website": None,
        "scopes": "event:write",
    }


def test_unknown_client_details_are_404(client, db):
    user = make_user(db)
    response = client.get(f"/api/client/{'0' * 40}", headers=bearer(make_token(db, user)))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"[1]",
        b'{"client_name": "a", "redirect_uris": 5}',
        b'{"client_name": "a", "redirect_uris": [1]}',
        b'{"client_name": 5, "redirect_uris": "https://a.example/"}',
    ],
)
def test_malformed_json_registration_is_422(client, body):
    response = client.post("/api/client", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "error" in response.json()


def test_non_utf8_json_registration_is_refused_before_the_route(client, db):
    response = client.post("/api/client", content=b"\xff", headers={"content-type": "application/json"})
    assert response.status_code == 400
    with db.session(write=False) as s:
        assert s.query(Client).count() == 1  # only the seeded `self`


def test_public_client_registers_without_a_secret_and_must_use_pkce(client, db):
    """RFC 7591 §2 `token_endpoint_auth_method=none`: native apps that cannot keep a secret."""
    from tests.factories import web_session
    from tests.oauth.flow import REDIRECT, approve, authorize_params, pkce_pair

    response = client.post(
        "/api/client",
        json={"client_name": "Phone App", "redirect_uris": REDIRECT, "token_endpoint_auth_method": "none"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["client_secret"] is None
    assert body["token_endpoint_auth_method"] == "none"
    with db.session(write=False) as s:
        assert s.get(Client, body["client_id"]).secret_digest is None

    web_session(client, make_user(db))
    without_pkce = client.get(
        "/oauth/authorize", params=authorize_params(body["client_id"]), follow_redirects=False
    )
    assert without_pkce.status_code == 400
    assert "Public clients must send a code_challenge" in without_pkce.text
    verifier, challenge = pkce_pair()
    params = authorize_params(body["client_id"], code_challenge=challenge, code_challenge_method="S256")
    code = approve(client, params)["code"]
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": body["client_id"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    assert len(token.json()["access_token"]) == 40


def test_confidential_registration_says_its_auth_method(client):
    fields = {"client_name": "Site", "redirect_uris": "https://s.example/cb"}
    body = client.post("/api/client", data=fields).json()
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert len(body["client_secret"]) == 40


def test_unknown_auth_method_is_422(client):
    fields = {"client_name": "X", "redirect_uris": "https://x.example/cb"}
    fields["token_endpoint_auth_method"] = "tls"
    response = client.post("/api/client", data=fields)
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid token_endpoint_auth_method"}
