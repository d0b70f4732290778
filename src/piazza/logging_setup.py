"""Log format: every line carries the request id. Nothing secret is logged: no bodies, no query strings,
no Authorization headers or cookies. uvicorn's access log (which prints query strings, where OAuth codes
and state travel) is off; piazza.middleware writes Piazza's own (`piazza.access`, PIAZZA_ACCESS_LOG)."""

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
