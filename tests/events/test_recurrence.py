"""Recurrence rules and occurrence dates (gancio-api.md §5.9; tests/recurrent.test.js in Gancio)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from piazza.errors import Invalid
from piazza.events.recurrence import next_occurrence, validate_rule

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
WEEKLY = {"frequency": "1w"}


def at(text: str, zone: ZoneInfo = ROME) -> int:
    """Unix seconds of a local wall-clock time such as `2033-03-27 08:00`."""
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp())


def local(timestamp: int, zone: ZoneInfo = ROME) -> datetime:
    return datetime.fromtimestamp(timestamp, zone)


def series(
    start: str, rule: dict, count: int, *, end: str | None = None, zone: ZoneInfo = ROME
) -> list[tuple[datetime, datetime | None]]:
    """The first `count` occurrences, each searched from one second after the previous one."""
    parent_start = at(start, zone)
    parent_end = at(end, zone) if end else None
    found: list[tuple[datetime, datetime | None]] = []
    after = parent_start
    for _ in range(count):
        occurrence = next_occurrence(parent_start, parent_end, rule, after, zone.key)
        assert occurrence is not None
        occurrence_start, occurrence_end = occurrence
        found.append((local(occurrence_start, zone), local(occurrence_end, zone) if occurrence_end else None))
        after = occurrence_start + 1
    return found


def days(found: list[tuple[datetime, datetime | None]]) -> list[str]:
    return [start.strftime("%Y-%m-%d %H:%M") for start, _ in found]


# --- validate_rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"frequency": "1w"}, {"frequency": "1w"}),
        ('{"frequency":"1w"}', {"frequency": "1w"}),
        ({"frequency": "2w"}, {"frequency": "2w"}),
        ({"frequency": "52w"}, {"frequency": "52w"}),
        ({"frequency": "1m", "type": "ordinal"}, {"frequency": "1m", "type": "ordinal"}),
        ({"frequency": "1m", "type": 3}, {"frequency": "1m", "type": 3}),
        ({"frequency": "1m", "type": -1}, {"frequency": "1m", "type": -1}),
        ('{"frequency":"1m","type":"-1"}', {"frequency": "1m", "type": -1}),
        ({"frequency": "1y"}, {"frequency": "1y"}),
    ],
)
def test_supported_rules_are_normalised(value: object, expected: dict) -> None:
    assert validate_rule(value) == expected


def test_monthly_rule_without_type_means_the_same_day_of_the_month() -> None:
    assert validate_rule({"frequency": "1m"}) == {"frequency": "1m", "type": "ordinal"}


def test_weekly_rule_drops_a_stale_monthly_type_and_unknown_keys() -> None:
    # Gancio's form keeps `type` when the frequency is switched from monthly back to weekly.
    assert validate_rule({"frequency": "2w", "type": 2, "days": [1]}) == {"frequency": "2w"}


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not json",
        "[]",
        '"1w"',
        [],
        {},
        {"frequency": None},
        {"frequency": 1},
        {"frequency": "0w"},
        {"frequency": "53w"},
        {"frequency": "1d"},
        {"frequency": "2m"},
        {"frequency": "1W"},
        {"frequency": " 1w"},
        {"frequency": "2y"},
        {"frequency": "1m", "type": 5},
        {"frequency": "1m", "type": 0},
        {"frequency": "1m", "type": -2},
        {"frequency": "1m", "type": True},
        {"frequency": "1m", "type": "weekday"},
        {"frequency": "1m", "type": 2.5},
        {"frequency": "1m", "type": "--1"},
        '{"frequency": "1w", "padding": "' + "x" * 2000 + '"}',
        "[" * 100_000,
        {"frequency": "1m", "type": "\u0661"},
    ],
)
def test_unsupported_rules_are_refused_with_400(value: object) -> None:
    with pytest.raises(Invalid) as refused:
        validate_rule(value)
    assert refused.value.status == 400
    assert "recurrent" in refused.value.message


def test_refusal_names_the_supported_frequencies() -> None:
    with pytest.raises(Invalid, match=r"1w to 52w, 1m or 1y"):
        validate_rule({"frequency": "2m"})


def test_next_occurrence_of_an_unsupported_rule_is_none() -> None:
    # A rule imported from Gancio (`2m`) gives no occurrence instead of one "today" as in Gancio.
    assert next_occurrence(at("2033-03-27 08:00"), None, {"frequency": "2m"}, 0, "Europe/Rome") is None


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", 5])
def test_unknown_time_zone_is_refused(name: object) -> None:
    with pytest.raises(Invalid, match="time zone"):
        next_occurrence(at("2033-03-27 08:00"), None, {"frequency": "1w"}, 0, name)


# --- Gancio's tests/recurrent.test.js table, at 08:00 Europe/Rome --------------------------------


def test_past_weekly_parent_gives_a_future_occurrence_at_eight() -> None:
    now = int(time.time())
    occurrence = next_occurrence(at("2023-03-27 08:00"), None, {"frequency": "1w"}, now, "Europe/Rome")
    assert occurrence is not None
    start, end = occurrence
    assert now <= start < now + 7 * 86400
    assert (local(start).hour, local(start).minute, local(start).weekday()) == (8, 0, 0)  # a Monday
    assert end is None


def test_weekly_starts_with_the_parent_and_repeats_every_week() -> None:
    found = series("2033-03-27 08:00", {"frequency": "1w"}, 2)
    assert days(found) == ["2033-03-27 08:00", "2033-04-03 08:00"]


def test_every_two_weeks_skips_one_week() -> None:
    found = series("2033-03-27 08:00", {"frequency": "2w"}, 2)
    assert days(found) == ["2033-03-27 08:00", "2033-04-10 08:00"]


def test_monthly_ordinal_keeps_the_day_of_the_month() -> None:
    rule = {"frequency": "1m", "type": "ordinal"}
    assert days(series("2033-03-27 08:00", rule, 2)) == ["2033-03-27 08:00", "2033-04-27 08:00"]


def test_monthly_last_weekday() -> None:
    assert days(series("2033-03-27 08:00", {"frequency": "1m", "type": -1}, 3)) == [
        "2033-03-27 08:00",
        "2033-04-24 08:00",
        "2033-05-29 08:00",
    ]


def test_monthly_second_weekday() -> None:
    assert days(series("2033-02-08 08:00", {"frequency": "1m", "type": 2}, 5)) == [
        "2033-02-08 08:00",
        "2033-03-08 08:00",
        "2033-04-12 08:00",
        "2033-05-10 08:00",
        "2033-06-14 08:00",
    ]


# --- Beyond Gancio's table ----------------------------------------------------------------------


def test_weekly_keeps_local_time_and_offset_across_the_march_dst_change() -> None:
    # Europe/Rome moves to summer time on the last Sunday of March (2026-03-29).
    found = series("2026-03-22 08:00", {"frequency": "1w"}, 2)
    (before, _), (after, _) = found
    assert before.isoformat() == "2026-03-22T08:00:00+01:00"
    assert after.isoformat() == "2026-03-29T08:00:00+02:00"
    assert at("2026-03-29 08:00") - at("2026-03-22 08:00") == 7 * 86400 - 3600


def test_weekly_keeps_local_time_and_offset_across_the_october_dst_change() -> None:
    # ... and back to standard time on the last Sunday of October (2026-10-25).
    (before, _), (after, _) = series("2026-10-18 08:00", {"frequency": "1w"}, 2)
    assert before.isoformat() == "2026-10-18T08:00:00+02:00"
    assert after.isoformat() == "2026-10-25T08:00:00+01:00"


def test_evening_event_keeps_its_local_start_and_end_across_dst() -> None:
    found = series("2026-03-27 20:00", {"frequency": "1w"}, 2, end="2026-03-27 22:00")
    assert [(start.isoformat(), end.isoformat()) for start, end in found] == [
        ("2026-03-27T20:00:00+01:00", "2026-03-27T22:00:00+01:00"),
        ("2026-04-03T20:00:00+02:00", "2026-04-03T22:00:00+02:00"),
    ]


def test_overnight_event_keeps_its_wall_clock_end_on_the_night_of_the_change() -> None:
    # 22:00 to 04:00 is six wall-clock hours; on the night clocks go forward it lasts five real hours.
    parent_start, parent_end = at("2026-03-21 22:00"), at("2026-03-22 04:00")
    start, end = next_occurrence(parent_start, parent_end, WEEKLY, parent_start + 1, "Europe/Rome")
    assert (local(start).isoformat(), local(end).isoformat()) == (
        "2026-03-28T22:00:00+01:00",
        "2026-03-29T04:00:00+02:00",
    )
    assert end - start == 5 * 3600


def test_occurrence_in_the_spring_gap_takes_the_offset_before_the_gap() -> None:
    # 02:30 does not exist in Rome on 2026-03-29; RFC 5545 §3.3.5 reads it with the +01:00 offset.
    start, _ = next_occurrence(at("2026-03-22 02:30"), None, WEEKLY, at("2026-03-23 00:00"), "Europe/Rome")
    assert local(start).isoformat() == "2026-03-29T03:30:00+02:00"


def test_every_two_weeks_keeps_the_parity_of_the_parent_whatever_the_search_start() -> None:
    parent = at("2033-03-27 08:00")
    rule = {"frequency": "2w"}
    # Searching from the week right after the parent must skip to the third week, not land on it.
    start, _ = next_occurrence(parent, None, rule, at("2033-03-28 00:00"), "Europe/Rome")
    assert local(start).date().isoformat() == "2033-04-10"
    # Far in the future, occurrences are still an even number of weeks from the parent.
    start, _ = next_occurrence(parent, None, rule, at("2035-01-01 00:00"), "Europe/Rome")
    assert (local(start).date() - local(parent).date()).days % 14 == 0
    assert local(start).date().isoformat() == "2035-01-14"


def test_every_three_weeks() -> None:
    assert days(series("2033-03-27 08:00", {"frequency": "3w"}, 3)) == [
        "2033-03-27 08:00",
        "2033-04-17 08:00",
        "2033-05-08 08:00",
    ]


def test_parent_with_seconds_is_its_own_first_occurrence() -> None:
    # Gancio resets the seconds to 0 and so skips the parent's own date (§5.9 quirks).
    parent = at("2033-03-27 08:00:30")
    assert next_occurrence(parent, None, {"frequency": "1w"}, parent, "Europe/Rome") == (parent, None)


def test_search_before_the_parent_starts_at_the_parent() -> None:
    parent = at("2033-03-27 08:00")
    assert next_occurrence(parent, parent + 3600, WEEKLY, 0, "Europe/Rome") == (parent, parent + 3600)


def test_occurrence_exactly_at_the_search_start_is_returned() -> None:
    parent = at("2033-03-27 08:00")
    second = at("2033-04-03 08:00")
    assert next_occurrence(parent, None, {"frequency": "1w"}, second, "Europe/Rome") == (second, None)
    assert next_occurrence(parent, None, WEEKLY, second + 1, "Europe/Rome")[0] == at("2033-04-10 08:00")


def test_monthly_on_the_31st_skips_months_without_it() -> None:
    assert days(series("2026-01-31 19:00", {"frequency": "1m", "type": "ordinal"}, 5)) == [
        "2026-01-31 19:00",
        "2026-03-31 19:00",
        "2026-05-31 19:00",
        "2026-07-31 19:00",
        "2026-08-31 19:00",
    ]


def test_monthly_last_weekday_across_months_of_four_and_five_weeks() -> None:
    # Last Friday of each month, from January 2026.
    assert days(series("2026-01-30 21:00", {"frequency": "1m", "type": -1}, 4)) == [
        "2026-01-30 21:00",
        "2026-02-27 21:00",
        "2026-03-27 21:00",
        "2026-04-24 21:00",
    ]


def test_monthly_nth_weekday_starts_at_the_first_match_after_a_parent_that_is_not_one() -> None:
    # 2033-02-01 is the first Tuesday; the rule asks for the second one.
    assert days(series("2033-02-01 08:00", {"frequency": "1m", "type": 2}, 2)) == [
        "2033-02-08 08:00",
        "2033-03-08 08:00",
    ]


def test_yearly_keeps_month_and_day() -> None:
    assert days(series("2026-06-21 18:00", {"frequency": "1y"}, 3)) == [
        "2026-06-21 18:00",
        "2027-06-21 18:00",
        "2028-06-21 18:00",
    ]


def test_yearly_on_29_february_recurs_in_leap_years_only() -> None:
    assert days(series("2024-02-29 20:00", {"frequency": "1y"}, 3)) == [
        "2024-02-29 20:00",
        "2028-02-29 20:00",
        "2032-02-29 20:00",
    ]


def test_new_york_keeps_local_time_across_its_own_dst_change() -> None:
    # America/New_York springs forward on the second Sunday of March (2026-03-08), not Europe's date.
    found = series("2026-03-01 19:30", {"frequency": "1w"}, 2, end="2026-03-01 21:00", zone=NEW_YORK)
    assert [(start.isoformat(), end.isoformat()) for start, end in found] == [
        ("2026-03-01T19:30:00-05:00", "2026-03-01T21:00:00-05:00"),
        ("2026-03-08T19:30:00-04:00", "2026-03-08T21:00:00-04:00"),
    ]


def test_the_same_instant_recurs_at_the_local_time_of_the_instance_zone() -> None:
    # 2026-01-05 13:00 UTC is 14:00 in Rome and 08:00 in New York: each zone keeps its own wall clock.
    parent = at("2026-01-05 08:00", NEW_YORK)
    after = at("2026-06-01 00:00", ROME)
    rome_start, _ = next_occurrence(parent, None, {"frequency": "1w"}, after, "Europe/Rome")
    new_york_start, _ = next_occurrence(parent, None, {"frequency": "1w"}, after, "America/New_York")
    assert local(rome_start).strftime("%a %H:%M") == "Mon 14:00"
    assert local(new_york_start, NEW_YORK).strftime("%a %H:%M") == "Mon 08:00"


def test_end_never_precedes_start() -> None:
    parent = at("2033-03-27 08:00")
    assert next_occurrence(parent, parent - 60, WEEKLY, parent, "Europe/Rome") == (parent, parent)


def test_no_occurrence_past_year_9999() -> None:
    parent = at("9999-12-27 08:00")
    assert next_occurrence(parent, None, {"frequency": "1w"}, parent + 86400, "Europe/Rome") is None


def test_default_time_zone_is_rome() -> None:
    parent = at("2026-03-22 08:00")
    start, _ = next_occurrence(parent, None, {"frequency": "1w"}, parent + 1)
    assert local(start) == datetime(2026, 3, 29, 8, 0, tzinfo=ROME)
    assert start - parent == int(timedelta(days=7).total_seconds()) - 3600


# --- Cross-check against a day-by-day reference ---------------------------------------------------


def matches(rule: dict, parent: datetime, day: datetime) -> bool:
    """Whether the calendar day `day` is an occurrence day of `rule` for `parent`, by definition."""
    frequency = rule["frequency"]
    if frequency.endswith("w"):
        return (day.date() - parent.date()).days % (7 * int(frequency[:-1])) == 0
    if frequency == "1y":
        return (day.month, day.day) == (parent.month, parent.day)
    if rule["type"] == "ordinal":
        return day.day == parent.day
    if day.weekday() != parent.weekday():
        return False
    if rule["type"] == -1:
        return (day + timedelta(days=7)).month != day.month
    return (day.day - 1) // 7 + 1 == rule["type"]


@pytest.mark.parametrize("zone", [ROME, NEW_YORK], ids=lambda zone: zone.key)
@pytest.mark.parametrize(
    "rule",
    [
        {"frequency": "1w"},
        {"frequency": "2w"},
        {"frequency": "5w"},
        {"frequency": "1m", "type": "ordinal"},
        {"frequency": "1m", "type": 1},
        {"frequency": "1m", "type": 4},
        {"frequency": "1m", "type": -1},
        {"frequency": "1y"},
    ],
    ids=str,
)
@pytest.mark.parametrize("parent", ["2026-01-31 19:00", "2026-03-29 08:15", "2027-10-31 23:45"])
def test_occurrences_are_exactly_the_matching_days_at_the_parents_local_time(
    parent: str, rule: dict, zone: ZoneInfo
) -> None:
    parent_local = datetime.fromisoformat(parent).replace(tzinfo=zone)
    horizon = parent_local + timedelta(days=800)
    expected = []
    day = parent_local
    while day < horizon:
        if matches(rule, parent_local, day):
            expected.append(day.isoformat())
        day = (day + timedelta(days=1)).replace(tzinfo=zone)  # same wall clock, next calendar day
    parent_start = at(parent, zone)
    found = []
    after = parent_start
    while (occurrence := next_occurrence(parent_start, None, rule, after, zone.key)) is not None:
        start = local(occurrence[0], zone)
        if start >= horizon:
            break
        found.append(start.isoformat())
        after = occurrence[0] + 1
    assert found == expected
    assert found  # the reference produced something to compare with


def first_matching_day(rule: dict, parent: datetime, after: int, zone: ZoneInfo) -> int:
    """By definition: the first day matching `rule` at the parent's local time starting at or after
    `after` (and not before the parent), walking the calendar a day at a time."""
    day = max(parent, datetime.fromtimestamp(after, zone) - timedelta(days=2))
    day = day.replace(hour=parent.hour, minute=parent.minute, second=parent.second)
    while True:
        start = int(day.replace(fold=0).timestamp())
        if matches(rule, parent, day) and start >= after and start >= parent.timestamp():
            return start
        day = (day + timedelta(days=1)).replace(tzinfo=zone)


@pytest.mark.parametrize("zone", [ROME, NEW_YORK], ids=lambda zone: zone.key)
@pytest.mark.parametrize(
    "rule",
    [
        {"frequency": "1w"},
        {"frequency": "3w"},
        {"frequency": "1m", "type": "ordinal"},
        {"frequency": "1m", "type": 2},
        {"frequency": "1m", "type": -1},
        {"frequency": "1y"},
    ],
    ids=str,
)
@pytest.mark.parametrize("parent", ["2004-02-29 20:30", "2011-01-31 07:00", "2016-10-30 02:30"])
def test_a_parent_years_old_recurs_on_its_own_series(parent: str, rule: dict, zone: ZoneInfo) -> None:
    # The series restarts near the search (recurrence._dates); it must stay the parent's own one,
    # parity, skipped months and the 29th of February included, whatever the search start.
    parent_local = datetime.fromisoformat(parent).replace(tzinfo=zone)
    parent_start = at(parent, zone)
    for days in (0, 1, 13, 29, 30, 31, 59, 366, 1000, 3653, 5000, 7300):
        for seconds in (-3600, 0, 1, 43_200):
            after = parent_start + days * 86400 + seconds
            found = next_occurrence(parent_start, None, rule, after, zone.key)
            assert found is not None
            assert found[0] == first_matching_day(rule, parent_local, after, zone), (days, seconds)
