"""An in-memory Store: the reference semantics, with no durability.

Unit tests and hollow-node benchmarks use it where a file on disk would only cost
time. It also holds the rules every backend shares (``validate_changes`` and
``check_expected``), so the SQLite store and this one cannot drift apart.
"""

from __future__ import annotations

from typing import Sequence

from apiserver.storage import (
    ANY_REVISION,
    MUST_NOT_EXIST,
    Change,
    KeyExistsError,
    KeyNotFoundError,
    RevisionMismatchError,
    StoredItem,
)


def validate_changes(changes: Sequence[Change]) -> None:
    """Reject changes that make no sense whatever the store holds.

    These are programming errors in the caller (ValueError/TypeError), not
    conflicts, so they are raised before anything is looked up."""
    for change in changes:
        if change.value is not None and not isinstance(change.value, bytes):
            raise TypeError(f"{change.key}: value must be bytes or None, got {type(change.value).__name__}")
        if change.expected_revision < ANY_REVISION:
            raise ValueError(f"{change.key}: invalid expected_revision {change.expected_revision}")
        if change.value is None and change.expected_revision == MUST_NOT_EXIST:
            raise ValueError(f"{change.key}: a delete needs an existing key, not MUST_NOT_EXIST")


def check_expected(change: Change, current_revision: int | None) -> None:
    """Raise the right StoreError if ``change`` may not be applied.

    ``current_revision`` is the key's revision as the commit sees it so far (None if
    the key is absent), which includes earlier changes of the same commit."""
    key, expected = change.key, change.expected_revision
    if expected == MUST_NOT_EXIST:
        if current_revision is not None:
            raise KeyExistsError(f"{key}: already exists (at revision {current_revision})")
        return
    if current_revision is None:
        raise KeyNotFoundError(f"{key}: not found")
    if expected != ANY_REVISION and expected != current_revision:
        raise RevisionMismatchError(
            f"{key}: expected revision {expected}, but it is at revision {current_revision}"
        )


class MemoryStore:
    """A Store kept in a dict; everything is lost when the process ends."""

    def __init__(self) -> None:
        self._items: dict[str, StoredItem] = {}
        self._revision = 0

    def load(self) -> tuple[list[StoredItem], int]:
        items = [self._items[key] for key in sorted(self._items)]
        return items, self._revision

    def get(self, key: str) -> StoredItem | None:
        return self._items.get(key)

    def commit(self, changes: Sequence[Change]) -> list[int]:
        """Check every change against a staged view, then apply them all at once.

        Staging (rather than writing as we go) is what makes a failing change
        leave the earlier ones of the same commit unwritten."""
        validate_changes(changes)
        staged: dict[str, StoredItem | None] = {}  # None: deleted in this commit
        revisions: list[int] = []
        for offset, change in enumerate(changes):
            current = staged[change.key] if change.key in staged else self._items.get(change.key)
            check_expected(change, current.revision if current is not None else None)
            revision = self._revision + 1 + offset
            staged[change.key] = (
                None if change.value is None else StoredItem(change.key, change.value, revision)
            )
            revisions.append(revision)

        for key, item in staged.items():
            if item is None:
                self._items.pop(key, None)  # may have been created in this same commit
            else:
                self._items[key] = item
        self._revision += len(changes)
        return revisions

    @property
    def revision(self) -> int:
        return self._revision

    def close(self) -> None:
        """Nothing to release; present so MemoryStore satisfies Store."""
