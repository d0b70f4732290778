"""Big answers written in batches of events to a file (piazza.db.answers), byte for byte what the
one-piece renderings give: a JSON array as orjson writes the whole list, an ICS document as
`feeds.render_ics`.

Each writer also reports how long its answer stays right as time passes (`Validity`): an answer of
upcoming events loses an event when that event is over, and never gains one, so it stays exact until
the earliest such moment among its events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import orjson

from piazza.events import feeds

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS  # as piazza.responses.JSONResponse


class Validity:
    """The last second an answer of events is exact.

    An event is in an answer of "upcoming" events while `now - lookback <= start` (`until_start`) or
    `now - lookback <= max(start, end)` (the listing's "starts later or is still going on"); `None`
    for an answer that does not depend on the time at all.
    """

    def __init__(self, *, lookback: int | None, until_start: bool = False) -> None:
        self.lookback = lookback
        self.until_start = until_start
        self.until: int | None = None

    def watch(self, batches: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        for events in batches:
            if self.lookback is not None:
                for event in events:
                    self._see(event)
            yield events

    def _see(self, event: Mapping[str, Any]) -> None:
        start, end = event["start_datetime"], event.get("end_datetime")
        last = start if self.until_start or end is None else max(start, end)
        last += self.lookback or 0
        if self.until is None or last < self.until:
            self.until = last


def write_json_array(file: BinaryIO, batches: Iterable[list[Any]]) -> None:
    """The items of every batch as one JSON array, as orjson writes the whole list at once."""
    file.write(b"[")
    first = True
    for items in batches:
        if not items:
            continue
        if not first:
            file.write(b",")
        file.write(memoryview(orjson.dumps(items, option=JSON_OPTIONS))[1:-1])
        first = False
    file.write(b"]")


def write_ics(
    file: BinaryIO,
    batches: Iterable[list[dict[str, Any]]],
    *,
    settings: Mapping[str, Any],
    calendar_name: str | None = None,
) -> None:
    """`feeds.render_ics` of every batch's events, written batch by batch."""
    file.write(feeds.ics_head(settings, calendar_name).encode())
    stamp = feeds.ics_stamp()
    for events in batches:
        file.write(feeds.ics_vevents(events, settings, stamp).encode())
    file.write(feeds.ICS_TAIL.encode())


def first_of(batches: Iterable[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """The first `limit` events of the batches (an RSS feed's items)."""
    events: list[dict[str, Any]] = []
    for batch in batches:
        events += batch[: limit - len(events)]
        if len(events) >= limit:
            break
    return events
