"""Durations as Kubernetes writes and reads them (k8s.io/apimachinery/pkg/util/duration).

``human_duration`` is Kubernetes' ``duration.HumanDuration`` (the AGE column): precise
while small, coarser as it grows: ``45s``, ``3m2s``, ``15m``, ``5h3m``, ``20h``, ``3d4h``,
``30d``, ``2y10d``.

``parse_duration`` reads flag values like ``--timeout=90s`` or ``1m30s`` (a bare number is
seconds), for kubectl's flags and the servers' alike (component_base.flags.duration_arg).
"""

from __future__ import annotations

import datetime
import re

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
YEAR = 365 * DAY


def human_duration(elapsed: datetime.timedelta) -> str:
    seconds = int(elapsed.total_seconds())  # truncates toward zero, like Go's int()
    if seconds < -1:
        return "<invalid>"  # more than a little clock skew
    if seconds < 0:
        return "0s"
    if seconds < 2 * MINUTE:
        return f"{seconds}s"
    minutes = seconds // MINUTE
    if minutes < 10:
        return _two_units(minutes, "m", seconds % MINUTE, "s")
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = seconds // HOUR
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = seconds // DAY
    if hours < 8 * 24:
        return _two_units(days, "d", hours % 24, "h")
    if hours < 2 * 365 * 24:
        return f"{days}d"
    years = seconds // YEAR
    if hours < 8 * 365 * 24:
        return _two_units(years, "y", days % 365, "d")
    return f"{years}y"


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}" if small == 0 else f"{big}{big_unit}{small}{small_unit}"


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``30``, ``30s``, ``1m30s``, ``500ms``, ``2h``. Raises ValueError."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f'invalid duration "{text}": use a number of seconds or e.g. 30s, 5m, 1h')
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
