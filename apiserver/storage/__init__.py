"""The apiserver's durable store, behind a small protocol.

A store maps keys (``/<Kind>/<namespace>/<name>``) to serialized objects and keeps
one global revision counter that only goes up: every committed change gets the
next revision, which becomes the object's resourceVersion. The apiserver's watch
cache sits in front of it; the store itself only has to be durable and atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


class StoreError(Exception):
    pass


class KeyExistsError(StoreError):
    """Create of a key that is already there."""


class KeyNotFoundError(StoreError):
    """Update or delete of a key that is not there."""


class RevisionMismatchError(StoreError):
    """Compare-and-swap failed: the key's revision is not the expected one."""


# expected_revision for a Change: the key must not exist (a create).
MUST_NOT_EXIST = 0
# expected_revision for a Change: any existing revision will do (unconditional).
ANY_REVISION = -1


@dataclass(frozen=True)
class Change:
    """One write in a commit. value None deletes the key.

    expected_revision is MUST_NOT_EXIST (0) for a create, ANY_REVISION (-1) for an
    unconditional update/delete of an existing key, or the revision the key must
    have now (compare-and-swap)."""

    key: str
    value: bytes | None
    expected_revision: int


@dataclass(frozen=True)
class StoredItem:
    key: str
    value: bytes
    revision: int  # revision of the last change to this key


class Store(Protocol):
    def load(self) -> tuple[list[StoredItem], int]:
        """Every key with its value and revision, and the store's current revision."""
        ...

    def get(self, key: str) -> StoredItem | None: ...

    def commit(self, changes: Sequence[Change]) -> list[int]:
        """Apply all changes atomically (all or none) and durably.

        Change i gets revision current+1+i; returns those revisions. Raises
        KeyExistsError / KeyNotFoundError / RevisionMismatchError (naming the key)
        and then writes nothing."""
        ...

    @property
    def revision(self) -> int:
        """The revision of the last committed change (0 for an empty store)."""
        ...

    def close(self) -> None: ...
