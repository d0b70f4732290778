"""Recurrent events: the rule a parent carries and the date of its next occurrence (gancio-api.md §5.9).

Pure functions, no database. The events service stores the rule returned by `validate_rule` on the
parent and calls `next_occurrence` to date the one upcoming occurrence it creates.

Rules on the wire are Gancio's `{"frequency": ..., "type": ...}` (as an object, or as the JSON string
Gancio clients send). Supported frequencies:

- `Nw`, N from 1 to 52: every N weeks on the parent's weekday. The N-week parity is counted from the
  parent's own start (Gancio counts from "now" and loses it).
- `1m`: monthly. `type` `"ordinal"` is the parent's day of the month; months without that day (the 31st
  in April, the 30th in February) are skipped, as RFC 5545 §3.3.10 says for invalid dates. `type` 1..4
  is the n-th such weekday of the month, -1 the last one. A monthly rule without `type` means
  `"ordinal"` (in Gancio it produces an invalid date and no occurrence at all).
- `1y`: every year on the parent's month and day; a parent on 29 February recurs in leap years only
  (same RFC rule as above).

Anything else (`2m`, `1d`, garbage) is refused with 400, where Gancio would create an occurrence "today".

Occurrences keep the parent's local wall-clock time (hour, minute and second) in the instance time
zone, across DST changes, and their end keeps the parent's wall-clock duration: an event from 20:00 to
22:00 stays 20:00-22:00 local after the clocks change. A local time that does not exist (the spring-
forward gap) or exists twice (the autumn fold) is read as RFC 5545 §3.3.5 says: with the offset before
the gap, and the first of the two.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import MONTHLY, WEEKLY, YEARLY, rrule, weekday

from piazza import json_input
from piazza.errors import Invalid

DEFAULT_TIMEZONE = "Europe/Rome"
MAX_WEEKS = 52
MAX_RULE_LENGTH = 1000  # a rule is a few dozen characters; no reason to parse a large document
MONTHLY_TYPES = ("ordinal", 1, 2, 3, 4, -1)

_WEEKLY = re.compile(r"([1-9][0-9]?)w")
# How many generated dates next_occurrence looks at before giving up: the first one at or after
# `after` is at most a couple of steps in, since the search starts two days before `after`.
_SEARCH_LIMIT = 16


def validate_rule(value: object) -> dict[str, Any]:
    """The normalised rule for a Gancio `recurrent` value (dict or JSON string). Raises Invalid."""
    if isinstance(value, str):
        if len(value) > MAX_RULE_LENGTH:
            raise Invalid("recurrent is too long", field="recurrent")
        try:
            value = json_input.loads(value)
        except ValueError:
            raise Invalid("recurrent must be a JSON object", field="recurrent") from None
    if not isinstance(value, dict):
        raise Invalid("recurrent must be an object with a frequency", field="recurrent")

    frequency = value.get("frequency")
    if not isinstance(frequency, str):
        raise Invalid("recurrent.frequency required", field="recurrent")
    weekly = _WEEKLY.fullmatch(frequency)
    if weekly and 1 <= int(weekly.group(1)) <= MAX_WEEKS:
        # A `type` on a weekly rule is ignored: Gancio's form keeps the monthly one when the
        # frequency is switched back to weekly.
        return {"frequency": f"{int(weekly.group(1))}w"}
    if frequency == "1y":
        return {"frequency": "1y"}
    if frequency == "1m":
        return {"frequency": "1m", "type": _monthly_type(value.get("type", "ordinal"))}
    raise Invalid(
        f"recurrent.frequency must be 1w to {MAX_WEEKS}w, 1m or 1y (got {frequency[:20]!r})",
        field="recurrent",
    )


def _monthly_type(value: object) -> str | int:
    if value is None or value == "ordinal":
        return "ordinal"
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]", value):
        value = int(value)
    # bool is an int in Python; `true` is not a week number.
    if isinstance(value, int) and not isinstance(value, bool) and value in MONTHLY_TYPES:
        return value
    raise Invalid('recurrent.type must be "ordinal", 1, 2, 3, 4 or -1', field="recurrent")


def get_zone(tz_name: str | None) -> ZoneInfo:
    """The zone named `tz_name` (Europe/Rome when empty). Raises Invalid for an unknown name."""
    try:
        return ZoneInfo(tz_name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise Invalid(f"unknown time zone {str(tz_name)[:64]!r}", field="instance_timezone") from None


def next_occurrence(
    parent_start: int,
    parent_end: int | None,
    rule: dict[str, Any],
    after: int,
    tz_name: str = DEFAULT_TIMEZONE,
) -> tuple[int, int | None] | None:
    """(start, end) in unix seconds of the first occurrence starting at or after `after`.

    Occurrences never start before the parent; the parent's own start is the first of them when it
    matches the rule. Returns None when the rule is not one `validate_rule` accepts (for example a
    rule imported from Gancio) or when no date is left (past year 9999). Raises Invalid for an unknown
    time zone.
    """
    try:
        rule = validate_rule(rule)
    except Invalid:
        return None
    zone = get_zone(tz_name)
    try:
        start_local = _naive_local(parent_start, zone)
        after_local = _naive_local(max(after, parent_start), zone)
        # The wall-clock duration, so that the end keeps its local time across a DST change.
        duration = None if parent_end is None else _naive_local(parent_end, zone) - start_local
    except (OverflowError, OSError, ValueError):
        return None

    # Search from two days before `after` in local time: comparing naive local times is off by the
    # DST shift around a change, so each candidate is checked again in real seconds.
    search_from = max(start_local, after_local - timedelta(days=2))
    try:
        dates = _dates(rule, start_local, search_from).xafter(search_from, inc=True)
        for candidate in islice(dates, _SEARCH_LIMIT):
            start = _unix(candidate, zone)
            if start >= after and start >= parent_start:
                if duration is None:
                    return start, None
                return start, max(start, _unix(candidate + duration, zone))
    except (OverflowError, ValueError):  # past year 9999
        return None
    return None


def _dates(rule: dict[str, Any], start_local: datetime, search_from: datetime) -> rrule:
    """The rule's dates as naive local datetimes from the parent's start (dateutil's rrule), listed
    from shortly before `search_from`.

    rrule walks every date from its dtstart: from the start of a parent years old that is hundreds of
    steps (milliseconds) for each occurrence. So the series restarts nearer: at one of its own dates
    (weekly), or at the first of the previous month or year with the parent's day spelled out
    (monthly, yearly); from there it lists exactly the dates the parent's own series does.
    """
    frequency = rule["frequency"]
    if frequency.endswith("w"):
        # Weekly on dtstart's weekday; interval=N counts weeks from dtstart, keeping the parity. The
        # series is start + k·N weeks, so it restarts at the last of those not after search_from.
        step = timedelta(weeks=int(frequency[:-1]))
        restart = start_local + (search_from - start_local) // step * step
        return rrule(WEEKLY, interval=int(frequency[:-1]), dtstart=restart)
    if frequency == "1y":
        # 29 February exists in leap years only.
        restart = _first_of(start_local, search_from.year - 1, 1)
        return rrule(YEARLY, bymonth=start_local.month, bymonthday=start_local.day, dtstart=restart)
    previous_month = search_from.year * 12 + search_from.month - 2  # months since year 0, zero-based
    restart = _first_of(start_local, previous_month // 12, previous_month % 12 + 1)
    kind = rule["type"]
    if kind == "ordinal":
        return rrule(MONTHLY, bymonthday=start_local.day, dtstart=restart)
    return rrule(MONTHLY, byweekday=weekday(start_local.weekday(), kind), dtstart=restart)


def _first_of(start_local: datetime, year: int, month: int) -> datetime:
    """The first day of that month at the parent's time of day, but never before the parent."""
    if (year, month) <= (start_local.year, start_local.month):
        return start_local
    return start_local.replace(year=year, month=month, day=1)


def _naive_local(timestamp: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).replace(tzinfo=None)


def _unix(local: datetime, zone: ZoneInfo) -> int:
    # fold=0: a time in the spring gap takes the offset before the gap, a repeated autumn time is
    # the first of the two (RFC 5545 §3.3.5).
    return int(local.replace(tzinfo=zone, fold=0).timestamp())
