from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from moorage.domain.kernel.errors import InvalidInput
from moorage.domain.policies.errors import InvalidCron
from moorage.domain.policies.schedules import CronSchedule, parse_cron

# (expression, normalised)
VALID = [
    ("* * * * *", "* * * * *"),
    ("0 3 * * *", "0 3 * * *"),
    ("  0   3 * *   * ", "0 3 * * *"),
    ("*/15 * * * *", "*/15 * * * *"),
    ("*/1 * * * *", "* * * * *"),
    ("0 9-17/2 * * mon-fri", "0 9-17/2 * * MON-FRI"),
    ("0 0 1,15 * *", "0 0 1,15 * *"),
    ("0 0 ? * SUN", "0 0 * * SUN"),
    ("0 0 1 * ?", "0 0 1 * *"),
    ("0 0 1 jan,Jul *", "0 0 1 JAN,JUL *"),
    ("5/20 * * * *", "5/20 * * * *"),
    ("59 23 31 12 6", "59 23 31 12 6"),
    ("0 0 * * 0-6", "0 0 * * 0-6"),
]


@pytest.mark.parametrize(("expression", "normalised"), VALID)
def test_valid_expressions_normalise(expression: str, normalised: str) -> None:
    schedule = parse_cron(expression)
    assert str(schedule) == normalised
    assert parse_cron(str(schedule)) == schedule


def test_field_values() -> None:
    schedule = parse_cron("5/20 9-17/4 1,15 JAN-MAR MON,wed")
    assert schedule.minutes == {5, 25, 45}
    assert schedule.hours == {9, 13, 17}
    assert schedule.days == {1, 15}
    assert schedule.months == {1, 2, 3}
    assert schedule.weekdays == {1, 3}


def test_equal_schedules_compare_equal_however_written() -> None:
    assert parse_cron("0 0 * jan mon") == parse_cron("0 0 * 1 1")
    assert parse_cron("0 0 ? * *") == parse_cron("0 0 * * *")
    assert parse_cron("0 0 * * *") != parse_cron("0 1 * * *")


# (expression, field at fault or None, words in the message)
INVALID = [
    ("", None, "5 fields"),
    ("* * * *", None, "has 4"),
    ("* * * * * *", None, "has 6"),
    ("@daily", None, "has 1"),
    ("*" * 300, None, "at most 255"),
    ("60 * * * *", "minute", "minute: '60' is not a minute 0-59"),
    ("-1 * * * *", "minute", "'-1' is not a minute"),
    ("x * * * *", "minute", "'x' is not a minute"),
    ("1,,2 * * * *", "minute", "empty list item"),
    ("1, * * * *", "minute", "empty list item"),
    ("*/0 * * * *", "minute", "the step in '*/0' must be 1-59"),
    ("*/60 * * * *", "minute", "must be 1-59"),
    ("*/x * * * *", "minute", "the step"),
    ("5-3 * * * *", "minute", "'5-3' is a range that runs backwards"),
    ("? * * * *", "minute", "'?' is allowed only in the two day fields"),
    ("* 24 * * *", "hour", "hour: '24' is not an hour 0-23"),
    ("* ? * * *", "hour", "'?' is allowed only"),
    ("* * 0 * *", "day of month", "'0' is not a day of the month 1-31"),
    ("* * 32 * *", "day of month", "'32' is not a day of the month"),
    ("* * ?/2 * *", "day of month", "'?' takes no step"),
    ("* * * 0 *", "month", "month: '0' is not a month 1-12 or JAN-DEC"),
    ("* * * 13 *", "month", "'13' is not a month"),
    ("* * * JANUARY *", "month", "'JANUARY' is not a month"),
    ("* * * ? *", "month", "'?' is allowed only"),
    ("* * * * MON-FUNDAY", "day of week", "day of week: 'MON-FUNDAY' is not a day 0-6 or SUN-SAT"),
    ("* * * * 7", "day of week", "'7' is not a day 0-6"),
    ("* * * * FRI-MON", "day of week", "runs backwards"),
    ("* * * * ١", "day of week", "is not a day"),  # non-ASCII digits are not numbers here
    # a day that never occurs in the chosen months, with nothing on the weekday to rescue it
    ("0 0 30 2 *", "day of month", "'30' never occurs in the months '2'"),
    ("0 0 31 apr,jun,sep,nov ?", "day of month", "never occurs in the months 'APR,JUN,SEP,NOV'"),
    ("0 0 30-31 FEB */2", "day of month", "never occurs"),
]


