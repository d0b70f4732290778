"""OpenAPI fragments of the event, place and tag routes (gancio-api.md §2.3, §2.5, §2.6, §5.10)."""

from __future__ import annotations

from piazza.events.queries import MAX_PAGE, MAX_PAGE_SIZE
from piazza.openapi import FLAG, ID, STRING, Schema, array_of, object_of, request_body

UNIX_SECONDS: Schema = {"type": ["integer", "string"], "description": "unix seconds"}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}

# The fields of `POST /api/event` (§2.3); `PUT` adds the `id`.
EVENT_FIELDS: Schema = {
    "title": STRING,
    "description": STRING,
    "start_datetime": UNIX_SECONDS,
    "end_datetime": UNIX_SECONDS,
    "multidate": FLAG,
    "place_id": {"type": ["integer", "string"]},
    "place_name": STRING,
    "place_address": STRING,
    "place_latitude": {"type": ["number", "string"]},
    "place_longitude": {"type": ["number", "string"]},
    "online_locations": array_of(STRING),
    "tags": array_of(STRING),
    "recurrent": {"type": "string", "description": 'JSON text, e.g. {"frequency":"1w"}'},
    "image_url": STRING,
    "image_name": STRING,
    "image_focalpoint": {"type": "string", "description": '"x,y"'},
}
EVENT_CREATE_BODY = request_body(
    EVENT_FIELDS, required=["title", "start_datetime"], multipart=True, files=["image"], body_required=True
)
EVENT_UPDATE_BODY = request_body(
    {"id": {"type": ["integer", "string"]}, **EVENT_FIELDS},
    required=["id"],
    multipart=True,
    files=["image"],
    body_required=True,
)
PLACE_UPDATE_BODY = request_body(
    {
        "id": {"type": ["integer", "string"]},
        "name": STRING,
        "address": STRING,
        "latitude": {"type": ["number", "string", "null"]},
        "longitude": {"type": ["number", "string", "null"]},
    },
    required=["id"],
    multipart=True,
    body_required=True,
)
ASSIGN_AUTHOR_BODY = request_body(
    {"id": {"type": ["integer", "string"]}, "user_id": {"type": ["integer", "string", "null"]}},
    required=["id"],
    body_required=True,
)
TAG_RENAME_BODY = request_body({"tag": STRING, "newTag": STRING}, required=["tag", "newTag"], multipart=True)

PLACE_SHORT = object_of(
    {
        "id": ID,
        "name": STRING,
        "address": {"type": ["string", "null"]},
        "latitude": {"type": ["number", "null"]},
        "longitude": {"type": ["number", "null"]},
    },
    required=["id", "name"],
)
# The keys every event shape shares (§2.3.9); each shape adds its own.
EVENT = object_of(
    {
        "id": ID,
        "title": STRING,
        "slug": STRING,
        "start_datetime": {"type": "integer"},
        "end_datetime": NULLABLE_INT,
        "tags": array_of(STRING),
        "place": {"type": ["object", "null"]},
        "online_locations": {"type": ["array", "null"]},
        "media": {"type": ["array", "null"]},
    },
    required=["id", "title", "start_datetime"],
)
EVENT_LIST = array_of(EVENT)

LISTING_PARAMETERS: list[Schema] = [
    {
        "name": "start",
        "in": "query",
        "schema": {"type": "integer"},
        "description": "unix seconds; default now",
    },
    {"name": "end", "in": "query", "schema": {"type": "integer"}, "description": "unix seconds"},
    {"name": "older", "in": "query", "schema": STRING, "description": "any non-empty value is true"},
    {"name": "tags", "in": "query", "schema": STRING, "description": "comma separated"},
    {"name": "places", "in": "query", "schema": STRING, "description": "comma separated place ids"},
    {"name": "query", "in": "query", "schema": STRING},
    {
        "name": "max",
        "in": "query",
        "schema": {"type": "integer"},
        "description": f"page size; at most {MAX_PAGE_SIZE} (larger values mean {MAX_PAGE_SIZE}); "
        "0, negative or absent means no limit, as in Gancio",
    },
    {
        "name": "page",
        "in": "query",
        "schema": {"type": "integer"},
        "description": f"page number from 0 (with max); negative means 0, at most {MAX_PAGE}",
    },
    {"name": "show_recurrent", "in": "query", "schema": STRING, "description": '"true" or "false"'},
    {"name": "show_multidate", "in": "query", "schema": STRING, "description": '"true" or "false"'},
]

MEDIA: Schema = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
# `/feed/{fmt}`: fmt is rss, ics or json (§5.11); an unknown format is a plain-text 404.
FEED: Schema = {
    "application/rss+xml": {"schema": STRING},
    "text/calendar": {"schema": STRING},
    "application/json": {"schema": {"type": ["array", "object"]}},
}
