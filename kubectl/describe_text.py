"""Describe-style text: Go's text/tabwriter alignment (:func:`tabbed`), kubectl's describe
PrefixWriter, and the time layout describe prints (Go's RFC 1123Z; RFC 3339 lives in
apimachinery.timestamps).

Pure functions of text and timestamps, used by ``describe`` and ``rollout history``.
"""

from __future__ import annotations

import datetime

from google.protobuf.timestamp_pb2 import Timestamp

# Go's time.RFC1123Z ("Mon, 02 Jan 2006 15:04:05 -0700"), spelled out so the locale cannot change it.
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# What Go prints for an unset time.Time in that layout.
ZERO_TIME_RFC1123Z = "Mon, 01 Jan 0001 00:00:00 +0000"


def rfc1123z(timestamp: Timestamp, tz: datetime.tzinfo | None = None) -> str:
    """A timestamp as ``describe`` shows it, in local time like kubectl (or in ``tz``)."""
    if timestamp.seconds == 0 and timestamp.nanos == 0:
        return ZERO_TIME_RFC1123Z
    moment = timestamp.ToDatetime(tzinfo=datetime.timezone.utc).astimezone(tz)
    offset = moment.strftime("%z") or "+0000"
    return (f"{_WEEKDAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {offset}")


def tabbed(text: str, padding: int = 2, min_width: int = 0) -> str:
    """Align tab-separated text exactly as Go's text/tabwriter does for kubectl's describe
    and history output (``tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)``).

    A cell is text ending in a tab; the text after a line's last tab belongs to no column.
    Columns are aligned per *block*: consecutive lines that all have a cell in that column,
    so a line without a tab (``Containers:``) starts a new alignment for what follows.
    That is why kubectl's ``OldReplicaSets:`` line widens the Conditions table above it.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write(first: int, end: int) -> None:
        for cells in lines[first:end]:
            parts = []
            for column, cell in enumerate(cells):
                last = column == len(cells) - 1
                parts.append(cell if last or column >= len(widths) else cell.ljust(widths[column]))
            out.append("".join(parts))

    def format_block(first: int, end: int) -> None:
        column = len(widths)
        current = first
        while current < end:
            if column >= len(lines[current]) - 1:
                current += 1
                continue
            write(first, current)
            first = current
            width = min_width
            while current < end and column < len(lines[current]) - 1:
                width = max(width, len(lines[current][column]) + padding)
                current += 1
            widths.append(width)
            format_block(first, current)
            widths.pop()
            first = current
        write(first, end)

    format_block(0, len(lines))
    return "\n".join(out)


class PrefixWriter:
    """kubectl's describe.PrefixWriter over a tabwriter: ``write(level, text)`` indents by
    two spaces per level; ``flush()`` aligns what was written so far as one tabwriter run
    (kubectl flushes before the Events table, so it is aligned on its own)."""

    def __init__(self) -> None:
        self._done: list[str] = []
        self._pending: list[str] = []

    def write(self, level: int, text: str) -> None:
        self._pending.append("  " * level + text)

    def line(self, text: str = "") -> None:
        """Go's WriteLine: text and a newline, no indent."""
        self._pending.append(text + "\n")

    def flush(self) -> None:
        if self._pending:
            self._done.append(tabbed("".join(self._pending)))
            self._pending = []

    def raw(self) -> str:
        """Everything written, tabs left as they are (kubectl's rollout history --revision)."""
        return "".join(self._done) + "".join(self._pending)

    def text(self) -> str:
        self.flush()
        return "".join(self._done)
