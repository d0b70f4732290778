"""Static pages (the addendum of gancio-api.md): routes, guards, slugs and sanitized content."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from piazza.errors import NotFound
from piazza.instance import pages_service
from piazza.instance.models import Page

FORM = {"content-type": "application/x-www-form-urlencoded"}


def create(client, headers, **body):
    response = client.post("/api/pages", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_creates_a_page_with_a_slug_from_its_title(client, admin_headers):
    page = create(client, admin_headers, title="About us & friends", content="<p>Hello</p>")
    assert page == {
        "id": page["id"],
        "title": "About us & friends",
        "content": "<p>Hello</p>",
        "visible": True,
        "slug": "about-us-and-friends",
    }


def test_form_encoded_page_with_visible_false(client, admin_headers):
    response = client.post(
        "/api/pages", content="title=Rules&content=Be+kind&visible=false", headers={**admin_headers, **FORM}
    )
    assert response.status_code == 200
    assert response.json()["visible"] is False and response.json()["content"] == "Be kind"


def test_same_title_gets_a_numbered_slug(client, admin_headers):
    assert create(client, admin_headers, title="About")["slug"] == "about"
    assert create(client, admin_headers, title="About")["slug"] == "about-1"
    assert create(client, admin_headers, title="???")["slug"] == "page"


def test_page_content_is_sanitized(client, admin_headers):
    page = create(
        client,
        admin_headers,
        title="Evil",
        content='<p onclick="x()">hi</p><script>alert(1)</script><a href="javascript:alert(1)">a</a>'
        '<img src=x onerror=alert(1)><a href="https://ok.example/?fbclid=1">ok</a>',
    )
    assert page["content"] == '<p>hi</p><a>a</a><a href="https://ok.example/">ok</a>'
    updated = client.put(
        f"/api/pages/{page['id']}", json={"content": "<style>x</style><b>bold</b>"}, headers=admin_headers
    )
    assert updated.json()["content"] == "<b>bold</b>"


@pytest.mark.parametrize(
    "body",
    [{}, {"title": ""}, {"title": 3}, {"title": "x" * 256}, {"title": "t", "content": 5},
     {"title": "t", "visible": "perhaps"}],
)  # fmt: skip
def test_bad_page_bodies_are_400_and_write_nothing(client, db, admin_headers, body):
    response = client.post("/api/pages", json=body, headers=admin_headers)
    assert response.status_code == 400
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 0


def test_title_is_required_with_gancio_text(client, admin_headers):
    assert client.post("/api/pages", json={"content": "x"}, headers=admin_headers).text == "title required"


def test_anonymous_and_non_admins_see_only_visible_pages(client, admin_headers, user_headers, editor_headers):
    create(client, admin_headers, title="Shown")
    create(client, admin_headers, title="Draft", visible=False)
    assert [p["title"] for p in client.get("/api/pages").json()] == ["Shown"]
    assert [p["title"] for p in client.get("/api/pages", headers=user_headers).json()] == ["Shown"]
    assert [p["title"] for p in client.get("/api/pages", headers=editor_headers).json()] == ["Shown"]
    assert [p["title"] for p in client.get("/api/pages", headers=admin_headers).json()] == ["Shown", "Draft"]


def test_page_by_slug_hides_drafts_from_non_admins(client, admin_headers, user_headers):
    create(client, admin_headers, title="Shown", content="<p>x</p>")
    create(client, admin_headers, title="Draft", visible=False)
    assert client.get("/api/pages/shown").json()["content"] == "<p>x</p>"
    assert client.get("/api/pages/draft").status_code == 404
    assert client.get("/api/pages/draft", headers=user_headers).status_code == 404
    assert client.get("/api/pages/draft", headers=admin_headers).json()["title"] == "Draft"
    assert client.get("/api/pages/nothing", headers=admin_headers).status_code == 404


def test_update_is_partial_and_keeps_the_slug(client, admin_headers):
    page = create(client, admin_headers, title="About", content="<p>old</p>")
    response = client.put(f"/api/pages/{page['id']}", json={"title": "About Piazza"}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json() == {**page, "title": "About Piazza"}
    hidden = client.put(f"/api/pages/{page['id']}", data={"visible": "0"}, headers=admin_headers)
    assert hidden.json()["visible"] is False
    assert client.put("/api/pages/999", json={}, headers=admin_headers).status_code == 404
    assert (
        client.put(f"/api/pages/{page['id']}", json={"title": ""}, headers=admin_headers).status_code == 400
    )


def test_delete_page(client, admin_headers):
    page = create(client, admin_headers, title="About")
    assert client.delete(f"/api/pages/{page['id']}", headers=admin_headers).status_code == 200
    assert client.get("/api/pages/about").status_code == 404
    assert client.delete(f"/api/pages/{page['id']}", headers=admin_headers).status_code == 404
    assert client.delete("/api/pages/abc", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/api/pages"), ("put", "/api/pages/1"), ("delete", "/api/pages/1")]
)
def test_page_writes_need_an_admin(
    client, db, admin_headers, user_headers, editor_headers, admin_app_headers, method, path
):
    page = create(client, admin_headers, title="About")
    path = path.replace("/1", f"/{page['id']}")
    for headers in ({}, user_headers, editor_headers, admin_app_headers):
        response = client.request(method.upper(), path, json={"title": "Changed"}, headers=headers)
        assert response.status_code == 403
    assert client.get("/api/pages/about").json()["title"] == "About"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 1


def test_services_for_the_web_pages(client, db, admin_headers):
    create(client, admin_headers, title="About")
    create(client, admin_headers, title="Draft", visible=False)
    with db.session(write=False) as s:
        assert pages_service.footer_links(s) == [{"href": "/p/about", "label": "About"}]
        assert pages_service.visible_page(s, "about")["title"] == "About"
        with pytest.raises(NotFound):
            pages_service.visible_page(s, "draft")
