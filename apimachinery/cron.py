"""Cron schedules as CronJobs write them, parsed and stepped the way Kubernetes' parser
(robfig/cron's ParseStandard) does.

A schedule is five fields, ``minute hour day-of-month month day-of-week``, each ``*``
(or ``?`` in the day fields), a number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or
``a/n`` (``a`` to the field's maximum), or a comma list of those; months and weekdays
also by name (``JAN``-``DEC``, ``SUN``-``SAT``, any case). Descriptors ``@yearly``
(``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and ``@hourly``
stand for their five-field forms; ``@every`` is not supported. As in cron, when both
day fields are restricted a day matching either fires; when one of them is ``*`` both
must match.

next_after(schedule, t, zone) is the first fire time strictly after t: whole minutes,
counted in the wall clock of ``zone`` (an IANA name, via zoneinfo; UTC when empty). A
wall-clock minute that does not exist (skipped by a daylight-saving change) does not
fire; one that happens twice fires the first time.

The errors are ValueErrors worded as robfig/cron's, which Kubernetes shows in its
``spec.schedule: Invalid value`` message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {name: i + 1 for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_NO_NAMES: dict[str, int] = {}
# (minimum, maximum, names) of each field, in order.
_BOUNDS = ((0, 59, _NO_NAMES), (0, 23, _NO_NAMES), (1, 31, _NO_NAMES), (1, 12, MONTHS), (0, 6, DAYS))
# How far ahead next_after looks before it says a schedule never fires (Feb 30th).
MAX_YEARS_AHEAD = 5


class CronError(ValueError):
    """A schedule that does not parse; the message says why."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    dom_star: bool  # the field was * or ? (or */1): then both day fields must match
    dow_star: bool

    def day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days_of_month
        dow = (day.isoweekday() % 7) in self.days_of_week
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow


def _number(text: str, names: dict[str, int], expr: str) -> int:
    named = names.get(text.lower())
    if named is not None:
        return named
    try:
        value = int(text, 10)
    except ValueError:
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax') from None
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {expr}")
    return value


def _range(expr: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    low_and_high = range_and_step[0].split("-")
    if len(low_and_high) > 2:
        raise CronError(f"too many hyphens: {expr}")
    star = False
    if low_and_high[0] in ("*", "?"):
        start, end, star = low, high, True
    else:
        start = _number(low_and_high[0], names, expr)
        end = _number(low_and_high[1], names, expr) if len(low_and_high) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], _NO_NAMES, expr)
        if len(low_and_high) == 1 and not star:
            end = high  # "a/n": from a to the maximum
        if step > 1:
            star = False
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    low, high, names = _BOUNDS[index]
    values: set[int] = set()
    star = False
    for part in text.split(","):
        got, part_star = _range(part, low, high, names)
        values |= got
        star = star or part_star
    return frozenset(values), star


def parse(schedule: str) -> Schedule:
    """The Schedule a cron expression describes; CronError if it is not one."""
    text = schedule.strip()
    if not text:
        raise CronError("empty spec string")
    if text.startswith("@"):
        if text.startswith("@every"):
            raise CronError(f"unsupported descriptor: {text}")
        expanded = DESCRIPTORS.get(text.lower())
        if expanded is None:
            raise CronError(f"unrecognized descriptor: {text}")
        text = expanded
    fields = text.split()
    if len(fields) != 5:
        shown = "[" + " ".join(fields) + "]"
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {shown}")
    minutes, _ = _field(fields[0], 0)
    hours, _ = _field(fields[1], 1)
    dom, dom_star = _field(fields[2], 2)
    months, _ = _field(fields[3], 3)
    dow, dow_star = _field(fields[4], 4)
    return Schedule(minutes, hours, dom, months, dow, dom_star, dow_star)


def zone(name: str) -> ZoneInfo | timezone:
    """The time zone named (IANA); UTC for an empty name. CronError for an unknown one."""
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name}") from None


def next_after(schedule: Schedule | str, after: datetime, time_zone: str = "") -> datetime | None:
    """The first time the schedule fires strictly after ``after`` (an aware datetime),
    in UTC; None when it never fires within MAX_YEARS_AHEAD years."""
    sched = parse(schedule) if isinstance(schedule, str) else schedule
    tz = zone(time_zone)
    local = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
    limit = local + timedelta(days=366 * MAX_YEARS_AHEAD)
    day = local.replace(hour=0, minute=0)
    first_day = True
    hours, minutes = sorted(sched.hours), sorted(sched.minutes)
    while day <= limit:
        if day.month in sched.months and sched.day_matches(day):
            for hour in hours:
                if first_day and hour < local.hour:
                    continue
                for minute in minutes:
                    wall = day.replace(hour=hour, minute=minute)
                    if first_day and wall < local:
                        continue
                    fired = _to_utc(wall, tz)
                    if fired is not None and fired > after:
                        return fired
        day += timedelta(days=1)
        first_day = False
    return None


def _to_utc(wall: datetime, tz: ZoneInfo | timezone) -> datetime | None:
    """The UTC instant of a wall-clock time in tz; None when that wall time does not exist."""
    utc = wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) != wall:
        return None  # in a daylight-saving gap
    return utc


def times_between(schedule: Schedule | str, start: datetime, end: datetime, time_zone: str = "",
                  limit: int = 100) -> tuple[list[datetime], bool]:
    """Fire times in (start, end], oldest first, and whether there were more than ``limit``.

    With more than ``limit`` only the newest ones are returned (at least the newest), found by
    looking back from ``end`` over a growing window instead of stepping through every missed
    time since ``start`` (a minutely schedule a year behind is half a million steps)."""
    sched = parse(schedule) if isinstance(schedule, str) else schedule
    found = _scan(sched, start, end, time_zone, limit + 1)
    if len(found) <= limit:
        return found, False
    for window in _LOOK_BACK:
        recent = _scan(sched, max(start, end - window), end, time_zone, None)
        if recent:
            return recent[-limit:], True
    return found[-limit:], True  # not reached: the first scan found times in (start, end]


_LOOK_BACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367),
              timedelta(days=366 * MAX_YEARS_AHEAD))


def _scan(sched: Schedule, start: datetime, end: datetime, time_zone: str, cap: int | None) -> list[datetime]:
    found: list[datetime] = []
    t = start
    while cap is None or len(found) < cap:
        nxt = next_after(sched, t, time_zone)
        if nxt is None or nxt > end:
            break
        found.append(nxt)
        t = nxt
    return found
