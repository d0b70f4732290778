"""The access log of `piazza serve`: one line per request (client, method, path, status, duration,
request id), and no secret in it after a whole OAuth flow over real HTTP: no query string (state, PKCE
challenge, codes on the way back), no code in a path, no token, client secret, password or cookie."""

from __future__ import annotations

import re
import secrets

import pytest
import requests

from piazza.db import Database
from piazza.middleware import _logged_path
from tests.factories import DEFAULT_PASSWORD, make_client, make_user
from tests.oauth.flow import pkce_pair, query_of
from tests.oauth.test_flow_over_http import approve_in_browser, browser_logged_in
from tests.servers import PiazzaProcess

REDIRECT = "https://app.example/callback"
# `2026-12-01 21:00:00,000 INFO [0123456789abcdef] piazza.access: 127.0.0.1 "GET /path" 200 1.2ms`
ACCESS_LINE = re.compile(
    r'INFO \[(?P<id>[0-9a-f]{16})\] piazza\.access: (?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" '
    r"(?P<status>\d{3}) (?P<ms>\d+\.\d)ms$"
)


@pytest.fixture
def server(tmp_path):
    served = PiazzaProcess(
        f"sqlite:///{tmp_path / 'data' / 'piazza.sqlite3'}", tmp_path / "data", PIAZZA_LOG_LEVEL="INFO"
    )
    served.start()
    database = Database(served.database_url)
    try:
        yield served, database
    finally:
        database.dispose()
        served.stop()


def access_lines(log: str) -> list[re.Match[str]]:
    return [match for line in log.splitlines() if (match := ACCESS_LINE.search(line))]


def test_a_whole_oauth_flow_leaves_access_lines_and_no_secret_in_the_log(server):
    served, db = server
    user = make_user(db, "reader@example.org")
    app_client, secret = make_client(db, redirect_uris=[REDIRECT])
    browser = browser_logged_in(served, user.email)
    verifier, challenge = pkce_pair()
    state = secrets.token_hex(16)
    params = {
        "response_type": "code",
        "client_id": app_client.id,
        "redirect_uri": REDIRECT,
        "scope": "event:write",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize = requests.Request("GET", f"{served.url}/oauth/authorize", params=params).prepare().url
    code = query_of(approve_in_browser(browser, authorize))["code"]
    token_url = f"{served.url}/oauth/token"
    auth = {"client_id": app_client.id, "client_secret": secret}
    exchanged = requests.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            **auth,
        },
        timeout=30,
    ).json()
    rotated = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": exchanged["refresh_token"], **auth},
        timeout=30,
    ).json()
    app_bearer = {"Authorization": f"Bearer {rotated['access_token']}"}
    # An app's token of scope event:write may not read the account (403, logged all the same).
    assert requests.get(f"{served.url}/api/user", headers=app_bearer, timeout=30).status_code == 403
    requests.post(
        f"{served.url}/oauth/introspect", data={"token": rotated["access_token"], **auth}, timeout=30
    )
    requests.post(f"{served.url}/oauth/revoke", data={"token": rotated["refresh_token"], **auth}, timeout=30)
    login = requests.post(
        f"{served.url}/oauth/login",
        data={
            "grant_type": "password",
            "client_id": "self",
            "username": user.email,
            "password": DEFAULT_PASSWORD,
        },
        timeout=30,
    ).json()
    bearer = {"Authorization": f"Bearer {login['access_token']}"}
    assert requests.get(f"{served.url}/api/user", headers=bearer, timeout=30).status_code == 200
    # Codes that travel in a path (recovery and invitation links) and a token in a query string.
    recover_code, confirm_code = "a" * 40, "b" * 40
    requests.get(f"{served.url}/recover/{recover_code}", timeout=30)
    requests.get(f"{served.url}/user_confirm/{confirm_code}", timeout=30)
    requests.get(f"{served.url}/api/events", params={"access_token": login["access_token"]}, timeout=30)
    cookies = [cookie.value for cookie in browser.cookies]
    served.stop()  # the log is complete once the server has exited

    log = served.log_path.read_text(errors="replace")
    for value in (
        secret,
        code,
        verifier,
        challenge,
        state,
        exchanged["access_token"],
        exchanged["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
        login["access_token"],
        login["refresh_token"],
        DEFAULT_PASSWORD,
        recover_code,
        confirm_code,
        *cookies,
    ):
        assert value not in log
    assert "?" not in log  # no query string at all

    lines = access_lines(log)
    seen = {(line["method"], line["path"], line["status"]) for line in lines}
    for expected in (
        ("GET", "/login", "200"),
        ("POST", "/login", "303"),
        ("GET", "/oauth/authorize", "200"),
        ("POST", "/oauth/authorize", "302"),
        ("POST", "/oauth/token", "200"),
        ("GET", "/api/user", "403"),
        ("GET", "/api/user", "200"),
        ("POST", "/oauth/introspect", "200"),
        ("POST", "/oauth/revoke", "200"),
        ("POST", "/oauth/login", "200"),
        ("GET", "/recover/{code}", "400"),  # an unknown code
        ("GET", "/user_confirm/{code}", "400"),
        ("GET", "/api/events", "200"),
    ):
        assert expected in seen, (expected, log)
    assert all(line["client"] == "127.0.0.1" for line in lines)
    assert len({line["id"] for line in lines}) == len(lines)  # one line per request, each its own id


def test_the_access_log_can_be_turned_off(tmp_path):
    served = PiazzaProcess(
        f"sqlite:///{tmp_path / 'data' / 'piazza.sqlite3'}",
        tmp_path / "data",
        PIAZZA_LOG_LEVEL="INFO",
        PIAZZA_ACCESS_LOG="off",
    )
    served.start()
    try:
        assert requests.get(f"{served.url}/api/events", timeout=30).status_code == 200
    finally:
        served.stop()
    assert access_lines(served.log_path.read_text(errors="replace")) == []


def test_a_path_cannot_forge_a_log_line():
    # uvicorn hands the raw path over as sent; quotes, spaces and control characters are escaped.
    scope = {"type": "http", "method": "GET", "raw_path": b'/a" 200 1.0ms\nINFO [x] forged', "path": "/"}
    assert _logged_path(scope) == "/a\\x22\\x20200\\x201.0ms\\nINFO\\x20[x]\\x20forged"
