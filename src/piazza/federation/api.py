"""Federation's read-only routes: discovery (/.well-known/...), the instance actor, its followers, and
the event and place objects (gancio-federation.md §1-§4). Every one answers 404 while the setting
`enable_federation` is off (discovery.FederationDisabled)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from piazza.federation import discovery, objects
from piazza.federation.negotiation import ACTIVITY_JSON, prefers_html
from piazza.openapi import STRING, operation
from piazza.responses import JSONResponse

# The /.well-known documents are in /openapi.json; the ActivityPub documents under /federation/ (which
# redirect browsers) and the second NodeInfo address are not.
router = APIRouter(tags=["federation"])
OBJECT = {"type": "object"}

# Gancio's /.well-known router answers everything with this, so browser apps can discover the instance.
CORS = {"Access-Control-Allow-Origin": "*"}


def activity_json(document: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(document, media_type=ACTIVITY_JSON, headers=headers)


def _base(request: Request) -> str:
    return str(request.app.state.config.base_url).rstrip("/")


@router.get(
    "/.well-known/webfinger",
    openapi_extra=operation(ok={"application/jrd+json; charset=utf-8": {"schema": OBJECT}}),
)
async def webfinger(request: Request, resource: str | None = None) -> Response:
    state = request.app.state
    identity = await state.db.read_small(discovery.federation_identity, _base(request))
    return JSONResponse(
        discovery.webfinger(identity, resource),
        media_type="application/jrd+json; charset=utf-8",
        headers=CORS,
    )


@router.get("/.well-known/nodeinfo", openapi_extra=operation(ok={"application/json": {"schema": OBJECT}}))
async def nodeinfo_index(request: Request) -> Response:
    identity = await request.app.state.db.read_small(discovery.federation_identity, _base(request))
    return JSONResponse(discovery.nodeinfo_index(identity), headers=CORS)


@router.get("/nodeinfo/{version}", include_in_schema=False)
@router.get(  # Gancio's own address of the document
    "/.well-known/nodeinfo/{version}", openapi_extra=operation(ok={"application/json": {"schema": OBJECT}})
)
async def nodeinfo(request: Request, version: str) -> Response:
    document = await request.app.state.db.read(discovery.nodeinfo, _base(request), version)
    return JSONResponse(document, headers=CORS)


@router.get(
    "/.well-known/host-meta",
    openapi_extra=operation(ok={"application/xrd+xml; charset=utf-8": {"schema": STRING}}),
)
async def host_meta(request: Request) -> Response:
    identity = await request.app.state.db.read_small(discovery.federation_identity, _base(request))
    return Response(
        discovery.host_meta(identity), media_type="application/xrd+xml; charset=utf-8", headers=CORS
    )


@router.get("/federation/u/{name}", include_in_schema=False)
async def actor(request: Request, name: str) -> Response:
    document = await run_in_threadpool(discovery.load_actor, request.app.state.db, _base(request), name)
    if prefers_html(request.headers.get("accept")):
        return RedirectResponse("/", status_code=302)  # Gancio 1.23+: a person opening the actor URL
    return activity_json(document)


@router.get("/federation/u/{name}/followers", include_in_schema=False)
async def followers(request: Request, name: str) -> Response:
    document = await request.app.state.db.read_small(discovery.followers_collection, _base(request), name)
    return activity_json(document)


@router.get("/federation/m/{event_id}", include_in_schema=False)
async def event_object(request: Request, event_id: str) -> Response:
    document = await request.app.state.db.read_small(objects.load_event_object, _base(request), event_id)
    if not event_id.endswith(".json") and prefers_html(request.headers.get("accept")):
        return RedirectResponse(str(document["url"]), status_code=302)
    return activity_json(document)


@router.get("/federation/p/{place_id}", include_in_schema=False)
async def place_object(request: Request, place_id: str) -> Response:
    document = await request.app.state.db.read_small(objects.load_place_object, _base(request), place_id)
    return activity_json(document)
