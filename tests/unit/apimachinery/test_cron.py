"""apimachinery/cron.py: parsing five-field schedules and stepping to the next fire time."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from apimachinery.cron import CronError, next_after, parse, times_between

UTC = timezone.utc
T = datetime(2026, 12, 4, 7, 40, 30, tzinfo=UTC)  # a Friday


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("schedule, expected", [
    ("*/5 * * * *", at(2026, 12, 4, 7, 45)),
    ("* * * * *", at(2026, 12, 4, 7, 41)),
    ("0 * * * *", at(2026, 12, 4, 8, 0)),
    ("@hourly", at(2026, 12, 4, 8, 0)),
    ("@daily", at(2026, 12, 5, 0, 0)),
    ("@weekly", at(2026, 12, 6, 0, 0)),  # Sunday
    ("@monthly", at(2027, 1, 1, 0, 0)),
    ("@yearly", at(2027, 1, 1, 0, 0)),
    ("30 9 * * MON-FRI", at(2026, 12, 4, 9, 30)),
    ("30 9 * * sat,sun", at(2026, 12, 5, 9, 30)),
    ("0 0 1 JAN *", at(2027, 1, 1, 0, 0)),
    ("15-20/2 7 * * *", at(2026, 12, 5, 7, 15)),
    ("45/5 7 * * *", at(2026, 12, 4, 7, 45)),
    ("0 12 4,25 12 *", at(2026, 12, 4, 12, 0)),
])
def test_next_after(schedule: str, expected: datetime) -> None:
    assert next_after(schedule, T) == expected


def test_next_after_is_strictly_after() -> None:
    assert next_after("*/5 * * * *", at(2026, 12, 4, 7, 45)) == at(2026, 12, 4, 7, 50)


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th or any Friday: Friday the 11th comes before the 13th.
    assert next_after("0 0 13 * FRI", T) == at(2026, 12, 11, 0, 0)
    # With one of them *, both must match: Fridays only.
    assert next_after("0 0 * * FRI", T) == at(2026, 12, 11, 0, 0)
    assert next_after("0 0 13 * *", T) == at(2026, 12, 13, 0, 0)


def test_time_zone() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    assert next_after("0 9 * * *", T, "Europe/Berlin") == at(2026, 12, 4, 8, 0)
    assert next_after("0 9 * * *", at(2026, 7, 1, 12, 0), "Europe/Berlin") == at(2026, 7, 2, 7, 0)


def test_a_wall_time_skipped_by_daylight_saving_does_not_fire() -> None:
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29.
    fired = next_after("30 2 * * *", at(2026, 3, 28, 12, 0), "Europe/Berlin")
    assert fired == at(2026, 3, 30, 0, 30)


def test_never_firing_schedule() -> None:
    assert next_after("0 0 30 2 *", T) is None


def test_times_between_keeps_the_newest() -> None:
    found, more = times_between("*/10 * * * *", at(2026, 12, 4, 7, 0), at(2026, 12, 4, 8, 0))
    assert found[0] == at(2026, 12, 4, 7, 10) and found[-1] == at(2026, 12, 4, 8, 0) and not more
    found, more = times_between("* * * * *", at(2026, 12, 4, 0, 0), at(2026, 12, 4, 8, 0), limit=100)
    assert found and len(found) <= 100 and found[-1] == at(2026, 12, 4, 8, 0) and more


def test_times_between_a_year_behind_is_quick() -> None:
    import time
    began = time.monotonic()
    found, more = times_between("* * * * *", at(2025, 12, 4, 0, 0), at(2026, 12, 4, 8, 0, 30))
    assert more and found[-1] == at(2026, 12, 4, 8, 0)
    found, more = times_between("0 0 1 1 *", at(2019, 1, 1, 0, 0), at(2026, 12, 4, 8, 0), limit=3)
    assert more and found[-1] == at(2026, 1, 1, 0, 0)
    assert time.monotonic() - began < 2.0


@pytest.mark.parametrize("schedule, message", [
    ("", "empty spec string"),
    ("foo", "expected exactly 5 fields, found 1: [foo]"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/2/3 * * * *", "too many slashes: */2/3"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("* * * FOO *", 'failed to parse int from FOO'),
    ("@often", "unrecognized descriptor: @often"),
    ("@every 5m", "unsupported descriptor: @every 5m"),
])
def test_invalid_schedules(schedule: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        parse(schedule)
    assert message in str(err.value)


def test_unknown_time_zone() -> None:
    with pytest.raises(CronError, match="unknown time zone Mars/Olympus"):
        next_after("* * * * *", T, "Mars/Olympus")
