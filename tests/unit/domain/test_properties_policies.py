"""Property tests of the policies' two small languages: cron schedules and doublestar selectors.

Each is checked against an oracle written here from the documented rules, not from the
module: cron fields are drawn as structured items whose values are known, and firing times
are compared with a day-by-day search; patterns are drawn as syntax trees and translated to
Python regular expressions. Arbitrary text must be refused with the module's own error,
never crash it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from moorage.domain.policies.errors import InvalidCron, InvalidPattern
from moorage.domain.policies.schedules import CronSchedule, parse_cron
from moorage.domain.policies.selectors import Selector, compile_pattern

# --- cron --------------------------------------------------------------------------------------

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Field:
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is value low + i
    question: bool = False


FIELDS = (
    Field(0, 59),
    Field(0, 23),
    Field(1, 31, question=True),
    Field(1, 12, MONTHS),
    Field(0, 6, DAYS, question=True),
)


@st.composite
def cron_item(draw: st.DrawFn, field: Field) -> tuple[str, set[int]]:
    """One list item of a field and the values it names, by the documented rules."""

    def number() -> tuple[str, int]:
        value = draw(st.integers(field.low, field.high))
        if field.names and draw(st.booleans()):
            name = field.names[value - field.low]
            return draw(st.sampled_from([name, name.lower(), name.title()])), value
        return str(value), value

    step = draw(st.one_of(st.none(), st.integers(1, field.high)))
    suffix = f"/{step}" if step else ""
    kind = draw(st.sampled_from(["star", "number", "range"]))
    if kind == "star":
        base, low, high = "*", field.low, field.high
    elif kind == "number":
        base, low = number()
        high = field.high if step else low  # `A/S` runs from A to the field's end
    else:
        (first, a), (last, b) = number(), number()
        assume(a <= b)
        base, low, high = f"{first}-{last}", a, b
    return base + suffix, set(range(low, high + 1, step or 1))


@st.composite
def cron_field(draw: st.DrawFn, field: Field) -> tuple[str, set[int], bool]:
    """A field's text, its values, and whether it restricts (does not start with * or ?)."""
    if field.question and draw(st.integers(0, 4)) == 0:
        return "?", set(range(field.low, field.high + 1)), False
    items = draw(st.lists(cron_item(field), min_size=1, max_size=3))
    text = ",".join(text for text, _ in items)
    return text, set().union(*(values for _, values in items)), not text.startswith("*")


