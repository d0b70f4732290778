"""The documents that let the fediverse find the instance: WebFinger, NodeInfo, host-meta, the instance
actor and its followers collection (gancio-federation.md §2, §3). Pure builders and the reads they need;
the routes are in federation/api.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import piazza
from piazza.accounts.models import User
from piazza.db import Database
from piazza.errors import Invalid, NotFound
from piazza.events.models import Event
from piazza.federation.keys import ensure_key_pair
from piazza.federation.models import Actor, Resource
from piazza.instance.settings import get_settings_of

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
APPLICATION_REL = "https://www.w3.org/ns/activitystreams#Application"  # FEP-2677
NODEINFO_VERSIONS = ("2.0", "2.1")
NODEINFO_REL = "http://nodeinfo.diaspora.software/ns/schema/{}"
ACTOR_CONTEXT: list[Any] = [
    AS_CONTEXT,
    "https://w3id.org/security/v1",
    {
        "toot": "http://joinmastodon.org/ns#",
        "schema": "http://schema.org#",
        # Gancio spells this key `ProperyValue`; nothing reads it by name, so the right spelling is safe.
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
    },
]
FEDERATION_KEYS = ("enable_federation", "instance_name", "title", "description")


class FederationDisabled(NotFound):
    """`enable_federation` is off: every federation route answers 404, as Gancio's WebFinger does."""

    def __init__(self) -> None:
        super().__init__("Federation disabled")


@dataclass(frozen=True)
class Identity:
    """What every federation document is built from."""

    base_url: str
    name: str  # instance_name: the actor's preferredUsername
    title: str
    description: str

    @property
    def actor(self) -> str:
        return f"{self.base_url}/federation/u/{self.name}"

    @property
    def host(self) -> str:
        """The host with its port when it has one, as Gancio's WebFinger compares it (§3.1)."""
        return urlsplit(self.base_url).netloc.lower()


def federation_identity(db: Session, base_url: str) -> Identity:
    """The instance's identity, or FederationDisabled."""
    settings = get_settings_of(db, base_url, FEDERATION_KEYS)
    if not settings["enable_federation"]:
        raise FederationDisabled()
    return Identity(
        base_url=base_url.rstrip("/"),
        name=str(settings["instance_name"]),
        title=str(settings["title"] or ""),
        description=str(settings["description"] or ""),
    )


def webfinger(identity: Identity, resource: str | None) -> dict[str, Any]:
    """§3.1, plus the actor URL itself as a resource (§19.1). Raises Invalid or NotFound."""
    message = (
        'Bad request. Please make sure "acct:USER@DOMAIN" is what you are sending as the "resource" '
        "query parameter."
    )
    if not resource:
        raise Invalid(message)
    if resource == identity.actor:
        user = identity.name
    else:
        if not resource.startswith("acct:") or "@" not in resource:
            raise Invalid(message)
        user, _, domain = resource[len("acct:") :].rpartition("@")
        if domain.lower() != identity.host:
            raise Invalid(message)
        if user != identity.name:
            raise NotFound(f"No record found for {user}")
    return {
        "subject": f"acct:{identity.name}@{identity.host}",
        "aliases": [identity.actor],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": identity.actor},
            {
                "rel": "http://webfinger.net/rel/avatar",
                "type": "image/png",
                "href": f"{identity.base_url}/logo.png",
            },
        ],
    }


def nodeinfo_index(identity: Identity) -> dict[str, Any]:
    """The schema links first: Gancio's discovery takes the first link, whatever its rel (§8)."""
    links: list[dict[str, str]] = [
        {"rel": NODEINFO_REL.format(version), "href": f"{identity.base_url}/nodeinfo/{version}"}
        for version in NODEINFO_VERSIONS
    ]
    links.append({"rel": APPLICATION_REL, "href": identity.actor})
    return {"links": links}


def nodeinfo(db: Session, base_url: str, version: str) -> dict[str, Any]:
    if version not in NODEINFO_VERSIONS:
        raise NotFound("Not found")
    identity = federation_identity(db, base_url)
    settings = get_settings_of(db, base_url, ("allow_registration", "instance_timezone"))
    local_posts = db.scalar(
        select(func.count()).select_from(Event).where(Event.is_visible.is_(True), Event.ap_id.is_(None))
    )
    comments = db.scalar(select(func.count()).select_from(Resource).where(Resource.hidden.is_(False)))
    users = db.scalar(select(func.count()).select_from(User))
    software: dict[str, Any] = {"name": "piazza", "version": piazza.__version__}
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["rss2.0"]},
        "openRegistrations": bool(settings["allow_registration"]),
        "usage": {
            "users": {"total": users or 0},
            "localPosts": local_posts or 0,
            "localComments": comments or 0,
        },
        "metadata": {
            "nodeName": identity.title,
            "nodeDescription": identity.description,
            "nodeTimezone": settings["instance_timezone"],
            "nodeActor": identity.name,
        },
    }


def host_meta(identity: Identity) -> str:
    template = quoteattr(f"{identity.base_url}/.well-known/webfinger?resource={{uri}}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/jrd+json" template={template}/>\n'
        "</XRD>\n"
    )


def _check_name(identity: Identity, name: str) -> None:
    if name != identity.name:
        raise NotFound(f"No record found for {name}")


def actor_document(identity: Identity, name: str, public_key_pem: str) -> dict[str, Any]:
    """§2.2, with the followers collection Gancio lacks (§19.1)."""
    _check_name(identity, name)
    actor = identity.actor
    base = identity.base_url
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor,
        "type": "Application",
        "url": actor,
        "name": identity.title,
        "preferredUsername": identity.name,
        "summary": identity.description,
        "inbox": f"{actor}/inbox",
        "outbox": f"{actor}/outbox",
        "followers": f"{actor}/followers",
        "endpoints": {"sharedInbox": f"{actor}/inbox"},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "attachment": [{"type": "PropertyValue", "name": "Website", "value": f"<a href='{base}'>{base}</a>"}],
        "icon": {"type": "Image", "mediaType": "image/png", "url": f"{base}/logo.png"},
        "publicKey": {"id": f"{actor}#main-key", "owner": actor, "publicKeyPem": public_key_pem},
    }


def load_actor(database: Database, base_url: str, name: str) -> dict[str, Any]:
    """The actor document; the key pair is created on the first call (federation/keys.py)."""
    with database.session(write=False) as db:
        identity = federation_identity(db, base_url)
    _check_name(identity, name)
    return actor_document(identity, name, ensure_key_pair(database).public_key_pem)


def followers_collection(db: Session, base_url: str, name: str) -> dict[str, Any]:
    """The count of followers (not blocked), not the list: who follows is not published."""
    identity = federation_identity(db, base_url)
    _check_name(identity, name)
    count = db.scalar(
        select(func.count()).select_from(Actor).where(Actor.follower.is_(True), Actor.blocked.is_(False))
    )
    return {
        "@context": AS_CONTEXT,
        "id": f"{identity.actor}/followers",
        "type": "OrderedCollection",
        "totalItems": count or 0,
    }
