"""The floor: `GET /api/events?max=50` with Piazza's own listing SQL (settings, events, tags), through
bare `sqlite3` and a bare Starlette route (no middleware, no thread pool, one connection per worker).

It shows what this machine allows for that answer, so Piazza's figures read as a ratio to it. Run by
bench/run.py as `uvicorn floor:app --workers 2` with FLOOR_DATABASE set to the seeded SQLite file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from sqlalchemy.dialects import sqlite
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from piazza.events.queries import LISTING_SETTINGS, ListingQuery, ListingSettings, listing_statement
from piazza.instance.settings import settings_statement


def _compiled_listing() -> tuple[str, list[str], dict[str, object]]:
    """Piazza's listing statement for `?max=50`, compiled once for SQLite: its text, its parameter order
    and its fixed parameters."""
    stmt, _ = listing_statement(ListingQuery(start=0, limit=50), ListingSettings.of({}))
    compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
    return str(compiled), list(compiled.positiontup or []), dict(compiled.params)


SQL, PARAM_ORDER, FIXED_PARAMS = _compiled_listing()
_settings = settings_statement(LISTING_SETTINGS).compile(
    dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True}
)
SETTINGS_SQL, SETTINGS_PARAMS = (
    str(_settings),
    [_settings.params[name] for name in _settings.positiontup or []],
)
TAGS_SQL = "SELECT event_id, tag FROM event_tags WHERE event_id IN ({}) ORDER BY event_id, created_at, tag"

connection = sqlite3.connect(os.environ.get("FLOOR_DATABASE", ":memory:"), check_same_thread=False)
connection.row_factory = sqlite3.Row


def _event(row: sqlite3.Row, tags: list[str]) -> dict[str, object]:
    return {
        "id": row["id"],
        "title": row["title"],
        "slug": row["slug"],
        "multidate": row["multidate"],
        "start_datetime": row["start_datetime"],
        "end_datetime": row["end_datetime"],
        "media": json.loads(row["media"] or "[]"),
        "online_locations": json.loads(row["online_locations"] or "[]"),
        "updatedAt": row["updated_at"],
        "ap_user_ap_id": row["ap_user_ap_id"],
        "parentId": row["parent_id"],
        "place": {
            "id": row["place_id"],
            "name": row["place_name"],
            "address": row["place_address"],
            "latitude": row["place_latitude"],
            "longitude": row["place_longitude"],
        },
        "tags": tags,
    }


async def events(request: Request) -> Response:
    limit = int(request.query_params.get("max", "50"))
    # Read as Piazza reads them before the listing; the floor's statement is built for the defaults.
    connection.execute(SETTINGS_SQL, SETTINGS_PARAMS).fetchall()
    values = {**FIXED_PARAMS, "start": int(time.time()), "limit": limit, "offset": 0, "upcoming_limit": limit}
    rows = connection.execute(SQL, [values[name] for name in PARAM_ORDER]).fetchall()
    ids = [row["id"] for row in rows]
    tags: dict[int, list[str]] = {event_id: [] for event_id in ids}
    if ids:
        for event_id, tag in connection.execute(TAGS_SQL.format(",".join("?" * len(ids))), ids):
            tags[event_id].append(tag)
    body = json.dumps([_event(row, tags[row["id"]]) for row in rows], separators=(",", ":"))
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/api/events", events)])
