"""`GET /api/reachable` (gancio-api.md §2.1): can the instance reach itself at its public base URL?

The admin asks this to learn whether the configured `base_url` points back at this server (DNS, proxy
and TLS all in place). The URL comes from configuration, never from the request, so this is no open
fetcher; the request is short, never follows redirects and ignores proxy variables.
"""

from __future__ import annotations

import httpx

REACHABLE_TIMEOUT_SECONDS = 5.0


async def base_url_answers(base_url: str) -> bool:
    """True when `<base_url>/api/ping` answers 200."""
    try:
        async with httpx.AsyncClient(
            timeout=REACHABLE_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.get(f"{base_url.rstrip('/')}/api/ping")
    except httpx.HTTPError:
        return False
    return response.status_code == 200
