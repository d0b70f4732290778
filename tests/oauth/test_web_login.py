"""GET/POST /login and POST /logout: the minimal web login behind the consent page."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, make_client, make_user
from tests.oauth.flow import csrf_of


def post_login(client, email, password=DEFAULT_PASSWORD, next_path=None, csrf=None):
    token = csrf if csrf is not None else csrf_of(client.get("/login").text)
    data = {"email": email, "password": password, "csrf_token": token}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/login", data=data, follow_redirects=False)


def test_login_sets_an_httponly_lax_session_cookie_without_tokens(client, db):
    user = make_user(db)
    response = post_login(client, user.email, next_path="/oauth/authorize?x=1")
    assert response.status_code == 303 and response.headers["location"] == "/oauth/authorize?x=1"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)"]
)
def test_next_must_be_a_local_path(client, db, target):
    user = make_user(db)
    response = post_login(client, user.email, next_path=target)
    assert response.headers["location"] == "/"


def test_wrong_password_shows_the_form_again_with_403(client, db):
    user = make_user(db)
    response = post_login(client, user.email, password="wrong password")
    assert response.status_code == 403
    assert "Wrong email or password" in response.text


def test_login_without_csrf_token_is_refused(client, db):
    user = make_user(db)
    client.get("/login")
    assert post_login(client, user.email, csrf="0" * 40).status_code == 403


def test_logout_ends_the_session(client, db):
    user = make_user(db)
    app_client, _ = make_client(db)
    post_login(client, user.email)
    authorize = "/oauth/authorize?response_type=code&client_id=" + app_client.id
    assert client.get(authorize, follow_redirects=False).status_code == 200  # the consent page
    page = client.get("/login")
    response = client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    after = client.get(authorize, follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login?next=")


def test_logout_without_csrf_token_is_refused(client, db):
    user = make_user(db)
    post_login(client, user.email)
    assert client.post("/logout", data={"csrf_token": "0" * 40}).status_code == 403


def test_session_cookie_is_secure_when_the_base_url_is_https(make_config, db):
    from fastapi.testclient import TestClient

    from piazza.app import create_app

    app = create_app(make_config(base_url="https://agenda.example"))
    with TestClient(app) as client:
        response = client.get("/login")
    app.state.db.dispose()
    assert "secure" in response.headers["set-cookie"].lower()


def test_login_page_cannot_be_framed(client):
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"


def test_session_cookie_holds_only_the_user_id_a_password_fingerprint_and_csrf_token(client, db):
    import base64
    import json

    user = make_user(db)
    response = post_login(client, user.email)
    value = response.cookies.get("piazza_session") or client.cookies.get("piazza_session")
    payload = json.loads(base64.b64decode(value.split(".")[0] + "=="))
    assert set(payload) == {"user_id", "login", "csrf"}


def test_a_new_password_ends_existing_login_sessions(client, db):
    from piazza.accounts.service import get_user, set_password

    user = make_user(db)
    app_client, _ = make_client(db)
    post_login(client, user.email)
    authorize = "/oauth/authorize?response_type=code&client_id=" + app_client.id
    assert client.get(authorize, follow_redirects=False).status_code == 200
    with db.session() as s:
        set_password(s, get_user(s, user.id), "another long password")
    after = client.get(authorize, follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login?next=")


def test_session_of_a_deactivated_user_is_not_a_login(client, db):
    from piazza.accounts.models import User

    user = make_user(db)
    app_client, _ = make_client(db)
    post_login(client, user.email)
    with db.session() as s:
        s.get(User, user.id).is_active = False
    authorize = "/oauth/authorize?response_type=code&client_id=" + app_client.id
    assert client.get(authorize, follow_redirects=False).status_code == 303


def _consent_status(client, app_client_id):
    authorize = "/oauth/authorize?response_type=code&client_id=" + app_client_id
    return client.get(authorize, follow_redirects=False).status_code  # 200: consent; 303: log in first


def test_a_session_cookie_copied_before_logout_is_refused_after_it(client, db, app, config):
    from fastapi.testclient import TestClient

    from piazza.app import create_app

    user = make_user(db)
    app_client, _ = make_client(db)
    post_login(client, user.email)
    stolen = client.cookies.get("piazza_session")
    # The thief uses the copy on another worker of the same instance (its own read cache).
    other_worker = create_app(config)
    try:
        with TestClient(other_worker) as thief:
            thief.cookies.set("piazza_session", stolen)
            assert _consent_status(thief, app_client.id) == 200
            page = client.get("/login")
            assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 200
            assert _consent_status(thief, app_client.id) == 303
            # Nor does the copy work where the logout happened.
            with TestClient(app) as same_worker:
                same_worker.cookies.set("piazza_session", stolen)
                assert _consent_status(same_worker, app_client.id) == 303
    finally:
        other_worker.state.db.dispose()
    # Logging in again works, with a new session.
    post_login(client, user.email)
    assert _consent_status(client, app_client.id) == 200
    assert client.cookies.get("piazza_session") != stolen


def test_a_password_change_ends_a_copied_session_even_with_the_same_password(client, db):
    """The session generation moves on each password change, even to the same text (a new salt would
    change the fingerprint anyway; the generation does not depend on it)."""
    from piazza.accounts.service import get_user, set_password

    user = make_user(db)
    app_client, _ = make_client(db)
    post_login(client, user.email)
    with db.session() as s:
        before = get_user(s, user.id).session_generation
        set_password(s, get_user(s, user.id), DEFAULT_PASSWORD)
        assert get_user(s, user.id).session_generation == before + 1
    assert _consent_status(client, app_client.id) == 303


def test_a_logout_with_an_outdated_session_changes_nothing(client, db):
    from piazza.accounts.models import User

    user = make_user(db)
    post_login(client, user.email)
    page = client.get("/login")
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    with db.session(write=False) as s:
        generation = s.get(User, user.id).session_generation
    client.get("/login")  # a fresh anonymous session: a logout from it ends nobody's sessions
    page = client.get("/login")
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    with db.session(write=False) as s:
        assert s.get(User, user.id).session_generation == generation
