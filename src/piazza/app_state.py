"""The application's shared objects, typed: `app_state(request).db` rather than the untyped
`request.app.state.db`.

`create_app` sets `app.state` to an `AppState`, which is Starlette's `State` with its attributes
declared, so `app.state.db` keeps working where an app is at hand (tests, lifespans)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.datastructures import State
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from piazza.config import Config
    from piazza.db import Database
    from piazza.db.answers import AnswerCache
    from piazza.db.cache import ReadCache
    from piazza.events.geocoding import Geocoder


class AppState(State):
    config: Config
    db: Database
    read_cache: ReadCache
    answers: AnswerCache
    geocoder: Geocoder

    def __init__(
        self, *, config: Config, db: Database, read_cache: ReadCache, answers: AnswerCache, geocoder: Geocoder
    ) -> None:
        super().__init__(
            {"config": config, "db": db, "read_cache": read_cache, "answers": answers, "geocoder": geocoder}
        )


def app_state(connection: HTTPConnection) -> AppState:
    """The state of the app serving this request (or WebSocket)."""
    return cast(AppState, connection.app.state)
