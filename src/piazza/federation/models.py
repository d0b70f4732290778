"""Federation tables (gancio-federation.md §15, §21): the instance's key pair, the remote servers and
actors it knows (followers, followed and trusted sources, blocked ones), and comments from the fediverse.

Gancio names: `instances` → `ap_instances`, `ap_users` → `ap_actors`, `resources` → `ap_resources`.
Remote events are rows of `events` with `ap_id` (their origin id), `ap_user_ap_id` (their actor) and
`ap_object` set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from piazza.db.base import Base, UTCDateTime, utcnow

AP_ID_LENGTH = 2048


class InstanceKey(Base):
    """The instance actor's RSA key pair (PEM). Remote servers cached the public key with the actor URL
    `<base_url>/federation/u/<instance_name>`: losing or changing it breaks every follow. One row."""

    __tablename__ = "ap_instance_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(Text)  # SPKI
    private_key_pem: Mapped[str] = mapped_column(Text)  # PKCS#8; a secret, never served
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Instance(Base):
    """A remote server, keyed by its host with port (Gancio's `instances`)."""

    __tablename__ = "ap_instances"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    blocked: Mapped[bool] = mapped_column(default=False)
    data: Mapped[Any] = mapped_column(JSON, default=dict)  # its NodeInfo document, or {}
    application_actor: Mapped[str | None] = mapped_column(String(AP_ID_LENGTH))  # FEP-2677
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Actor(Base):
    """A remote actor (Gancio's `ap_users`): a follower of the instance, a source it follows or trusts,
    or a blocked one. `object` is the actor document (inbox, endpoints.sharedInbox, publicKey, ...)."""

    __tablename__ = "ap_actors"
    __table_args__ = (Index("ix_ap_actors_follower", "follower"), Index("ix_ap_actors_trusted", "trusted"))

    ap_id: Mapped[str] = mapped_column(String(AP_ID_LENGTH), primary_key=True)
    object: Mapped[Any] = mapped_column(JSON, default=dict)
    instance_domain: Mapped[str | None] = mapped_column(
        ForeignKey("ap_instances.domain", ondelete="CASCADE"), index=True
    )
    follower: Mapped[bool] = mapped_column(default=False)  # follows this instance: receives its events
    following: Mapped[bool] = mapped_column(default=False)  # this instance follows it
    trusted: Mapped[bool] = mapped_column(default=False)  # its events are accepted and shown
    blocked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Resource(Base):
    """A comment from the fediverse on an event (Gancio's `resources`); `data` is the remote Note."""

    __tablename__ = "ap_resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    activitypub_id: Mapped[str] = mapped_column(String(AP_ID_LENGTH), unique=True)
    # Gancio keeps comments of deleted events with a NULL event; nobody can reach those, so they go too.
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    actor_ap_id: Mapped[str] = mapped_column(ForeignKey("ap_actors.ap_id", ondelete="CASCADE"), index=True)
    data: Mapped[Any] = mapped_column(JSON, default=dict)
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
