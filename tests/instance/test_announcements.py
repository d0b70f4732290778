"""Announcements (gancio-api.md §2.8): routes, guards, sanitizing, and hidden ones kept private."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from piazza.instance import announcements_service
from piazza.instance.models import Announcement


def create(client, headers, **body):
    response = client.post("/api/announcements", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_created_announcement_is_visible_with_gancio_keys(client, admin_headers):
    item = create(client, admin_headers, title="Welcome", announcement="<p>Hi</p>", visible=False)
    assert set(item) == {"id", "title", "announcement", "visible", "createdAt", "updatedAt"}
    assert item["visible"] is True  # created visible, whatever is sent (§2.8)
    assert item["announcement"] == "<p>Hi</p>" and item["createdAt"].endswith("Z")


def test_announcement_html_is_sanitized(client, admin_headers):
    item = create(
        client,
        admin_headers,
        title="<b>Title stays text</b>",
        announcement='<p style="x" onmouseover="steal()">Hi</p><script>steal()</script><iframe src="https://x"></iframe>',
    )
    assert item["announcement"] == "<p>Hi</p>"
    assert item["title"] == "<b>Title stays text</b>"  # a title is text, escaped where shown
    updated = client.put(
        f"/api/announcements/{item['id']}",
        json={"announcement": '<a href="javascript:steal()">x</a>'},
        headers=admin_headers,
    )
    assert updated.json()["announcement"] == "<a>x</a>"


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"title": "t", "announcement": ["x"]}])
def test_bad_announcement_bodies_are_400(client, db, admin_headers, body):
    assert client.post("/api/announcements", json=body, headers=admin_headers).status_code == 400
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Announcement)) == 0


def test_admin_lists_all_announcements(client, admin_headers):
    first = create(client, admin_headers, title="One")
    create(client, admin_headers, title="Two")
    client.put(f"/api/announcements/{first['id']}", json={"visible": False}, headers=admin_headers)
    listed = client.get("/api/announcements", headers=admin_headers).json()
    assert [(a["title"], a["visible"]) for a in listed] == [("One", False), ("Two", True)]


def test_anyone_reads_a_visible_announcement(client, admin_headers):
    item = create(client, admin_headers, title="One")
    response = client.get(f"/api/announcements/{item['id']}")
    assert response.status_code == 200 and response.json() == item


def test_hidden_announcements_are_404_for_everyone_but_admins(
    client, admin_headers, user_headers, editor_headers
):
    item = create(client, admin_headers, title="Draft")
    client.put(f"/api/announcements/{item['id']}", json={"visible": False}, headers=admin_headers)
    for headers in ({}, user_headers, editor_headers):
        assert client.get(f"/api/announcements/{item['id']}", headers=headers).status_code == 404
    assert client.get(f"/api/announcements/{item['id']}", headers=admin_headers).json()["title"] == "Draft"


def test_unknown_announcement_is_null_for_admins_and_404_for_others(client, admin_headers):
    response = client.get("/api/announcements/999", headers=admin_headers)
    assert response.status_code == 200 and response.json() is None  # Gancio's answer (verified)
    assert client.get("/api/announcements/abc", headers=admin_headers).json() is None
    assert client.get("/api/announcements/999").status_code == 404
    assert client.get("/api/announcements/abc").status_code == 404


def test_update_changes_the_given_fields(client, admin_headers):
    item = create(client, admin_headers, title="One", announcement="<p>a</p>")
    response = client.put(
        f"/api/announcements/{item['id']}", json={"title": "Uno", "visible": "false"}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Uno" and response.json()["visible"] is False
    assert response.json()["announcement"] == "<p>a</p>"
    assert client.put("/api/announcements/999", json={}, headers=admin_headers).status_code == 404
    bad = client.put(f"/api/announcements/{item['id']}", json={"visible": "x"}, headers=admin_headers)
    assert bad.status_code == 400


def test_delete_announcement(client, admin_headers):
    item = create(client, admin_headers, title="One")
    assert client.delete(f"/api/announcements/{item['id']}", headers=admin_headers).status_code == 200
    assert client.delete(f"/api/announcements/{item['id']}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/announcements"),
        ("post", "/api/announcements"),
        ("put", "/api/announcements/ID"),
        ("delete", "/api/announcements/ID"),
    ],
)
def test_announcement_admin_routes_refuse_others(
    client, db, admin_headers, user_headers, editor_headers, admin_app_headers, method, path
):
    item = create(client, admin_headers, title="One")
    path = path.replace("ID", str(item["id"]))
    for headers in ({}, user_headers, editor_headers, admin_app_headers):
        response = client.request(method.upper(), path, json={"title": "Changed"}, headers=headers)
        assert response.status_code == 403
    assert client.get(f"/api/announcements/{item['id']}").json()["title"] == "One"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Announcement)) == 1


def test_home_page_service_lists_visible_announcements_newest_first(client, db, admin_headers):
    create(client, admin_headers, title="Old")
    hidden = create(client, admin_headers, title="Hidden")
    create(client, admin_headers, title="New")
    client.put(f"/api/announcements/{hidden['id']}", json={"visible": False}, headers=admin_headers)
    with db.session(write=False) as s:
        titles = [a["title"] for a in announcements_service.visible_announcements(s)]
    assert titles == ["New", "Old"]
