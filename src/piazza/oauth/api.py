"""OAuth routes on the wire: client registration and the apps list (Gancio's /api shapes), and the
token, login, revocation, introspection and metadata endpoints (RFC shapes)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse, Response

from piazza import json_input
from piazza.accounts.service import CheckedPassword, check_password
from piazza.app_state import app_state
from piazza.oauth.bearer import Caller, require
from piazza.oauth.endpoints import server_metadata
from piazza.oauth.openapi import (
    AUTHORIZED_APPS,
    CLIENT,
    INTROSPECTION,
    LOGIN_BODY,
    METADATA,
    OAUTH_ERRORS,
    REGISTERED_CLIENT,
    REGISTRATION_BODY,
    TOKEN,
    TOKEN_BODY,
    TOKEN_HINT_BODY,
)
from piazza.oauth.scopes import Permission
from piazza.oauth.server import Endpoint, OAuthRequest, PiazzaAuthorizationServer
from piazza.oauth.service import (
    RegistrationError,
    find_client,
    get_client,
    list_authorized_apps,
    register_client,
    revoke_app,
)
from piazza.openapi import STRING, TEXT, json_content, object_of, operation
from piazza.responses import JSONResponse

router = APIRouter()
FORM_TYPE = "application/x-www-form-urlencoded"
# RFC 6749 §5.1; exactly `application/json`, no charset, as Gancio sends (gancio-api.md §8).
TOKEN_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body as pairs. The OAuth endpoints read only this format (gancio-api.md §0.3)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return []
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


def oauth_request(request: Request, form: list[tuple[str, str]], *, with_query: bool) -> OAuthRequest:
    query = request.query_params.multi_items() if with_query else []
    return OAuthRequest(request.method, str(request.url), request.headers, query, form)


def _run_endpoint(
    db: Any,
    config: Any,
    kind: Endpoint,
    oreq: OAuthRequest,
    checked: CheckedPassword | None = None,
    client: Any = None,
) -> Response:
    server = PiazzaAuthorizationServer(db, config, kind, checked_password=checked, client_read_before=client)
    response: Response  # Authlib is untyped; PiazzaAuthorizationServer.handle_response makes these
    if kind == "revoke":
        response = server.create_endpoint_response("revocation", oreq)
    elif kind == "introspect":
        response = server.create_endpoint_response("introspection", oreq)
    else:
        response = server.create_token_response(oreq)
    return response


async def _endpoint(request: Request, kind: Endpoint) -> Response:
    # Parameters come from the body only: secrets in a query string end up in logs (RFC 6749 §3.2).
    form = await form_pairs(request)
    oreq = oauth_request(request, form, with_query=False)
    db = app_state(request).db
    # The client is looked up before the write transaction, which serialises every writer: one query
    # less under the write lock (server.query_client uses this row when the ids match).
    client_id = dict(form).get("client_id") or extract_basic_authorization(request.headers)[0]
    client = await db.read_small(find_client, client_id) if client_id else None
    return await db.write(_run_endpoint, app_state(request).config, kind, oreq, client=client)


@router.post(
    "/oauth/token",
    tags=["oauth"],
    openapi_extra=operation(body=TOKEN_BODY, ok=json_content(TOKEN), responses=OAUTH_ERRORS),
)
async def token(request: Request) -> Response:
    return await _endpoint(request, "token")


@router.post(
    "/oauth/login",
    tags=["oauth"],
    openapi_extra=operation(body=LOGIN_BODY, ok=json_content(TOKEN), responses=OAUTH_ERRORS),
)
async def login(request: Request) -> Response:
    form = await form_pairs(request)
    fields = dict(reversed(form))
    # Gancio's public-client strategy accepts only the literal `self`; anything else is 401 (§3.2).
    if fields.get("client_id") != "self":
        return PlainTextResponse("Unauthorized", status_code=401)
    oreq = oauth_request(request, form, with_query=False)
    db, config = app_state(request).db, app_state(request).config
    # argon2 runs before the write transaction, which then only confirms (accounts.service).
    username, password = fields.get("username", ""), fields.get("password", "")
    checked = await check_password(db, username, password) if username and password else None
    response = await db.write(_run_endpoint, config, "login", oreq, checked)
    if response.status_code != 200:
        return response
    issued = json.loads(bytes(response.body))
    body = {
        "access_token": issued["access_token"],
        "refresh_token": issued.get("refresh_token"),
        "username": fields.get("username", "").strip().lower(),
        "token_type": "Bearer",
    }
    if "expires_in" in issued:
        body["expires_in"] = issued["expires_in"]
    return Response(json.dumps(body), status_code=200, headers=TOKEN_HEADERS)


@router.post(
    "/oauth/revoke",
    tags=["oauth"],
    openapi_extra=operation(body=TOKEN_HINT_BODY, ok={**json_content({}), **TEXT}, responses=OAUTH_ERRORS),
)
async def revoke(request: Request) -> Response:
    return await _endpoint(request, "revoke")


@router.post(
    "/oauth/introspect",
    tags=["oauth"],
    openapi_extra=operation(body=TOKEN_HINT_BODY, ok=json_content(INTROSPECTION), responses=OAUTH_ERRORS),
)
async def introspect(request: Request) -> Response:
    return await _endpoint(request, "introspect")


@router.get(
    "/.well-known/oauth-authorization-server",
    tags=["oauth"],
    openapi_extra=operation(ok=json_content(METADATA)),
)
async def metadata(request: Request) -> JSONResponse:
    return JSONResponse(
        server_metadata(app_state(request).config), headers={"Access-Control-Allow-Origin": "*"}
    )


async def _registration_fields(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json_input.loads(await request.body())
        except ValueError:
            raise RegistrationError("Invalid JSON body") from None
        if not isinstance(data, dict):
            raise RegistrationError("The JSON body must be an object")
        return data
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post(
    "/api/client",
    tags=["oauth"],
    openapi_extra=operation(
        body=REGISTRATION_BODY,
        ok=json_content(REGISTERED_CLIENT),
        responses={
            "422": ("Invalid client metadata", json_content(object_of({"error": STRING}, required=["error"])))
        },
    ),
)
async def create_client(request: Request) -> JSONResponse:
    try:
        fields = await _registration_fields(request)
        for name in ("client_name", "scopes", "website", "token_endpoint_auth_method"):
            if fields.get(name) is not None and not isinstance(fields[name], str):
                raise RegistrationError(f"{name} must be a string")
        registered = await app_state(request).db.write(
            register_client,
            fields.get("client_name"),
            fields.get("redirect_uris"),
            fields.get("scopes"),
            fields.get("website"),
            urlsplit(app_state(request).config.base_url).hostname,
            fields.get("token_endpoint_auth_method"),
        )
    except RegistrationError as error:
        return JSONResponse({"error": error.message}, status_code=422)
    client = registered.client
    uris = " ".join(client.redirect_uris)
    # The seed's keys and order (oauth-seed.md); `redirectUris` too, as Gancio 1.x really answers
    # (gancio-api.md §3.1), so clients written against either keep working.
    return JSONResponse(
        {
            "name": client.name,
            "scopes": client.scopes,
            "website": client.website,
            "client_secret": registered.secret,
            "redirect_uris": uris,
            "client_id": client.id,
            "redirectUris": uris,
            "token_endpoint_auth_method": "client_secret_post" if registered.secret else "none",
        },
        # The answer holds the client secret: no cache may keep it (RFC 6749 §5.1, RFC 6819 §5.1.4.1).
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/api/client/{client_id}", tags=["oauth"], openapi_extra=operation(ok=json_content(CLIENT)))
async def read_client(
    client_id: str, request: Request, caller: Caller = Depends(require(Permission.ACCOUNT))
) -> JSONResponse:
    client = await app_state(request).db.read(get_client, client_id)
    return JSONResponse(
        {
            "client_id": client.id,
            "redirect_uris": " ".join(client.redirect_uris or []),
            "name": client.name,
            "website": client.website,
            "scopes": client.scopes,
        }
    )


@router.get("/api/clients", tags=["oauth"], openapi_extra=operation(ok=json_content(AUTHORIZED_APPS)))
async def authorized_apps(
    request: Request, caller: Caller = Depends(require(Permission.ACCOUNT))
) -> JSONResponse:
    return JSONResponse(await app_state(request).db.read(list_authorized_apps, caller.account_id))


@router.delete("/api/clients/{client_id}", tags=["oauth"], response_class=PlainTextResponse)
async def revoke_authorized_app(
    client_id: str, request: Request, caller: Caller = Depends(require(Permission.ACCOUNT))
) -> PlainTextResponse:
    await app_state(request).db.write(revoke_app, caller.account_id, client_id)
    return PlainTextResponse("OK")
