"""Security headers for every HTML page, set once by a middleware rather than per route.

The policy denies everything by default, then allows this origin's styles and images (uploaded media
live under /media on the same origin). The pages need no JavaScript, so none may run at all, inline or
not; no plugins, no framing (clickjacking, the consent page included). There is no `form-action`
directive on purpose: browsers apply it to the redirect that follows a form post, and the consent form
must land on the app's redirect URI.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # No page leaks its URL (with OAuth parameters, codes on the way back, tokens in forms) to another site.
    "Referrer-Policy": "no-referrer",
    # Pages carry the CSRF token and personal data: no shared cache may keep them.
    "Cache-Control": "no-store",
}


def secure_headers(response: Response) -> Response:
    """Adds the page headers to one response (for pages built outside the middleware's reach)."""
    response.headers.update(PAGE_HEADERS)
    return response


class SecurityHeadersMiddleware:
    """Adds PAGE_HEADERS to every `text/html` response and to redirects, unless a route set its own.

    Pure ASGI (see piazza/middleware.py): it only edits the response start message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                is_html = headers.get("content-type", "").startswith("text/html")
                if is_html or 300 <= message["status"] < 400:
                    for name, value in PAGE_HEADERS.items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
