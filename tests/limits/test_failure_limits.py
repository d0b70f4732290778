"""Failed logins and client authentications are rate limited (design.md); successes are never counted."""

from tests.limits.conftest import GOOD_SECRET, RIGHT_PASSWORD, peer


def oauth_login(client, username="ada@example.org", password="wrong", address="192.0.2.1"):  # noqa: S107
    form = {"client_id": "self", "grant_type": "password", "username": username, "password": password}
    return client.post("/oauth/login", data=form, headers=peer(address))


def test_eleventh_failed_login_from_one_address_is_refused_even_with_the_right_password(limited_client):
    for attempt in range(10):
        assert oauth_login(limited_client, username=f"user{attempt}@example.org").status_code == 403
    response = oauth_login(limited_client, password=RIGHT_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Policy"] == "10;w=300"


def test_oauth_endpoints_refuse_with_a_json_error(limited_client):
    for _ in range(10):
        oauth_login(limited_client)
    response = oauth_login(limited_client)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "too_many_requests",
        "error_description": "Too many requests, please try again later.",
    }


def test_successful_logins_are_not_counted(limited_client):
    for _ in range(25):
        assert oauth_login(limited_client, password=RIGHT_PASSWORD).status_code == 200
    for _ in range(10):
        assert oauth_login(limited_client).status_code == 403
    assert oauth_login(limited_client).status_code == 429


def test_the_app_still_reads_the_form_the_limiter_read(limited_client):
    response = oauth_login(limited_client, username="Ada@Example.org", password=RIGHT_PASSWORD)
    assert response.json()["username"] == "Ada@Example.org"


def test_failures_for_one_user_name_from_many_addresses_are_limited(limited_client):
    for attempt in range(10):
        oauth_login(limited_client, username="ada@example.org", address=f"203.0.113.{attempt}")
    # The user name is compared as the account stores it: lower case, without spaces around.
    assert oauth_login(limited_client, username=" ADA@example.org", address="203.0.113.99").status_code == 429
    assert oauth_login(limited_client, username="bob@example.org", address="203.0.113.99").status_code == 403


def test_a_request_without_a_user_name_is_still_counted_by_address(limited_client):
    for _ in range(10):
        response = limited_client.post("/oauth/login", data={"password": "x"}, headers=peer("192.0.2.7"))
        assert response.status_code == 400  # invalid_request is not a failed login...
    response = oauth_login(limited_client, address="192.0.2.7")
    assert response.status_code == 403  # ...so nothing was counted


def test_token_endpoint_counts_failed_client_authentication_and_invalid_grant_only(limited_client):
    def token(secret, grant_type="authorization_code", code="bad-code"):
        form = {"client_id": "c" * 40, "client_secret": secret, "grant_type": grant_type, "code": code}
        return limited_client.post("/oauth/token", data=form)

    for _ in range(20):
        assert token(GOOD_SECRET, grant_type="client_credentials").status_code == 400  # not a failure
        assert token(GOOD_SECRET, code="good-code").status_code == 200
    for _ in range(5):
        assert token("wrong").status_code == 401
        assert token(GOOD_SECRET).status_code == 400  # invalid_grant
    response = token(GOOD_SECRET, code="good-code")
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_requests"


def test_web_login_counts_pages_answered_with_400_401_or_403(limited_client):
    def login(password, csrf="ok", email="ada@example.org"):
        form = {"email": email, "password": password, "csrf": csrf}
        return limited_client.post("/login", data=form, follow_redirects=False)

    for _ in range(5):
        assert login(RIGHT_PASSWORD).status_code == 303
        assert login("wrong").status_code == 403
        assert login(RIGHT_PASSWORD, csrf="forged").status_code == 400
    response = login(RIGHT_PASSWORD)
    assert response.status_code == 429
    assert response.text == "Too many requests, please try again later."


def test_web_login_limits_failures_per_email_across_addresses(limited_client):
    for attempt in range(10):
        form = {"email": "ada@example.org", "password": "wrong", "csrf": "ok"}
        limited_client.post("/login", data=form, headers=peer(f"198.51.100.{attempt}"))
    form = {"email": "ada@example.org", "password": RIGHT_PASSWORD, "csrf": "ok"}
    response = limited_client.post(
        "/login", data=form, headers=peer("198.51.100.200"), follow_redirects=False
    )
    assert response.status_code == 429


def test_many_successful_requests_in_flight_at_once_are_never_refused(storage):
    """Failure rules only read their counter before the app runs, so an app or a proxy posting many
    events at once is not refused while none of its requests fails (POST /api/event allows 6 refused
    tokens per address)."""
    import asyncio

    import httpx
    from fastapi import FastAPI
    from starlette.responses import JSONResponse

    from piazza.limits.ratelimit import RateLimitMiddleware
    from tests.limits.conftest import GOOD_TOKEN, SECRET

    in_flight = 0
    all_in = asyncio.Event()
    app = FastAPI()

    @app.post("/api/event")
    async def add_event() -> JSONResponse:
        nonlocal in_flight
        in_flight += 1
        if in_flight == 20:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=10)
        return JSONResponse({"id": 1})

    app.add_middleware(RateLimitMiddleware, storage=storage, secret=SECRET)

    async def post_twenty() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answers = await asyncio.gather(
                *(client.post("/api/event", headers={"Authorization": GOOD_TOKEN}) for _ in range(20))
            )
        await storage.close()  # its connections belong to this event loop
        return [answer.status_code for answer in answers]

    assert asyncio.run(post_twenty()) == [200] * 20
