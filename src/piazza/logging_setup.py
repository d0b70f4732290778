"""Log format: every line carries the request id. Nothing secret is logged: no bodies, no query strings
of OAuth endpoints, no Authorization headers (uvicorn's access log is replaced for that reason)."""

from __future__ import annotations

import logging

from piazza.middleware import RequestIdFilter

LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
