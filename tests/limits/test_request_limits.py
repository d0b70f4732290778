"""Body caps (declared and streamed), multipart parts, JSON depth and encoding, query length."""

import json

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse

from piazza.app import create_app
from piazza.limits.requests import RequestLimits, RequestLimitsMiddleware, check_json_depth

LIMITS = RequestLimits(
    max_body_size=1024, max_upload_size=8192, max_multipart_parts=5, max_json_depth=4, max_query_length=300
)


@pytest.fixture
def calls():
    return []


@pytest.fixture
def client(calls):
    app = FastAPI()

    @app.post("/api/raw")
    async def raw(request: Request):
        calls.append("raw")
        return JSONResponse({"size": len(await request.body())})

    @app.post("/api/json")
    async def parsed(request: Request):
        calls.append("json")
        return JSONResponse({"received": await request.json()})

    @app.post("/api/event")
    @app.post("/api/not-an-upload")
    async def upload(request: Request):
        calls.append("upload")
        async with request.form(max_files=1000, max_fields=1000) as form:
            return JSONResponse({"parts": len(form)})

    @app.get("/api/events")
    async def events(request: Request):
        return JSONResponse({"query": len(request.url.query)})

    app.add_middleware(RequestLimitsMiddleware, limits=LIMITS)
    with TestClient(app) as test_client:
        yield test_client


def chunks(total, size=256):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_a_body_under_the_cap_reaches_the_app(client):
    response = client.post("/api/raw", content=b"x" * 1024)
    assert response.status_code == 200
    assert response.json() == {"size": 1024}


def test_a_declared_oversize_body_is_refused_before_the_app_runs(client, calls):
    response = client.post("/api/raw", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.text == "Request body too large (the limit is 1024 bytes)"
    assert calls == []


def test_a_chunked_body_is_counted_while_it_streams(client):
    small = client.post("/api/raw", content=chunks(1000))
    assert small.status_code == 200
    assert small.json() == {"size": 1000}
    response = client.post("/api/raw", content=chunks(5000))
    assert response.request.headers.get("content-length") is None
    assert response.status_code == 413
    assert response.text == "Request body too large (the limit is 1024 bytes)"


def test_a_bad_content_length_is_a_400(client, calls):
    response = client.post("/api/raw", content=b"abc", headers={"Content-Length": "-3"})
    assert response.status_code == 400
    assert calls == []


def test_upload_routes_take_multipart_bodies_up_to_the_upload_cap(client):
    files = {"image": ("a.png", b"\x89PNG" + b"x" * 6000, "image/png")}
    assert client.post("/api/event", data={"title": "t"}, files=files).json() == {"parts": 2}
    other = client.post("/api/not-an-upload", data={"title": "t"}, files=files)
    assert other.status_code == 413
    too_big = {"image": ("a.png", b"x" * 9000, "image/png")}
    assert client.post("/api/event", files=too_big).status_code == 413


def test_upload_routes_use_the_small_cap_for_other_bodies(client):
    assert client.post("/api/event", content=b"x" * 2000).status_code == 413


def test_too_many_multipart_parts_are_refused(client):
    five = {f"field{n}": "v" for n in range(5)}
    assert client.post("/api/event", data=five, files={"f": ("a", b"a")}).status_code == 413
    four = {f"field{n}": "v" for n in range(4)}
    response = client.post("/api/event", data=four, files={"f": ("a", b"a")})
    assert response.status_code == 200
    assert response.json() == {"parts": 5}


def nested(depth):
    return "[" * depth + "1" + "]" * depth


def test_json_nested_up_to_the_cap_is_accepted(client):
    response = client.post("/api/json", content=nested(4), headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_json_nested_past_the_cap_is_a_400(client, calls):
    body = json.dumps({"a": [{"b": [1]}]}).encode()  # depth 4
    assert (
        client.post("/api/json", content=body, headers={"Content-Type": "application/json"}).status_code
        == 200
    )
    deeper = json.dumps({"a": [{"b": [[1]]}]}).encode()
    response = client.post("/api/json", content=deeper, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.text == "Invalid JSON body: nested deeper than 4 levels"
    assert calls == ["json"]


def test_brackets_inside_json_strings_do_not_count(client):
    body = json.dumps({"title": '[[[[[[{{{{ \\" ]]]'}).encode()
    response = client.post("/api/json", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_a_deep_json_body_is_refused_whatever_its_declared_json_type(client):
    deep = nested(500)
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ):
        response = client.post("/api/json", content=deep, headers={"Content-Type": content_type})
        assert response.status_code == 400


def test_a_non_utf8_json_body_is_a_400(client, calls):
    body = '{"title": "caf\u00e9"}'.encode("latin-1")
    response = client.post("/api/json", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.text == "Invalid JSON body: not UTF-8"
    assert calls == []


def test_an_oversize_json_body_is_a_413_even_when_chunked(client):
    response = client.post("/api/json", content=chunks(3000), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_a_long_query_string_is_a_414(client):
    assert client.get("/api/events?" + "t" * 300).status_code == 200
    response = client.get("/api/events?" + "t" * 301)
    assert response.status_code == 414


def test_headers_larger_than_the_cap_together_are_a_431(client):
    assert client.get("/api/events", headers={"X-Padding": "a" * 8000}).status_code == 200
    response = client.get("/api/events", headers={"X-One": "a" * 9000, "X-Two": "b" * 9000})
    assert response.status_code == 431


@pytest.mark.parametrize(
    ("text", "depth_ok"),
    [
        ("1", True),
        ("[]", True),
        ("[[[[]]]]", True),
        ("[[[[[]]]]]", False),
        ('{"a":"]]]]]"}', True),
        ("[}", True),
    ],
)
def test_json_depth_check(text, depth_ok):
    assert check_json_depth(text.encode(), 4) is depth_ok


def test_create_app_caps_bodies_with_the_configured_limits(make_config):
    app = create_app(make_config(max_body_size=2048))
    try:
        with TestClient(app) as client:
            response = client.post("/api/ping", content=b"x" * 4096)
            assert response.status_code == 413
            assert response.headers["X-Request-ID"]
            deep = client.get("/api/user", params={"q": "x" * 5000})
            assert deep.status_code == 414
    finally:
        app.state.db.dispose()
