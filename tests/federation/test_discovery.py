"""WebFinger, NodeInfo, host-meta, the instance actor and its followers (gancio-federation.md §2, §3)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from piazza.db import Database
from piazza.federation.models import Actor, Resource
from piazza.federation.signatures import sign_request, verify_request
from tests.factories import make_event, make_user
from tests.federation.conftest import set_settings

BASE = "http://testserver"
ACTOR = f"{BASE}/federation/u/events"
AP = "application/activity+json; charset=utf-8"
MASTODON_ACCEPT = (
    'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ROUTES = [
    "/.well-known/webfinger?resource=acct:events@testserver",
    "/.well-known/nodeinfo",
    "/nodeinfo/2.0",
    "/nodeinfo/2.1",
    "/.well-known/nodeinfo/2.0",
    "/.well-known/host-meta",
    "/federation/u/events",
    "/federation/u/events/followers",
    "/federation/m/1",
    "/federation/m/1.json",
    "/federation/p/1",
]


def test_webfinger(client: TestClient, federation_on: None) -> None:
    response = client.get("/.well-known/webfinger", params={"resource": "acct:events@testserver"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jrd+json; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["subject"] == "acct:events@testserver"
    assert body["links"][0] == {"rel": "self", "type": "application/activity+json", "href": ACTOR}
    assert {
        "rel": "http://webfinger.net/rel/avatar",
        "type": "image/png",
        "href": f"{BASE}/logo.png",
    } in body["links"]
    # the actor URL is accepted as a resource too (§19.1)
    assert (
        client.get("/.well-known/webfinger", params={"resource": ACTOR}).json()["subject"] == body["subject"]
    )


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        (None, 400),
        ("https://elsewhere.example/u/x", 400),
        ("acct:events@other.example", 400),
        ("acct:events", 400),
        ("acct:relay@testserver", 404),
    ],
)
def test_webfinger_refusals(
    client: TestClient, federation_on: None, resource: str | None, status: int
) -> None:
    response = client.get("/.well-known/webfinger", params={"resource": resource} if resource else {})
    assert response.status_code == status
    if status == 404:
        assert response.text == "No record found for relay"
    else:
        assert response.text.startswith('Bad request. Please make sure "acct:USER@DOMAIN"')


def test_webfinger_host_includes_the_port(make_config, federation_on: None, db: Database) -> None:
    from piazza.app import create_app

    app = create_app(make_config(base_url="http://piazza.example:8080"))
    try:
        with TestClient(app) as other:
            ok = other.get("/.well-known/webfinger", params={"resource": "acct:events@piazza.example:8080"})
            bare = other.get("/.well-known/webfinger", params={"resource": "acct:events@piazza.example"})
    finally:
        app.state.db.dispose()
    assert ok.status_code == 200
    assert ok.json()["links"][0]["href"] == "http://piazza.example:8080/federation/u/events"
    assert bare.status_code == 400


def test_nodeinfo_index_lists_a_schema_link_first(client: TestClient, federation_on: None) -> None:
    response = client.get("/.well-known/nodeinfo")
    assert response.status_code == 200
    links = response.json()["links"]
    assert links[0] == {
        "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
        "href": f"{BASE}/nodeinfo/2.0",
    }
    assert links[1] == {
        "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
        "href": f"{BASE}/nodeinfo/2.1",
    }
    assert links[2] == {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": ACTOR}


@pytest.mark.parametrize("path", ["/nodeinfo/2.0", "/nodeinfo/2.1", "/.well-known/nodeinfo/2.1"])
def test_nodeinfo_document(client: TestClient, federation_on: None, db: Database, path: str) -> None:
    user = make_user(db, "someone@example.org")
    make_event(db, user, title="Public", visible=True)
    make_event(db, user, title="Hidden", visible=False)
    body = client.get(path).json()
    assert body["version"] == path.rsplit("/", 1)[1]
    assert body["software"]["name"] == "piazza"
    assert body["protocols"] == ["activitypub"]
    assert body["services"] == {"inbound": [], "outbound": ["rss2.0"]}
    assert body["openRegistrations"] is True
    # local public events only (Gancio counts hidden and remote ones too, §20)
    assert body["usage"] == {"users": {"total": 1}, "localPosts": 1, "localComments": 0}
    assert body["metadata"] == {
        "nodeName": "Piazza Test",
        "nodeDescription": "Ours",
        "nodeTimezone": "Europe/Rome",
        "nodeActor": "events",
    }


def test_nodeinfo_other_versions_are_404(client: TestClient, federation_on: None) -> None:
    assert client.get("/nodeinfo/1.0").status_code == 404
    assert client.get("/nodeinfo/anything").status_code == 404


def test_host_meta(client: TestClient, federation_on: None) -> None:
    response = client.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xrd+xml; charset=utf-8"
    assert f'template="{BASE}/.well-known/webfinger?resource={{uri}}"' in response.text
    assert 'rel="lrdd"' in response.text


def test_actor_document(client: TestClient, federation_on: None) -> None:
    response = client.get("/federation/u/events", headers={"Accept": MASTODON_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"] == AP
    actor = response.json()
    assert actor["@context"][:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    assert actor["id"] == actor["url"] == ACTOR
    assert actor["type"] == "Application"
    assert actor["preferredUsername"] == "events"
    assert actor["name"] == "Piazza Test"
    assert actor["summary"] == "Ours"
    assert actor["inbox"] == f"{ACTOR}/inbox"
    assert actor["endpoints"] == {"sharedInbox": f"{ACTOR}/inbox"}
    assert actor["outbox"] == f"{ACTOR}/outbox"
    assert actor["followers"] == f"{ACTOR}/followers"
    assert actor["manuallyApprovesFollowers"] is False
    assert actor["discoverable"] is True and actor["indexable"] is True
    assert actor["icon"] == {"type": "Image", "mediaType": "image/png", "url": f"{BASE}/logo.png"}
    assert actor["attachment"] == [
        {"type": "PropertyValue", "name": "Website", "value": f"<a href='{BASE}'>{BASE}</a>"}
    ]
    key = actor["publicKey"]
    assert key["id"] == f"{ACTOR}#main-key"
    assert key["owner"] == ACTOR
    assert key["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in response.text
    # the same key on every request: generated once
    assert client.get("/federation/u/events").json()["publicKey"] == key


def test_actor_key_verifies_what_the_instance_signs(
    client: TestClient, federation_on: None, db: Database
) -> None:
    from piazza.federation.keys import ensure_key_pair

    pem = client.get("/federation/u/events").json()["publicKey"]["publicKeyPem"]
    url = "https://remote.example/inbox"
    headers = sign_request(ensure_key_pair(db).private_key_pem, f"{ACTOR}#main-key", "POST", url, b"{}")
    verify_request("POST", "/inbox", headers, b"{}", pem)


def test_actor_negotiation_and_names(client: TestClient, federation_on: None) -> None:
    browser = client.get("/federation/u/events", headers={"Accept": BROWSER}, follow_redirects=False)
    assert browser.status_code == 302 and browser.headers["location"] == "/"
    for accept in ("*/*", "application/json", "application/activity+json"):
        assert client.get("/federation/u/events", headers={"Accept": accept}).headers["content-type"] == AP
    other = client.get("/federation/u/relay")
    assert other.status_code == 404 and other.text == "No record found for relay"


def test_followers_collection_counts_followers(client: TestClient, federation_on: None, db: Database) -> None:
    with db.session() as s:
        s.add(Actor(ap_id="https://a.example/u/1", follower=True))
        s.add(Actor(ap_id="https://a.example/u/2", follower=True))
        s.add(Actor(ap_id="https://a.example/u/3", follower=True, blocked=True))
        s.add(Actor(ap_id="https://a.example/u/4", trusted=True))
    response = client.get("/federation/u/events/followers")
    assert response.status_code == 200
    assert response.headers["content-type"] == AP
    assert response.json() == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{ACTOR}/followers",
        "type": "OrderedCollection",
        "totalItems": 2,
    }
    assert "a.example" not in response.text
    assert client.get("/federation/u/relay/followers").status_code == 404


def test_comments_counted_in_nodeinfo(client: TestClient, federation_on: None, db: Database) -> None:
    event = make_event(db, title="Commented", visible=True)
    with db.session() as s:
        s.add(Actor(ap_id="https://a.example/u/1"))
        s.flush()
        s.add(
            Resource(
                activitypub_id="https://a.example/n/1",
                event_id=event["id"],
                actor_ap_id="https://a.example/u/1",
            )
        )
        s.add(
            Resource(
                activitypub_id="https://a.example/n/2",
                event_id=event["id"],
                actor_ap_id="https://a.example/u/1",
                hidden=True,
            )
        )
    assert client.get("/nodeinfo/2.1").json()["usage"]["localComments"] == 1


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_is_404_while_federation_is_off(client: TestClient, db: Database, path: str) -> None:
    make_event(db, title="Public", visible=True)
    for value in (None, False):
        if value is not None:
            set_settings(db, enable_federation=value)
        response = client.get(path, headers={"Accept": MASTODON_ACCEPT})
        assert response.status_code == 404, (value, path)
        assert response.text == "Federation disabled"


def test_federation_off_creates_no_key(client: TestClient, db: Database) -> None:
    from sqlalchemy import func, select

    from piazza.federation.models import InstanceKey

    client.get("/federation/u/relay")
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(InstanceKey)) == 0
