"""Five-field cron schedules (SPEC §8, the guide's "정리 주기 설정" table), evaluated in UTC.

Fields: minute 0–59, hour 0–23, day of month 1–31, month 1–12 or JAN–DEC, day of week 0–6
or SUN–SAT (names case-insensitive). Each field is a comma-separated list of `*`, `N`,
`A-B`, `*/S`, `A-B/S` or `A/S` (A to the field's maximum, every S). `?` means `*` and is
allowed only in the two day fields, as in the guide.

Day semantics are Vixie cron's: a day field is unrestricted when it starts with `*` or `?`.
When both day fields are restricted, a day matches if EITHER matches (`0 0 1 * MON` fires on
the 1st and on Mondays); otherwise both must match, which, with one side unrestricted, means
the restricted side decides. A day of month that can never occur in the chosen months (`30`
in `FEB`) is refused when parsed, so `next_after` always finds a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from moorage.domain.policies.errors import InvalidCron

MAX_EXPRESSION_LENGTH = 255
_HORIZON_YEARS = 400  # the Gregorian cycle: any possible day recurs within it
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February in a leap year


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    low: int
    high: int
    what: str
    names: dict[str, int]
    question: bool  # whether `?` is allowed

    def number(self, text: str, item: str) -> int:
        upper = text.upper()
        if upper in self.names:
            return self.names[upper]
        if text.isascii() and text.isdigit() and self.low <= int(text) <= self.high:
            return int(text)
        raise InvalidCron(f"{item!r} is not {self.what}", self.name)


_SPECS = (
    _Spec("minute", 0, 59, "a minute 0-59", {}, question=False),
    _Spec("hour", 0, 23, "an hour 0-23", {}, question=False),
    _Spec("day of month", 1, 31, "a day of the month 1-31", {}, question=True),
    _Spec(
        "month",
        1,
        12,
        "a month 1-12 or JAN-DEC",
        {n: i + 1 for i, n in enumerate(_MONTH_NAMES)},
        question=False,
    ),
    _Spec(
        "day of week",
        0,
        6,
        "a day 0-6 or SUN-SAT",
        {n: i for i, n in enumerate(_DAY_NAMES)},
        question=True,
    ),
)


def _parse_item(spec: _Spec, item: str) -> tuple[range, str]:
    """One list item → the values it names and its normalised text."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit() and 1 <= int(step_text) <= spec.high):
            raise InvalidCron(f"the step in {item!r} must be 1-{spec.high}", spec.name)
        step = int(step_text)
    if base in ("*", "?"):
        if base == "?" and not spec.question:
            raise InvalidCron("'?' is allowed only in the two day fields", spec.name)
        if base == "?" and slash:
            raise InvalidCron(f"{item!r}: '?' takes no step", spec.name)
        low, high = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = spec.number(first, item), spec.number(last, item)
        if low > high:
            raise InvalidCron(f"{item!r} is a range that runs backwards", spec.name)
    else:
        low = spec.number(base, item)
        high = spec.high if slash else low  # `A/S`: from A to the end, every S
    text = "*" if base == "?" else base.upper()
    # `A/1` runs from A to the end: without its step it would read as A alone.
    keep_step = step != 1 or (slash and base not in ("*", "?") and "-" not in base)
    return range(low, high + 1, step), text + (f"/{step}" if keep_step else "")


def _parse_field(spec: _Spec, text: str) -> tuple[frozenset[int], str]:
    values: set[int] = set()
    items = []
    for item in text.split(","):
        if not item:
            raise InvalidCron(f"{text!r} has an empty list item", spec.name)
        numbers, normal = _parse_item(spec, item)
        values.update(numbers)
        items.append(normal)
    return frozenset(values), ",".join(items)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed schedule. Equal schedules fire at the same times, however they were written
    (`mon` or `1`); `str()` gives the normalised expression."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text

    def _day_matches(self, day: date) -> bool:
        in_month = day.day in self.days
        in_week = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week

    def _first_time(self, after: time) -> time | None:
        for hour in sorted(h for h in self.hours if h >= after.hour):
            first_minute = after.minute if hour == after.hour else 0
            minute = min((m for m in self.minutes if m >= first_minute), default=None)
            if minute is not None:
                return time(hour, minute)
        return None

    def next_after(self, moment: datetime) -> datetime:
        """The first firing time strictly after `moment`, to the minute, in UTC.

        `moment` must be timezone-aware (any zone; it is converted to UTC)."""
        if moment.tzinfo is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day, earliest = start.date(), start.time()
        last_day = date(min(start.year + _HORIZON_YEARS, date.max.year - 1), 12, 31)
        while day < last_day:
            if day.month not in self.months:
                day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
                earliest = time(0, 0)
                continue
            if self._day_matches(day):
                found = self._first_time(earliest)
                if found is not None:
                    return datetime.combine(day, found, tzinfo=UTC)
            day, earliest = day + timedelta(days=1), time(0, 0)
        raise InvalidCron(
            f"{self.text!r} does not fire in the {_HORIZON_YEARS} years after {start}"
        )


def parse_cron(expression: str) -> CronSchedule:
    """Parse a 5-field cron expression; raises `InvalidCron` naming the field at fault."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidCron(f"a schedule is at most {MAX_EXPRESSION_LENGTH} characters")
    parts = expression.split()
    if len(parts) != len(_SPECS):
        raise InvalidCron(
            "a schedule has 5 fields (minute, hour, day of month, month, day of week); "
            f"{expression.strip()!r} has {len(parts)}"
        )
    parsed = [_parse_field(spec, part) for spec, part in zip(_SPECS, parts, strict=True)]
    (minutes, _), (hours, _), (days, _), (months, _), (weekdays, _) = parsed
    schedule = CronSchedule(
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        days_restricted=parts[2][0] not in "*?",
        weekdays_restricted=parts[4][0] not in "*?",
        text=" ".join(normal for _, normal in parsed),
    )
    _check_days_occur(schedule, parts[2], parts[3])
    return schedule


def _check_days_occur(schedule: CronSchedule, days_text: str, months_text: str) -> None:
    """Refuse a day of month that no chosen month has, when the weekday cannot rescue it."""
    if not schedule.days_restricted or schedule.weekdays_restricted:
        return
    if not any(min(schedule.days) <= _LONGEST_MONTH[m - 1] for m in schedule.months):
        raise InvalidCron(
            f"{days_text!r} never occurs in the months {months_text.upper()!r}", "day of month"
        )
