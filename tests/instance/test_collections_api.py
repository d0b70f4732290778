"""Collection and filter routes (gancio-api.md §2.7): wire shapes, guards and Gancio's quirks."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from piazza.instance.models import Collection, Filter
from tests.factories import make_collection

ADMIN_ROUTES = [
    ("post", "/api/collections", {"name": "x"}),
    ("delete", "/api/collection/1", None),
    ("put", "/api/collection/toggle/1", None),
    ("put", "/api/collection/moveup/1", None),
    ("get", "/api/filter/1", None),
    ("post", "/api/filter", {"collectionId": 1, "tags": ["a"]}),
    ("put", "/api/filter/1", {"tags": ["a"]}),
    ("delete", "/api/filter/1", None),
]


def call(client, method, path, body=None, headers=None):
    kwargs = {"headers": headers or {}}
    if body is not None:
        kwargs["json"] = body
    return client.request(method.upper(), path, **kwargs)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_anonymous_users_editors_and_app_tokens(
    client, db, method, path, body, user_headers, editor_headers, admin_app_headers
):
    collection_id = make_collection(db, "kept", {"tags": ["a"]})
    path = path.replace("/1", f"/{collection_id}")
    for headers in (None, user_headers, editor_headers):
        response = call(client, method, path, body, headers)
        assert response.status_code == 403, (headers, response.text)
    response = call(client, method, path, body, admin_app_headers)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Collection)) == 1
        assert s.get(Collection, collection_id).is_top is True
        assert s.scalar(select(func.count()).select_from(Filter)) == 1


def test_created_collection_is_pinned_and_goes_last(client, admin_headers):
    first = client.post("/api/collections", json={"name": "Music"}, headers=admin_headers)
    second = client.post("/api/collections", data={"name": "Theatre"}, headers=admin_headers)
    assert first.status_code == 200 and second.status_code == 200
    assert first.json() == {
        "id": first.json()["id"],
        "name": "Music",
        "isActor": True,
        "isTop": True,
        "sortIndex": 1,
    }
    assert second.json()["sortIndex"] == 2


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "x" * 256}])
def test_collection_without_a_usable_name_is_refused(client, admin_headers, body):
    response = client.post("/api/collections", json=body, headers=admin_headers)
    assert response.status_code == 400


def test_duplicate_collection_name_is_a_400(client, db, admin_headers):
    make_collection(db, "Music")
    response = client.post("/api/collections", json={"name": "Music"}, headers=admin_headers)
    assert response.status_code == 400
    assert "already exists" in response.text


def test_malformed_json_is_a_400(client, admin_headers):
    response = client.post(
        "/api/collections",
        content=b"{not json",
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert response.status_code == 400


def test_list_is_ordered_by_sort_index_without_filters_key(client, db):
    make_collection(db, "b", {"tags": ["x"]}, sort_index=2)
    make_collection(db, "a", sort_index=1, pinned=False)
    response = client.get("/api/collections")
    assert response.status_code == 200
    assert [c["name"] for c in response.json()] == ["a", "b"]
    assert all("filters" not in c for c in response.json())
    assert set(response.json()[0]) == {"id", "name", "isActor", "isTop", "sortIndex"}


def test_with_filters_true_in_any_case_adds_the_filters(client, db):
    collection_id = make_collection(db, "music", {"tags": ["jazz"], "negate": True})
    make_collection(db, "empty")
    response = client.get("/api/collections", params={"withFilters": "TRUE"})
    music, empty = response.json()
    assert empty["filters"] == []
    assert music["filters"] == [
        {
            "id": music["filters"][0]["id"],
            "negate": True,
            "tags": ["jazz"],
            "places": [],
            "actors": [],
            "collectionId": collection_id,
        }
    ]


def test_with_filters_false_is_like_absent_for_filters(client, db):
    make_collection(db, "music", {"tags": ["jazz"]})
    response = client.get("/api/collections", params={"withFilters": "false"})
    assert "filters" not in response.json()[0]


def test_pin_lists_only_pinned_collections_when_with_filters_is_absent(client, db):
    make_collection(db, "pinned")
    make_collection(db, "unpinned", pinned=False)
    assert [c["name"] for c in client.get("/api/collections?pin=1").json()] == ["pinned"]
    # With `withFilters` present, even false, `pin` is not looked at (§2.7).
    both = client.get("/api/collections?pin=1&withFilters=false").json()
    assert [c["name"] for c in both] == ["pinned", "unpinned"]
    with_filters = client.get("/api/collections?pin=1&withFilters=true").json()
    assert [c["name"] for c in with_filters] == ["pinned", "unpinned"]
    assert client.get("/api/collections?pin=").json() == both


def test_delete_collection_removes_it_and_its_filters(client, db, admin_headers):
    collection_id = make_collection(db, "music", {"tags": ["jazz"]}, {"tags": ["rock"]})
    response = client.delete(f"/api/collection/{collection_id}", headers=admin_headers)
    assert response.status_code == 200
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Collection)) == 0
        assert s.scalar(select(func.count()).select_from(Filter)) == 0
    again = client.delete(f"/api/collection/{collection_id}", headers=admin_headers)
    assert again.status_code == 404


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "99999999999999999999999"])
def test_unusable_ids_in_paths_are_404(client, admin_headers, bad):
    assert client.delete(f"/api/collection/{bad}", headers=admin_headers).status_code == 404
    assert client.put(f"/api/collection/toggle/{bad}", headers=admin_headers).status_code == 404
    assert client.put(f"/api/filter/{bad}", json={}, headers=admin_headers).status_code == 404
    assert client.delete(f"/api/filter/{bad}", headers=admin_headers).status_code == 404


def test_toggle_returns_the_previous_pin_and_flips_it(client, db, admin_headers):
    collection_id = make_collection(db, "music")
    first = client.put(f"/api/collection/toggle/{collection_id}", headers=admin_headers)
    assert first.status_code == 200 and first.json() is True
    with db.session() as s:
        assert s.get(Collection, collection_id).is_top is False
    second = client.put(f"/api/collection/toggle/{collection_id}", headers=admin_headers)
    assert second.json() is False
    with db.session() as s:
        assert s.get(Collection, collection_id).is_top is True
    assert client.put("/api/collection/toggle/999", headers=admin_headers).status_code == 404


def test_moveup_swaps_with_the_collection_just_before(client, db, admin_headers):
    make_collection(db, "a", sort_index=1)
    make_collection(db, "b", sort_index=3)
    make_collection(db, "c", sort_index=7)
    response = client.put("/api/collection/moveup/7", headers=admin_headers)
    assert response.status_code == 200
    listed = client.get("/api/collections").json()
    assert [(c["name"], c["sortIndex"]) for c in listed] == [("a", 1), ("c", 3), ("b", 7)]


@pytest.mark.parametrize("index", ["1", "5", "x"])
def test_moveup_without_two_collections_to_swap_is_404(client, db, admin_headers, index):
    make_collection(db, "a", sort_index=1)
    assert client.put(f"/api/collection/moveup/{index}", headers=admin_headers).status_code == 404


def test_created_filter_echoes_only_the_given_keys_plus_id(client, db, admin_headers):
    collection_id = make_collection(db, "music")
    response = client.post(
        "/api/filter", json={"collectionId": collection_id, "tags": ["jazz"]}, headers=admin_headers
    )
    assert response.status_code == 200
    created = response.json()
    assert created == {"id": created["id"], "collectionId": collection_id, "tags": ["jazz"]}
    listed = client.get(f"/api/filter/{collection_id}", headers=admin_headers).json()
    assert listed == [
        {
            "id": created["id"],
            "negate": False,
            "tags": ["jazz"],
            "places": [],
            "actors": [],
            "collectionId": collection_id,
        }
    ]


def test_filter_places_are_stored_as_id_and_name(client, db, admin_headers):
    collection_id = make_collection(db, "music")
    body = {
        "collectionId": str(collection_id),
        "places": [{"id": 3, "name": "Hall"}, 4],
        "actors": [{"ap_id": None}],
        "negate": True,
    }
    created = client.post("/api/filter", json=body, headers=admin_headers).json()
    assert created["places"] == [{"id": 3, "name": "Hall"}, {"id": 4, "name": None}]
    assert created["actors"] == [{"ap_id": None}]
    assert created["negate"] is True


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"collectionId": "abc", "tags": ["a"]},
        {"collectionId": 999, "tags": ["a"]},
        {"collectionId": "COLLECTION", "tags": "jazz"},
        {"collectionId": "COLLECTION", "tags": [1]},
        {"collectionId": "COLLECTION", "places": [{"name": "no id"}]},
        {"collectionId": "COLLECTION", "places": [{"id": True}]},
        {"collectionId": "COLLECTION", "actors": ["x"]},
        {"collectionId": "COLLECTION", "actors": [{"ap_id": 5}]},
        {"collectionId": "COLLECTION", "negate": "maybe"},
        {"collectionId": "COLLECTION", "tags": ["a"] * 101},
    ],
)
def test_bad_filter_bodies_are_400_and_write_nothing(client, db, admin_headers, body):
    collection_id = make_collection(db, "music")
    body = {k: (collection_id if v == "COLLECTION" else v) for k, v in body.items()}
    response = client.post("/api/filter", json=body, headers=admin_headers)
    assert response.status_code == 400, response.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Filter)) == 0


def test_update_filter_changes_the_given_parts(client, db, admin_headers):
    collection_id = make_collection(db, "music", {"tags": ["jazz"]})
    filter_id = client.get(f"/api/filter/{collection_id}", headers=admin_headers).json()[0]["id"]
    response = client.put(
        f"/api/filter/{filter_id}", json={"negate": True, "places": [{"id": 2}]}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": filter_id,
        "negate": True,
        "tags": ["jazz"],
        "places": [{"id": 2, "name": None}],
        "actors": [],
        "collectionId": collection_id,
    }
    bad = client.put(f"/api/filter/{filter_id}", json={"tags": "x"}, headers=admin_headers)
    assert bad.status_code == 400
    assert client.put("/api/filter/999", json={}, headers=admin_headers).status_code == 404


def test_delete_filter(client, db, admin_headers):
    collection_id = make_collection(db, "music", {"tags": ["jazz"]})
    filter_id = client.get(f"/api/filter/{collection_id}", headers=admin_headers).json()[0]["id"]
    assert client.delete(f"/api/filter/{filter_id}", headers=admin_headers).status_code == 200
    assert client.get(f"/api/filter/{collection_id}", headers=admin_headers).json() == []
    assert client.delete(f"/api/filter/{filter_id}", headers=admin_headers).status_code == 404


def test_filters_of_an_unknown_collection_are_empty(client, admin_headers):
    assert client.get("/api/filter/999", headers=admin_headers).json() == []
    assert client.get("/api/filter/abc", headers=admin_headers).json() == []