@pytest.mark.parametrize(("expression", "field", "words"), INVALID)
def test_invalid_expressions_name_the_field(expression: str, field: str | None, words: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(expression)
    assert caught.value.field == field
    assert words in str(caught.value)
    if field:
        assert str(caught.value).startswith(f"{field}: ")
    assert isinstance(caught.value, InvalidInput)


def test_impossible_days_are_fine_when_the_weekday_can_fire() -> None:
    # both day fields restricted: either may match, so Mondays in February still fire
    schedule = parse_cron("0 0 30 2 MON")
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_after(after) == datetime(2026, 2, 2, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# (expression, after, next) — all UTC
NEXT = [
    ("* * * * *", utc(2026, 11, 27, 5, 21, 30), utc(2026, 11, 27, 5, 22)),
    ("* * * * *", utc(2026, 11, 27, 5, 21), utc(2026, 11, 27, 5, 22)),  # strictly after
    ("0 3 * * *", utc(2026, 11, 27, 3, 0), utc(2026, 11, 28, 3, 0)),
    ("0 3 * * *", utc(2026, 11, 27, 2, 59, 59), utc(2026, 11, 27, 3, 0)),
    ("*/15 * * * *", utc(2026, 11, 27, 5, 46), utc(2026, 11, 27, 6, 0)),
    ("30 2 * * *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 2, 30)),  # year rollover
    ("0 0 31 * *", utc(2026, 4, 1), utc(2026, 5, 31)),  # April has no 31st
    ("0 0 29 2 *", utc(2026, 3, 1), utc(2028, 2, 29)),  # leap day
    ("0 0 29 2 *", utc(2096, 3, 1), utc(2104, 2, 29)),  # 2100 is not a leap year
    ("0 12 * * MON", utc(2026, 11, 27), utc(2026, 11, 30, 12, 0)),  # 27 Nov 2026 is a Friday
    ("0 12 * * SUN", utc(2026, 11, 28, 13), utc(2026, 11, 29, 12, 0)),
    ("0 0 1 * MON", utc(2026, 11, 27), utc(2026, 11, 30)),  # both restricted: either day
    ("0 0 1 * MON", utc(2026, 11, 30), utc(2026, 12, 1)),
    ("0 0 */2 * MON", utc(2026, 11, 27), utc(2026, 12, 7)),  # `*/2` is unrestricted: both
    ("0 0 13 * ?", utc(2026, 11, 27), utc(2026, 12, 13)),
    ("0 9 ? * 1-5", utc(2026, 11, 27, 9, 0), utc(2026, 11, 30, 9, 0)),
    ("0 0 1 JAN *", utc(2026, 11, 27), utc(2027, 1, 1)),
    ("5/20 * * * *", utc(2026, 11, 27, 5, 45), utc(2026, 11, 27, 6, 5)),
    ("59 23 31 12 *", utc(2026, 12, 31, 23, 59), utc(2027, 12, 31, 23, 59)),
]


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT)
def test_next_after(expression: str, after: datetime, expected: datetime) -> None:
    found = parse_cron(expression).next_after(after)
    assert found == expected
    assert found.tzinfo is UTC


def test_next_after_converts_other_zones_to_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    # 12:00 in Seoul is 03:00 UTC, so 03:00 UTC today has already happened
    found = parse_cron("0 3 * * *").next_after(datetime(2026, 11, 27, 12, 0, tzinfo=seoul))
    assert found == utc(2026, 11, 28, 3, 0)


def test_next_after_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_cron("* * * * *").next_after(datetime(2026, 1, 1))


def test_a_schedule_that_never_fires_ends_the_search() -> None:
    # parse_cron refuses this; built by hand, the bounded search still ends
    never = CronSchedule(
        minutes=frozenset({0}),
        hours=frozenset({0}),
        days=frozenset({30}),
        months=frozenset({2}),
        weekdays=frozenset(range(7)),
        days_restricted=True,
        weekdays_restricted=False,
        text="0 0 30 2 *",
    )
    with pytest.raises(InvalidCron, match="does not fire"):
        never.next_after(utc(2026, 1, 1))
