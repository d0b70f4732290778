"""Bulk seeding of a benchmark agenda, built with the service's own helpers.

Users and apps go through the service functions themselves (`accounts.service.create_user`,
`oauth.service.register_client`); occurrences through the generator's own pure functions
(`occurrences.next_dates` and `occurrence_values`, which `occurrences.generate_for_parent` runs).
Events, places, tags, occurrences and tokens are too many for one service call each, so they are
inserted in batches into the models' tables with the values built by the same helpers the service
uses: `slugs.slugify` plus the service's `-N` suffix rule for slugs, `str.casefold` for
tag keys (as `tags.normalize_tags`), `sanitize.sanitize_description` for descriptions,
`recurrence.validate_rule` for rules, `tokens.generate_token`/`tokens.digest` for tokens.

The agenda: events over the past ten years, except `upcoming` of them in the next 60 days (so the
feeds, which have no limit (gancio-api.md §5.11), carry that many events whatever the size), a tenth
of them recurrent parents with their next occurrence generated, 500 places, 2,000 tags (1 to 3 an
event).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert, select

from piazza.accounts.models import Role
from piazza.accounts.service import create_user
from piazza.db import Database
from piazza.events import occurrences, recurrence
from piazza.events.models import Event, EventTag, Place, Tag
from piazza.events.sanitize import sanitize_description
from piazza.events.slugs import slugify
from piazza.events.tags import tags_of
from piazza.oauth.models import SELF_CLIENT_ID, Token
from piazza.oauth.service import register_client
from piazza.oauth.tokens import digest, generate_token

YEAR = 365 * 86400
DAY = 86400
N_PLACES = 500
N_TAGS = 2000
N_USERS = 20
N_WRITE_TOKENS = 256
BATCH = 5000
PASSWORD = "bench password 1234"  # noqa: S105  (a throwaway account in a throwaway database)
WORDS = [
    "concert",
    "jazz",
    "market",
    "repair",
    "cafe",
    "reading",
    "assembly",
    "cinema",
    "walk",
    "garden",
    "workshop",
    "dance",
    "bike",
    "theatre",
    "kids",
    "choir",
    "poetry",
    "swap",
    "dinner",
    "lecture",
    "yoga",
    "chess",
    "football",
    "mural",
    "radio",
]
RULES = ({"frequency": "1w"}, {"frequency": "2w"}, {"frequency": "1m", "type": "ordinal"})


@dataclass
class Seeded:
    """What the load scripts need: credentials, slugs and tags that exist."""

    login_email: str
    login_password: str
    user_token: str  # first-party `self` token of an ordinary user: GET /api/user
    write_tokens: list[str]  # third-party tokens with scope event:write
    client_id: str
    client_secret: str
    refresh_tokens: list[str] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)  # of upcoming events
    tags: list[str] = field(default_factory=list)  # tags of upcoming events
    place_ids: list[int] = field(default_factory=list)
    occurrences: int = 0


Progress = Callable[[int], None]


def _unique_slugs(titles: list[str], taken: set[str]) -> list[str]:
    """slugify, then the service's rule for a taken slug: the first free `-N` (slugs.unique_slug)."""
    slugs = []
    for title in titles:
        base = slugify(title)
        slug, n = base, 0
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        slugs.append(slug)
    return slugs


def _seed_people(db: Database, n_refresh: int) -> Seeded:
    with db.session() as s:
        admin = create_user(s, "admin@bench.example", password=PASSWORD, role=Role.ADMIN)
        for i in range(N_USERS - 2):
            # Without a password (invited, not yet set): argon2 for each would only slow the seed.
            create_user(s, f"person{i}@bench.example")
        writer = create_user(s, "writer@bench.example", password=PASSWORD, role=Role.USER)
        app = register_client(s, "Bench importer", ["https://importer.example/callback"], "event:write", None)
        s.flush()
        user_token = generate_token()
        write_tokens = [generate_token() for _ in range(N_WRITE_TOKENS)]
        refresh_tokens = [generate_token() for _ in range(n_refresh)]
        rows = [_token_row(user_token, None, SELF_CLIENT_ID, writer.id, "")]
        rows += [
            _token_row(t, generate_token(), app.client.id, writer.id, "event:write") for t in write_tokens
        ]
        rows += [
            _token_row(generate_token(), t, app.client.id, writer.id, "event:write") for t in refresh_tokens
        ]
        for first in range(0, len(rows), BATCH):
            s.execute(insert(Token), rows[first : first + BATCH])
        return Seeded(
            login_email=admin.email,
            login_password=PASSWORD,
            user_token=user_token,
            write_tokens=write_tokens,
            client_id=app.client.id,
            client_secret=app.secret,
            refresh_tokens=refresh_tokens,
        )


def _token_row(
    access: str, refresh: str | None, client_id: str, user_id: int, scope: str
) -> dict[str, object]:
    """A token row as the grants store it: digests only, each token its own family."""
    return {
        "access_digest": digest(access),
        "refresh_digest": digest(refresh) if refresh else None,
        "client_id": client_id,
        "user_id": user_id,
        "scope": scope,
        "family_id": generate_token(),
    }


