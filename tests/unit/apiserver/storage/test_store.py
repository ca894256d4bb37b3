"""Semantics every Store backend must share, run against MemoryStore and SQLiteStore.

SQLite-only tests at the end cover what memory cannot: reopening the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from apiserver.storage import (
    ANY_REVISION,
    MUST_NOT_EXIST,
    Change,
    KeyExistsError,
    KeyNotFoundError,
    RevisionMismatchError,
    Store,
    StoredItem,
)
from apiserver.storage.memory import MemoryStore
from apiserver.storage.sqlite import DB_FILENAME, SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / DB_FILENAME)
    yield s
    s.close()


def create(key: str, value: bytes) -> Change:
    return Change(key, value, MUST_NOT_EXIST)


def update(key: str, value: bytes, expected: int = ANY_REVISION) -> Change:
    return Change(key, value, expected)


def delete(key: str, expected: int = ANY_REVISION) -> Change:
    return Change(key, None, expected)


def snapshot(store: Store) -> tuple[list[StoredItem], int]:
    """Everything observable, to assert that a failed commit changed nothing."""
    return store.load()


# --- basics ------------------------------------------------------------------------


def test_empty_store(store: Store) -> None:
    assert store.load() == ([], 0)
    assert store.revision == 0
    assert store.get("/Pod/default/missing") is None


def test_create_get_load(store: Store) -> None:
    assert store.commit([create("/Pod/default/b", b"bee")]) == [1]
    assert store.commit([create("/Pod/default/a", b"ay")]) == [2]

    assert store.get("/Pod/default/b") == StoredItem("/Pod/default/b", b"bee", 1)
    assert store.get("/Pod/default/a") == StoredItem("/Pod/default/a", b"ay", 2)
    # load() is ordered by key, not by revision.
    assert store.load() == (
        [StoredItem("/Pod/default/a", b"ay", 2), StoredItem("/Pod/default/b", b"bee", 1)],
        2,
    )


def test_values_are_bytes_round_trip(store: Store) -> None:
    value = bytes(range(256)) * 40  # every byte value, NULs included, ~10 KB
    store.commit([create("/k", value)])
    item = store.get("/k")
    assert item is not None and item.value == value and type(item.value) is bytes


def test_revision_increments_by_one_per_change_and_across_commits(store: Store) -> None:
    assert store.commit([create("/a", b"1"), create("/b", b"2"), create("/c", b"3")]) == [1, 2, 3]
    assert store.revision == 3
    assert store.commit([update("/a", b"1'")]) == [4]
    assert store.commit([update("/b", b"2'"), update("/c", b"3'")]) == [5, 6]
    assert store.revision == 6
    assert [(i.key, i.revision) for i in store.load()[0]] == [("/a", 4), ("/b", 5), ("/c", 6)]


def test_empty_commit_consumes_no_revision(store: Store) -> None:
    store.commit([create("/a", b"1")])
    assert store.commit([]) == []
    assert store.revision == 1


# --- deletes -------------------------------------------------------------------------


def test_delete_consumes_a_revision(store: Store) -> None:
    store.commit([create("/a", b"1")])
    store.commit([create("/b", b"2")])
    assert store.commit([delete("/b")]) == [3]

    assert store.get("/b") is None
    assert store.load() == ([StoredItem("/a", b"1", 1)], 3)


def test_revision_never_goes_back_when_latest_keys_are_deleted(store: Store) -> None:
    store.commit([create("/a", b"1"), create("/b", b"2")])
    store.commit([delete("/b")])
    store.commit([delete("/a", expected=1)])
    assert store.load() == ([], 4)
    # The next change gets 5: revisions 2..4 are never handed out again.
    assert store.commit([create("/b", b"again")]) == [5]


# --- compare-and-swap --------------------------------------------------------------


def test_cas_update_succeeds_at_the_expected_revision(store: Store) -> None:
    store.commit([create("/a", b"v1")])
    assert store.commit([update("/a", b"v2", expected=1)]) == [2]
    assert store.get("/a") == StoredItem("/a", b"v2", 2)


def test_cas_delete_succeeds_at_the_expected_revision(store: Store) -> None:
    store.commit([create("/a", b"v1")])
    assert store.commit([delete("/a", expected=1)]) == [2]
    assert store.get("/a") is None


@pytest.mark.parametrize("change", [update("/Pod/ns/a", b"stale", expected=1), delete("/Pod/ns/a", expected=1)])
def test_cas_mismatch_names_key_and_revisions_and_writes_nothing(store: Store, change: Change) -> None:
    store.commit([create("/Pod/ns/a", b"v1")])
    store.commit([update("/Pod/ns/a", b"v2")])
    before = snapshot(store)

    with pytest.raises(RevisionMismatchError) as err:
        store.commit([change])

    message = str(err.value)
    assert "/Pod/ns/a" in message
    assert "expected revision 1" in message and "revision 2" in message
    assert snapshot(store) == before
    assert store.revision == 2
    assert store.get("/Pod/ns/a") == StoredItem("/Pod/ns/a", b"v2", 2)


# --- existence checks ----------------------------------------------------------------


def test_create_of_existing_key_fails(store: Store) -> None:
    store.commit([create("/a", b"v1")])
    before = snapshot(store)
    with pytest.raises(KeyExistsError, match="/a"):
        store.commit([create("/a", b"v2")])
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "change",
    [update("/missing", b"x"), update("/missing", b"x", expected=1), delete("/missing"), delete("/missing", expected=1)],
    ids=["update", "cas-update", "delete", "cas-delete"],
)
def test_update_or_delete_of_missing_key_fails(store: Store, change: Change) -> None:
    store.commit([create("/a", b"v1")])
    before = snapshot(store)
    with pytest.raises(KeyNotFoundError, match="/missing"):
        store.commit([change])
    assert snapshot(store) == before


def test_recreate_after_delete(store: Store) -> None:
    store.commit([create("/a", b"v1")])
    store.commit([delete("/a")])
    assert store.commit([create("/a", b"v2")]) == [3]
    assert store.get("/a") == StoredItem("/a", b"v2", 3)


# --- multi-change commits ------------------------------------------------------------


@pytest.mark.parametrize(
    ("failing", "error"),
    [
        (create("/existing", b"dup"), KeyExistsError),
        (update("/missing", b"x"), KeyNotFoundError),
        (update("/existing", b"x", expected=99), RevisionMismatchError),
    ],
    ids=["exists", "not-found", "mismatch"],
)
def test_multi_change_commit_is_atomic(store: Store, failing: Change, error: type[Exception]) -> None:
    store.commit([create("/existing", b"v1")])
    before = snapshot(store)

    with pytest.raises(error):
        store.commit([create("/new1", b"1"), update("/existing", b"changed"), failing])

    assert snapshot(store) == before
    assert store.get("/new1") is None
    # The store is still usable and continues from the unchanged revision.
    assert store.commit([create("/new1", b"1")]) == [2]


def test_same_key_twice_in_one_commit_sees_the_earlier_change(store: Store) -> None:
    # create then CAS-update: the update must expect the revision the create gets.
    assert store.commit([create("/a", b"v1"), update("/a", b"v2", expected=1)]) == [1, 2]
    assert store.get("/a") == StoredItem("/a", b"v2", 2)
    # delete then create again.
    assert store.commit([delete("/a", expected=2), create("/a", b"v3")]) == [3, 4]
    assert store.get("/a") == StoredItem("/a", b"v3", 4)
    # create then delete: both consume revisions, nothing is left.
    assert store.commit([create("/b", b"x"), delete("/b", expected=5)]) == [5, 6]
    assert store.load() == ([StoredItem("/a", b"v3", 4)], 6)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ([create("/a", b"1"), create("/a", b"2")], KeyExistsError),
        ([create("/a", b"1"), delete("/a"), update("/a", b"2")], KeyNotFoundError),
        ([create("/a", b"1"), update("/a", b"2", expected=5)], RevisionMismatchError),
    ],
    ids=["double-create", "update-after-delete", "cas-against-staged"],
)
def test_same_key_twice_in_one_commit_conflicts_with_the_earlier_change(
    store: Store, changes: list[Change], error: type[Exception]
) -> None:
    with pytest.raises(error, match="/a"):
        store.commit(changes)
    assert store.load() == ([], 0)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (Change("/a", None, MUST_NOT_EXIST), ValueError),
        (Change("/a", b"x", -2), ValueError),
        (Change("/a", "text", MUST_NOT_EXIST), TypeError),
    ],
    ids=["delete-must-not-exist", "negative-revision", "str-value"],
)
def test_malformed_changes_are_rejected(store: Store, change: Change, error: type[Exception]) -> None:
    with pytest.raises(error):
        store.commit([create("/ok", b"1"), change])
    assert store.load() == ([], 0)


# --- SQLite only: the file ---------------------------------------------------------


def test_sqlite_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with SQLiteStore(path) as s:
        s.commit([create("/a", b"1"), create("/b", b"2")])
        s.commit([update("/a", b"1'", expected=1), delete("/b")])
        s.commit([create("/c", b"3")])
        expected = s.load()

    with SQLiteStore(path) as s:
        assert s.load() == expected
        assert s.revision == 5
        assert s.get("/a") == StoredItem("/a", b"1'", 3)
        assert s.commit([update("/c", b"3'", expected=5)]) == [6]


def test_sqlite_revision_never_goes_back_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with SQLiteStore(path) as s:
        s.commit([create("/a", b"1"), create("/b", b"2")])
        s.commit([delete("/b"), delete("/a")])  # the highest-revision keys are gone
        assert s.revision == 4

    with SQLiteStore(path) as s:
        assert s.load() == ([], 4)
        assert s.commit([create("/a", b"again")]) == [5]


def test_sqlite_failed_commit_is_not_persisted(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with SQLiteStore(path) as s:
        s.commit([create("/a", b"1")])
        with pytest.raises(KeyExistsError):
            s.commit([create("/b", b"2"), create("/a", b"dup")])

    with SQLiteStore(path) as s:
        assert s.load() == ([StoredItem("/a", b"1", 1)], 1)


def test_sqlite_open_in_creates_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "state" / "apiserver"
    with SQLiteStore.open_in(data_dir) as s:
        s.commit([create("/a", b"1")])
    assert (data_dir / DB_FILENAME).is_file()
    with SQLiteStore.open_in(data_dir) as s:
        assert s.revision == 1


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    SQLiteStore(path).close()
    # journal_mode=WAL is recorded in the file itself, so any connection sees it.
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.parametrize("level", ["NORMAL", "FULL", "full"])
def test_sqlite_accepts_synchronous_levels(tmp_path: Path, level: str) -> None:
    with SQLiteStore(tmp_path / DB_FILENAME, synchronous=level) as s:
        assert s.commit([create("/a", b"1")]) == [1]


def test_sqlite_rejects_unknown_synchronous_level(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / DB_FILENAME, synchronous="NORMAL; DROP TABLE objects")


def test_sqlite_close_is_idempotent(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / DB_FILENAME)
    s.close()
    s.close()
