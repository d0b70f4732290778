"""GET/POST /api/settings and the smtp settings (gancio-api.md §2.9, §4.11)."""

import pytest
from fastapi.testclient import TestClient

from piazza.app import create_app
from piazza.instance.settings import get_public_settings
from piazza.mail import deliver_pending
from tests.factories import bearer, make_token, make_user, set_setting
from tests.smtp_server import SMTP_PASSWORD, SMTP_USER


@pytest.fixture
def admin_headers(db):
    return bearer(make_token(db, make_user(db, "admin@example.org", role="admin")))


def test_settings_start_from_gancio_defaults(client, admin_headers):
    settings = client.get("/api/settings", headers=admin_headers).json()
    assert settings["allow_registration"] is True
    assert settings["instance_timezone"] == "Europe/Rome"
    assert settings["dark_colors"]["primary"] == "#FF6E40"
    assert settings["footerLinks"][0] == {"href": "/", "label": "common.home"}
    assert settings["collection_in_home"] is None
    assert settings["smtp"] == {}
    assert settings["baseurl"] == "http://testserver" and settings["hostname"] == "testserver"


@pytest.mark.parametrize(
    "value",
    ["Our agenda", 42, 2.5, True, False, ["a", "b", 3], {"nested": {"list": [1, None]}, "n": 0}, None, ""],
    ids=["string", "int", "float", "true", "false", "list", "object", "null", "empty"],
)
def test_any_json_value_round_trips(client, admin_headers, value):
    response = client.post("/api/settings", json={"key": "custom_key", "value": value}, headers=admin_headers)
    assert response.status_code == 200 and response.text == "OK"
    assert client.get("/api/settings", headers=admin_headers).json()["custom_key"] == value


def test_a_stored_null_overrides_a_default(client, admin_headers):
    client.post("/api/settings", json={"key": "title", "value": None}, headers=admin_headers)
    assert client.get("/api/settings", headers=admin_headers).json()["title"] is None


def test_missing_key_is_400_not_500(client, admin_headers):
    for body in (
        {"value": 1},
        {"key": "", "value": 1},
        {"key": 7, "value": 1},
        {"key": "x" * 300, "value": 1},
    ):
        assert client.post("/api/settings", json=body, headers=admin_headers).status_code == 400, body


def test_the_base_url_cannot_be_changed_through_settings(client, admin_headers):
    response = client.post(
        "/api/settings", json={"key": "baseurl", "value": "https://evil"}, headers=admin_headers
    )
    assert response.status_code == 400
    assert client.get("/api/settings", headers=admin_headers).json()["baseurl"] == "http://testserver"


def test_secret_settings_are_stored_but_never_listed(client, db, admin_headers):
    body = {"key": "api_secret", "value": "hush", "is_secret": True}
    assert client.post("/api/settings", json=body, headers=admin_headers).status_code == 200
    assert "api_secret" not in client.get("/api/settings", headers=admin_headers).json()
    assert (
        client.post("/api/settings", json={**body, "is_secret": "perhaps"}, headers=admin_headers).status_code
        == 400
    )


def test_a_setting_changed_on_one_app_is_seen_at_once_by_another(make_config, db, admin_headers):
    first, second = create_app(make_config()), create_app(make_config())
    try:
        one, two = TestClient(first), TestClient(second)
        assert two.get("/api/settings", headers=admin_headers).json()["title"] == "Piazza"
        one.post(
            "/api/settings", json={"key": "title", "value": "Agenda di quartiere"}, headers=admin_headers
        )
        assert two.get("/api/settings", headers=admin_headers).json()["title"] == "Agenda di quartiere"
        one.post("/api/settings", json={"key": "allow_registration", "value": False}, headers=admin_headers)
        assert (
            two.post(
                "/api/user/register", json={"email": "x@example.org", "password": "long enough"}
            ).status_code
            == 404
        )
    finally:
        first.state.db.dispose()
        second.state.db.dispose()


def test_public_settings_come_from_the_same_store(db, admin_headers, client):
    client.post("/api/settings", json={"key": "instance_locale", "value": "it"}, headers=admin_headers)
    with db.session(write=False) as s:
        public = get_public_settings(s, "http://testserver")
    assert public["instance_locale"] == "it" and public["title"] == "Piazza"
    assert set(public) == {
        "title",
        "description",
        "instance_locale",
        "instance_timezone",
        "baseurl",
        "hostname",
    }


SMTP = {
    "host": "mail.example.org",
    "port": 587,
    "secure": False,
    "auth": {"user": "me", "pass": "p4ss"},
    "from": "a@example.org",
}


def test_the_smtp_password_is_masked_everywhere_it_is_shown(client, admin_headers):
    assert client.post("/api/settings/smtp", json={"smtp": SMTP}, headers=admin_headers).status_code == 200
    for shown in (
        client.get("/api/settings/smtp", headers=admin_headers).json(),
        client.get("/api/settings", headers=admin_headers).json()["smtp"],
    ):
        assert shown["auth"] == {"user": "me", "pass": "********"}
        assert shown["host"] == "mail.example.org" and shown["port"] == 587
    assert "p4ss" not in client.get("/api/settings", headers=admin_headers).text


def test_bad_smtp_objects_are_400(client, admin_headers):
    for smtp in (
        "text",
        {"port": "many"},
        {"port": 70000},
        {"secure": "yes"},
        {"auth": "me:pass"},
        {"host": 3},
    ):
        assert (
            client.post("/api/settings/smtp", json={"smtp": smtp}, headers=admin_headers).status_code == 400
        ), smtp
    assert client.post("/api/settings/smtp", json={}, headers=admin_headers).status_code == 400
    assert (
        client.post("/api/settings", json={"key": "smtp", "value": 5}, headers=admin_headers).status_code
        == 400
    )


def test_posting_the_mask_back_keeps_the_password_and_the_test_mail_arrives(
    client, db, app, admin_headers, smtp_server_with_auth
):
    server = smtp_server_with_auth
    set_setting(db, "admin_email", "boss@example.org")
    smtp = server.setting(auth={"user": SMTP_USER, "pass": SMTP_PASSWORD})
    assert client.post("/api/settings/smtp", json={"smtp": smtp}, headers=admin_headers).status_code == 200
    shown = client.get("/api/settings/smtp", headers=admin_headers).json()
    # The admin page sends back what it was shown, mask included.
    assert client.post("/api/settings/smtp", json={"smtp": shown}, headers=admin_headers).status_code == 200
    client.post("/api/settings", json={"key": "smtp", "value": shown}, headers=admin_headers)
    deliver_pending(db, app.state.config)
    mails = server.inbox.wait_for(2)
    assert {m["To"] for m in mails} == {"boss@example.org"}
    assert "Test" in mails[0]["Subject"]
    assert server.inbox.logins  # the stored password still logs in


def test_saving_smtp_without_admin_email_queues_no_test_mail(client, db, admin_headers):
    from tests.factories import outbox

    assert client.post("/api/settings/smtp", json={"smtp": SMTP}, headers=admin_headers).status_code == 200
    assert outbox(db) == []