def seed(
    db: Database, n_events: int, *, now: int, upcoming: int, n_refresh: int, progress: Progress
) -> Seeded:
    """Fill an empty, migrated database; `progress(n)` is called as events are written."""
    rng = random.Random(42)  # noqa: S311  (reproducible test data, not secrets)
    seeded = _seed_people(db, n_refresh)
    created = datetime.now(UTC)
    description = sanitize_description(
        "<p>A description long enough to be realistic, with <a href='https://example.org'>a link</a>.</p>"
    )
    rules = [recurrence.validate_rule(rule) for rule in RULES]
    with db.session() as s:
        s.execute(
            insert(Place),
            [
                {"name": f"Place {i}", "address": f"Street {i}", "created_at": created, "updated_at": created}
                for i in range(1, N_PLACES + 1)
            ],
        )
        place_ids = list(s.scalars(select(Place.id)))
        tags = [f"{rng.choice(WORDS)}{i}" for i in range(N_TAGS)]
        s.execute(
            insert(Tag),
            [{"tag": t, "folded": t.casefold(), "created_at": created, "updated_at": created} for t in tags],
        )
    upcoming_ids = set(rng.sample(range(1, n_events + 1), min(upcoming, n_events)))
    taken: set[str] = set()
    for first in range(1, n_events + 1, BATCH):
        ids = range(first, min(first + BATCH, n_events + 1))
        titles = [f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {event_id}" for event_id in ids]
        rows, links = [], []
        for event_id, title, slug in zip(ids, titles, _unique_slugs(titles, taken), strict=True):
            if event_id in upcoming_ids:
                start = now + 3600 + rng.randrange(60 * DAY)
            else:
                start = now - 10 * YEAR + rng.randrange(10 * YEAR - DAY)
            is_recurrent = event_id not in upcoming_ids and rng.random() < 0.1
            rows.append(
                {
                    "id": event_id,
                    "title": title,
                    "slug": slug,
                    # Distinct texts, as real events have (feeds cache the plain text by description).
                    "description": f"{description}<p>Event {event_id}.</p>",
                    "multidate": rng.random() < 0.05,
                    "start_datetime": start,
                    "end_datetime": start + rng.choice((3600, 7200, 10800)),
                    "media": [],
                    "is_visible": rng.random() < 0.97 or event_id in upcoming_ids,
                    "recurrent": rng.choice(rules) if is_recurrent else None,
                    "likes": [],
                    "boost": [],
                    "online_locations": [],
                    "place_id": rng.choice(place_ids),
                    "created_at": created,
                    "updated_at": created,
                }
            )
            event_tags = rng.sample(tags, rng.randrange(1, 4))
            links.extend({"event_id": event_id, "tag": tag, "created_at": created} for tag in event_tags)
            if event_id in upcoming_ids:
                seeded.slugs.append(slug)
                seeded.tags.extend(event_tags)
        with db.session() as s:
            # On the connection: a Core executemany, without the ORM's bulk-insert bookkeeping.
            s.connection().execute(insert(Event), rows)
            s.connection().execute(insert(EventTag), links)
        progress(len(ids))
    seeded.occurrences = _seed_occurrences(db, first_id=n_events + 1, now=now, created=created, taken=taken)
    seeded.place_ids = place_ids
    return seeded


def _seed_occurrences(db: Database, *, first_id: int, now: int, created: datetime, taken: set[str]) -> int:
    """Each visible parent's first occurrence, dated and filled in by the service's own functions
    (occurrences.next_dates, occurrence_values; the slug by its rule) and inserted in batches. The
    seeded parents have no occurrence yet, so each one's `upcoming` is empty, as the generator would
    find it; the children's tags are the parents', read with tags_of as the generator does."""
    with db.session() as s:
        tz_name = occurrences.instance_timezone(s)
        parents = (
            s.connection()
            .execute(
                select(*occurrences.PARENT_COLUMNS)
                .where(Event.recurrent.is_not(None), Event.is_visible.is_(True), Event.parent_id.is_(None))
                .order_by(Event.id)
            )
            .mappings()
            .all()
        )
    child_id = first_id
    for first in range(0, len(parents), BATCH):
        batch = [parent for parent in parents[first : first + BATCH] if occurrences.is_generating(parent)]
        dated = [(parent, occurrences.next_dates(parent, [], now=now, tz_name=tz_name)) for parent in batch]
        dated = [(parent, dates) for parent, dates in dated if dates is not None]
        slugs = _unique_slugs([occurrences.occurrence_slug_source(parent) for parent, _dates in dated], taken)
        rows, links = [], []
        with db.session() as s:
            tags = tags_of(s, [parent["id"] for parent, _dates in dated])
            for (parent, dates), slug in zip(dated, slugs, strict=True):
                rows.append({"id": child_id, **occurrences.occurrence_values(parent, dates, slug, created)})
                links.extend(
                    {"event_id": child_id, "tag": tag, "created_at": created} for tag in tags[parent["id"]]
                )
                child_id += 1
            if rows:
                s.connection().execute(insert(Event), rows)
            if links:
                s.connection().execute(insert(EventTag), links)
    return child_id - first_id


def analyze(db: Database) -> None:
    """Fresh statistics for the planner, as a maintained database has. On PostgreSQL the events' id
    sequence is moved past the ids inserted here, as the service's own inserts would have left it."""
    with db.write_engine.connect() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('events', 'id'), max(id)) FROM events")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
