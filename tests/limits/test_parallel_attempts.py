"""Failure limits hold against parallel requests (issue 15, item 5): the count is reserved before the
attempt runs and given back when it succeeds, so a burst never gets more attempts checked than the limit.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from piazza.limits.ratelimit import RateLimitMiddleware
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.limits.conftest import RIGHT_PASSWORD, SECRET
from tests.servers import PiazzaProcess

BURST = 60
LIMIT = 10  # rules.LOGIN_FAILURES


def _slow_login_app(storage, checked: list[str]) -> FastAPI:
    """A login route that holds each attempt long enough for the whole burst to be in flight at once."""
    app = FastAPI()

    @app.post("/oauth/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        checked.append(str(form.get("password")))
        await asyncio.sleep(0.3)
        if form.get("password") != RIGHT_PASSWORD:
            return JSONResponse({"error": "invalid_grant"}, status_code=403)
        return JSONResponse({"access_token": "x", "token_type": "Bearer"})

    app.add_middleware(RateLimitMiddleware, storage=storage, secret=SECRET)
    return app


def test_a_parallel_burst_gets_at_most_the_limit_checked(storage):
    checked: list[str] = []
    checked_in_the_burst: list[str] = []
    app = _slow_login_app(storage, checked)
    passwords = [f"wrong-{n}" for n in range(BURST)]
    passwords[BURST // 2] = RIGHT_PASSWORD

    async def burst() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            def attempt(password: str):
                form = {"client_id": "self", "username": "ada@example.org", "password": password}
                return client.post("/oauth/login", data=form)

            answers = await asyncio.gather(*(attempt(password) for password in passwords))
            checked_in_the_burst.extend(checked)
            failures = sum(answer.status_code == 403 for answer in answers)
            topping_up = [(await attempt("wrong")).status_code for _ in range(LIMIT - failures)]
            assert set(topping_up) <= {403}
            after = await attempt(RIGHT_PASSWORD)
        await storage.close()
        return [answer.status_code for answer in answers], after.status_code

    statuses, after = asyncio.run(burst())
    checked = checked_in_the_burst
    assert set(statuses) <= {200, 403, 429}, statuses
    # At most ten wrong passwords checked. The right one gives its reservation back when it succeeds,
    # which lets one more attempt of the burst in if it arrives late: the attacker would know the
    # password by then anyway.
    assert len([password for password in checked if password != RIGHT_PASSWORD]) <= LIMIT
    assert len(checked) <= LIMIT + 1
    assert len([status for status in statuses if status != 429]) == len(checked)
    if RIGHT_PASSWORD not in checked:
        assert statuses[BURST // 2] == 429
    # The right password is refused once the failures reached the limit.
    assert after == 429


def test_a_successful_attempt_gives_its_reservation_back(storage):
    checked: list[str] = []
    app = _slow_login_app(storage, checked)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            form = {"client_id": "self", "username": "ada@example.org"}
            # Ten right passwords at once hold ten reservations; given back, they leave room for ten
            # failures afterwards.
            first = await asyncio.gather(
                *(client.post("/oauth/login", data={**form, "password": RIGHT_PASSWORD}) for _ in range(10))
            )
            wrong = [
                (await client.post("/oauth/login", data={**form, "password": "wrong"})).status_code
                for _ in range(11)
            ]
        await storage.close()
        return [answer.status_code for answer in first] + wrong

    assert asyncio.run(run()) == [200] * 10 + [403] * 10 + [429]


# --- against a real `piazza serve` -------------------------------------------------------------------


@pytest.fixture
def served(database_url, db, tmp_path):
    """`piazza serve` with 2 workers and the real rate limits, on the test database (SQLite or, with
    PIAZZA_TEST_DATABASE_URL, PostgreSQL)."""
    make_user(db, "target@example.org")
    server = PiazzaProcess(database_url, tmp_path / "data", PIAZZA_RATE_LIMITS="on", PIAZZA_WORKERS="2")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _burst(url: str, path: str, forms: list[dict[str, str]]) -> list[int]:
    """Post every form at once, each from its own thread and connection."""
    statuses: list[int] = [0] * len(forms)
    start = threading.Barrier(len(forms))

    def post(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            start.wait()
            statuses[index] = client.post(path, data=forms[index], follow_redirects=False).status_code

    threads = [threading.Thread(target=post, args=(index,)) for index in range(len(forms))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.slow  # a real server (or 60 lookups in a row): `make test-slow`
def test_sixty_parallel_wrong_passwords_against_piazza_serve_get_at_most_ten_checked(served):
    form = {"grant_type": "password", "client_id": "self", "username": "target@example.org"}
    forms = [{**form, "password": f"wrong-{n}"} for n in range(BURST)]
    forms[BURST // 2]["password"] = DEFAULT_PASSWORD
    statuses = _burst(served, "/oauth/login", forms)
    checked = [status for status in statuses if status != 429]
    assert set(statuses) <= {200, 403, 429}
    # Before reservations, all 60 were checked (limit 10) and the right password among them logged in.
    # Now at most ten wrong ones are (and one more attempt if the right one succeeded: see above).
    assert statuses.count(403) <= LIMIT
    assert len(checked) <= LIMIT + statuses.count(200)
    # Up to the limit with failures (the right password may have been one of the ten checked), then
    # the right password is refused.
    for _ in range(LIMIT - statuses.count(403)):
        assert httpx.post(f"{served}/oauth/login", data={**form, "password": "wrong"}).status_code == 403
    after = httpx.post(f"{served}/oauth/login", data={**form, "password": DEFAULT_PASSWORD})
    assert after.status_code == 429
    assert int(after.headers["Retry-After"]) >= 1
