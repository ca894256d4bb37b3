"""Points in time as Kubernetes writes them: Go's ``time.RFC3339`` layout.

Used for the ``Created At`` column of the tables (apimachinery.tables) and for kubectl's
``rollout restart`` annotation. One home, so both spell a time the same way.
"""

from __future__ import annotations

import datetime

from google.protobuf.timestamp_pb2 import Timestamp

# What Go's time.Time{}.UTC().Format(time.RFC3339) prints: an unset time.
ZERO_TIME_RFC3339 = "0001-01-01T00:00:00Z"


def rfc3339(moment: datetime.datetime) -> str:
    """Go's time.RFC3339: ``2024-05-01T12:00:00Z`` (UTC) or ``...+02:00``; whole seconds."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def is_unset(timestamp: Timestamp) -> bool:
    return timestamp.seconds == 0 and timestamp.nanos == 0


def rfc3339_utc(timestamp: Timestamp) -> str:
    """A stored timestamp in UTC, as the apiserver's default table prints ``Created At``."""
    if is_unset(timestamp):
        return ZERO_TIME_RFC3339
    return rfc3339(timestamp.ToDatetime(tzinfo=datetime.timezone.utc))