@dataclass(frozen=True)
class Cron:
    expression: str
    values: tuple[set[int], ...]
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, day: date) -> bool:
        """Vixie cron: both day fields restricted → either may match; otherwise both must."""
        in_month = day.day in self.values[2]
        in_week = day.isoweekday() % 7 in self.values[4]
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week

    def fires(self, moment: datetime) -> bool:
        return (
            moment.minute in self.values[0]
            and moment.hour in self.values[1]
            and moment.month in self.values[3]
            and self.day_matches(moment.date())
        )

    def first_after(self, moment: datetime, days: int) -> datetime | None:
        """The first firing minute strictly after `moment` within `days` days, searched day
        by day and minute by minute (None if there is none)."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for offset in range(days + 1):
            day = start.date() + timedelta(days=offset)
            if day.month not in self.values[3] or not self.day_matches(day):
                continue
            for hour in sorted(self.values[1]):
                for minute in sorted(self.values[0]):
                    candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if candidate >= start:
                        return candidate
        return None


@st.composite
def crons(draw: st.DrawFn) -> Cron:
    fields = [draw(cron_field(field)) for field in FIELDS]
    spaces = [draw(st.sampled_from([" ", "  ", "\t"])) for _ in range(4)]
    expression = fields[0][0] + "".join(s + f[0] for s, f in zip(spaces, fields[1:], strict=True))
    return Cron(expression, tuple(f[1] for f in fields), fields[2][2], fields[4][2])


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2300, 12, 31), timezones=st.just(UTC)
)


def parse_or_none(expression: str) -> CronSchedule | None:
    """The schedule, or None when it is refused for naming a day no chosen month has."""
    try:
        return parse_cron(expression)
    except InvalidCron as exc:
        if "never occurs" not in str(exc):
            raise
        return None


@given(crons())
def test_cron_fields_name_the_documented_values(cron: Cron) -> None:
    schedule = parse_or_none(cron.expression)
    assume(schedule is not None)
    assert schedule is not None
    found = (
        schedule.minutes,
        schedule.hours,
        schedule.days,
        schedule.months,
        schedule.weekdays,
    )
    assert found == cron.values
    assert (schedule.days_restricted, schedule.weekdays_restricted) == (
        cron.days_restricted,
        cron.weekdays_restricted,
    )


@given(crons())
def test_the_normalised_text_is_the_same_schedule(cron: Cron) -> None:
    schedule = parse_or_none(cron.expression)
    assume(schedule is not None)
    again = parse_cron(str(schedule))
    assert again == schedule
    assert str(again) == str(schedule)


@settings(deadline=None)
@given(crons(), moments)
def test_next_after_is_the_first_firing_time(cron: Cron, moment: datetime) -> None:
    schedule = parse_or_none(cron.expression)
    assume(schedule is not None)
    assert schedule is not None
    fired = schedule.next_after(moment)
    assert fired > moment
    assert (fired.second, fired.microsecond) == (0, 0)
    assert cron.fires(fired)
    # Nothing fires in between (searched when the gap is short enough to search).
    gap = (fired.date() - moment.date()).days
    if gap <= 800:
        assert cron.first_after(moment, gap) == fired


@given(crons(), moments, st.integers(-14, 14))
def test_next_after_does_not_depend_on_the_time_zone(
    cron: Cron, moment: datetime, hours: int
) -> None:
    from datetime import timezone

    schedule = parse_or_none(cron.expression)
    assume(schedule is not None)
    assert schedule is not None
    elsewhere = moment.astimezone(timezone(timedelta(hours=hours)))
    assert schedule.next_after(elsewhere) == schedule.next_after(moment)


CRON_ALPHABET = st.sampled_from(
    [*"0123456789*/,-? ", "\t", "MON", "jan", "SUN", "60", "32", "13", "7", "x", "é", "\x00"]
)


@given(st.lists(CRON_ALPHABET, max_size=30).map("".join), moments)
def test_any_text_is_a_schedule_or_refused_with_invalid_cron(text: str, moment: datetime) -> None:
    try:
        schedule = parse_cron(text)
    except InvalidCron:
        return
    fired = schedule.next_after(moment)
    assert fired > moment


@pytest.mark.parametrize(
    ("written", "same_as", "normal"),
    [
        ("0/1 * * * *", "* * * * *", "0/1 * * * *"),  # found by the normalisation property
        ("5/1 * * * *", "5-59 * * * *", "5/1 * * * *"),
        ("*/1 * * * *", "* * * * *", "* * * * *"),
        ("1-5/1 * * * *", "1-5 * * * *", "1-5 * * * *"),
    ],
)
def test_a_step_of_one_after_a_start_is_kept(written: str, same_as: str, normal: str) -> None:
    schedule = parse_cron(written)
    assert schedule == parse_cron(same_as)
    assert str(schedule) == normal
    assert parse_cron(str(schedule)) == schedule


def test_a_long_expression_is_refused() -> None:
    with pytest.raises(InvalidCron):
        parse_cron("0 0 * * " + ",".join(["1"] * 200))


# --- selectors -----------------------------------------------------------------------------------

CHARS = "ab.-_"  # what image names and tags are made of, in small
TEXT_CHARS = CHARS + "/"


@dataclass(frozen=True)
class Node:
    text: str  # as written in a pattern
    regex: str  # what it matches, as a Python regular expression


def literal() -> st.SearchStrategy[Node]:
    plain = st.sampled_from(CHARS).map(lambda c: Node(c, re.escape(c)))
    escaped = st.sampled_from("ab.*?{}[],\\").map(lambda c: Node("\\" + c, re.escape(c)))
    return st.one_of(plain, plain, escaped)


@st.composite
def char_class(draw: st.DrawFn) -> Node:
    chars = draw(st.lists(st.sampled_from("ab._"), min_size=1, max_size=3, unique=True))
    negated = draw(st.sampled_from(["", "!", "^"]))
    inner = "".join(re.escape(c) for c in chars)
    # A class never matches '/', negated or not.
    regex = f"[^/{inner}]" if negated else f"[{inner}]"
    return Node(f"[{negated}{''.join(chars)}]", regex)


def simple() -> st.SearchStrategy[Node]:
    return st.one_of(
        literal(),
        st.just(Node("*", "[^/]*")),
        st.just(Node("?", "[^/]")),
        char_class(),
    )


def sequence(nodes: st.SearchStrategy[Node], max_size: int = 4) -> st.SearchStrategy[Node]:
    return st.lists(nodes, max_size=max_size).map(
        lambda seq: Node("".join(n.text for n in seq), "".join(n.regex for n in seq))
    )


@st.composite
def braces(draw: st.DrawFn) -> Node:
    options = draw(st.lists(sequence(simple(), 3), min_size=1, max_size=3))
    # '**' inside braces has rules of its own (it ends its option): not drawn here.
    assume(not any("**" in o.text for o in options))
    text = "{" + ",".join(o.text for o in options) + "}"
    return Node(text, "(?:" + "|".join(o.regex for o in options) + ")")


def component() -> st.SearchStrategy[Node]:
    return sequence(st.one_of(simple(), simple(), braces()), 4).filter(
        # A component of stars only ('**', '***') is a doublestar component: drawn apart.
        lambda n: bool(n.text) and set(n.text) != {"*"}
    )


@st.composite
def single_pattern(draw: st.DrawFn) -> Node:
    """Components joined by '/'; a component may be '**' (zero or more whole components),
    though not the last one of several."""
    parts = draw(st.lists(st.one_of(component(), st.just(Node("**", ""))), min_size=1, max_size=3))
    if len(parts) == 1 and parts[0].text == "**":
        return Node("**", ".*")
    assume(parts[-1].text != "**")
    text = "/".join(p.text for p in parts)
    regex = ""
    for index, part in enumerate(parts):
        if part.text == "**":
            regex += "(?:.*/)?"  # then the next component follows directly
        else:
            regex += part.regex + ("/" if index < len(parts) - 1 else "")
    return Node(text, regex)


@st.composite
def patterns(draw: st.DrawFn) -> Node:
    """One pattern, or several joined by top-level commas (alternatives)."""
    alternatives = draw(st.lists(single_pattern(), min_size=1, max_size=2))
    text = ",".join(a.text for a in alternatives)
    assume(0 < len(text) <= 255)
    return Node(text, "(?:" + "|".join(f"(?:{a.regex})" for a in alternatives) + ")")


texts = st.text(alphabet=TEXT_CHARS, max_size=10)


@settings(max_examples=300)
@given(patterns(), st.lists(texts, min_size=1, max_size=20))
def test_patterns_match_as_their_regular_expressions(pattern: Node, candidates: list[str]) -> None:
    compiled = compile_pattern(pattern.text)
    oracle = re.compile(pattern.regex, re.DOTALL)
    for text in candidates:
        assert compiled.matches(text) == bool(oracle.fullmatch(text)), (pattern, text)


@given(patterns(), texts, st.booleans())
def test_an_excluding_selector_selects_what_the_pattern_does_not_match(
    pattern: Node, text: str, include: bool
) -> None:
    matched = compile_pattern(pattern.text).matches(text)
    assert Selector(pattern.text, include).selects(text) == (matched == include)


@given(st.integers(2, 40), st.text(alphabet="ab", max_size=60))
def test_star_heavy_patterns_stay_exact(stars: int, text: str) -> None:
    """`*a*a*…*b` has many NFA states; the DFA (or its uncached fallback) stays exact.

    The oracle is the language spelt out (a text over "ab" ending in b with at least `stars`
    a's before it), not a regular expression: Python's backtracking `re` takes exponential
    time on `(?:[^/]*a){40}[^/]*b` against a long run of a's."""
    pattern = "*a" * stars + "*b"
    assume(len(pattern) <= 255)
    expected = text.endswith("b") and text[:-1].count("a") >= stars
    assert compile_pattern(pattern).matches(text) == expected


@given(st.text(alphabet=st.sampled_from([*"ab*?/{},[]!^-\\. é"]), max_size=40), texts)
def test_any_text_is_a_pattern_or_refused_with_invalid_pattern(pattern: str, text: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except InvalidPattern:
        return
    first = compiled.matches(text)
    assert compiled.matches(text) == first  # the cached automaton agrees with itself
