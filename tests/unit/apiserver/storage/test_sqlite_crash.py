"""kill -9 a process that is committing to a SQLiteStore, then check nothing was lost.

A child process (this file run as a script) commits a deterministic workload in a
tight loop and prints the store's revision after every successful commit. Once
the parent has read enough acknowledgements it SIGKILLs the child wherever it is,
reopens the file and checks:

* the file is intact (PRAGMA integrity_check);
* every acknowledged commit is there, and at most the one commit in flight
  beyond the last acknowledgement;
* the contents are exactly what the same workload produces on a MemoryStore up to
  that revision, so the survivor is a clean prefix of the writes (no torn commit);
* writing continues at revision + 1.

Where the kill lands is up to the scheduler, but every assertion must hold for any
landing point, so the test does not depend on timing luck.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from apiserver.storage import (
    ANY_REVISION,
    MUST_NOT_EXIST,
    Change,
    RevisionMismatchError,
    Store,
)
from apiserver.storage.memory import MemoryStore
from apiserver.storage.sqlite import DB_FILENAME, SQLiteStore

PROJECT_ROOT = Path(__file__).resolve().parents[4]
ACK_TIMEOUT_SECONDS = 60.0  # generous: a few thousand commits take ~1 s
WRITER_MAX_SECONDS = 120.0  # the writer's own safety net if the parent vanishes
EXIT_TIMEOUT_SECONDS = 10.0


class Workload:
    """A deterministic stream of commits: a function of the seed and of the store's
    answers, which are themselves deterministic. Replaying it on a MemoryStore
    therefore reproduces the SQLite store's state after any commit.

    Mixes creates, CAS and unconditional updates and deletes, multi-change commits
    (which may touch one key twice), and deliberately failing commits, which must
    leave no trace."""

    KEYS = [f"/ConfigMap/crash/cm-{i:02d}" for i in range(40)]

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._live: dict[str, int] = {}  # key -> revision, as the store reported it
        self.revision = 0

    def step(self, store: Store) -> int | None:
        """Make one commit. Returns the store's revision after it, or None for a
        commit that was designed to fail (and did)."""
        changes, must_fail = self._next_commit()
        if must_fail:
            try:
                store.commit(changes)
            except RevisionMismatchError:
                return None
            raise AssertionError(f"commit should have failed: {changes}")

        revisions = store.commit(changes)
        assert revisions == list(range(self.revision + 1, self.revision + 1 + len(changes)))
        for change, revision in zip(changes, revisions):
            if change.value is None:
                del self._live[change.key]
            else:
                self._live[change.key] = revision
        self.revision = revisions[-1]
        return self.revision

    def _next_commit(self) -> tuple[list[Change], bool]:
        rng = self._rng
        view = dict(self._live)  # the keys as the commit will see them so far
        next_revision = self.revision + 1
        changes: list[Change] = []
        for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
            present = sorted(view)
            absent = [k for k in self.KEYS if k not in view]
            op = rng.choice(["create", "create", "cas-update", "update", "cas-delete", "delete"])
            if op != "create" and not present:
                op = "create"
            if op == "create" and not absent:
                op = "cas-update"

            if op == "create":
                key = rng.choice(absent)
                changes.append(Change(key, self._value(key, next_revision), MUST_NOT_EXIST))
                view[key] = next_revision
            elif op in ("cas-update", "update"):
                key = rng.choice(present)
                expected = view[key] if op == "cas-update" else ANY_REVISION
                changes.append(Change(key, self._value(key, next_revision), expected))
                view[key] = next_revision
            else:
                key = rng.choice(present)
                expected = view[key] if op == "cas-delete" else ANY_REVISION
                changes.append(Change(key, None, expected))
                del view[key]
            next_revision += 1

        # One commit in ten ends with a stale CAS: everything before it must vanish.
        if view and rng.random() < 0.1:
            key = rng.choice(sorted(view))
            changes.append(Change(key, b"never written", view[key] + 1000))
            return changes, True
        return changes, False

    def _value(self, key: str, revision: int) -> bytes:
        # Sizes up to a few KB so commits span pages and the WAL checkpoints mid-run.
        header = f"{key}@{revision}:".encode()
        return header + self._rng.randbytes(self._rng.randint(0, 3000))


def run_writer(db_path: Path, seed: int) -> None:
    """The child process: commit forever, acknowledging each commit on stdout."""
    deadline = time.monotonic() + WRITER_MAX_SECONDS
    store = SQLiteStore(db_path)
    workload = Workload(seed)
    while time.monotonic() < deadline:
        revision = workload.step(store)
        if revision is not None:
            print(revision, flush=True)  # only after commit() returned: an acknowledgement


# --- the parent side -----------------------------------------------------------------


def _pump_lines(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    """Copy the child's stdout into a queue, so the test can wait with a timeout."""
    for line in stream:
        lines.put(line)
    lines.put(None)  # EOF


def _parse_ack(line: bytes) -> int | None:
    """A complete line is an acknowledged revision; a torn last line is not."""
    return int(line) if line.endswith(b"\n") else None


@pytest.mark.parametrize(("seed", "acks_before_kill"), [(1, 200), (2, 1000), (3, 3000)])
def test_kill_9_loses_no_acknowledged_commit(tmp_path: Path, seed: int, acks_before_kill: int) -> None:
    db_path = tmp_path / DB_FILENAME
    stderr_path = tmp_path / "writer.stderr"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)

    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, __file__, str(db_path), str(seed)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=PROJECT_ROOT,
            env=env,
        )
    assert child.stdout is not None
    lines: queue.Queue[bytes | None] = queue.Queue()
    pump = threading.Thread(target=_pump_lines, args=(child.stdout, lines), daemon=True)
    pump.start()

    def writer_failure(why: str) -> str:
        return f"{why}; writer stderr:\n{stderr_path.read_text(errors='replace')}"

    acked: list[int] = []
    try:
        deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
        while len(acked) < acks_before_kill:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(writer_failure(f"only {len(acked)} acknowledgements in {ACK_TIMEOUT_SECONDS}s"))
            if line is None:
                pytest.fail(writer_failure(f"writer exited after {len(acked)} acknowledgements"))
            revision = _parse_ack(line)
            assert revision is not None
            acked.append(revision)

        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=EXIT_TIMEOUT_SECONDS) == -signal.SIGKILL

        # Acknowledgements already in the pipe when the kill landed count too.
        while (line := lines.get(timeout=EXIT_TIMEOUT_SECONDS)) is not None:
            if (revision := _parse_ack(line)) is not None:
                acked.append(revision)
        pump.join(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=EXIT_TIMEOUT_SECONDS)
        child.stdout.close()

    # 1. The file survived the kill intact.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()

    with SQLiteStore(db_path) as store:
        items, revision = store.load()

        # 2. No acknowledged commit was lost.
        assert acked == sorted(set(acked)), "acknowledgements must be strictly increasing"
        assert acked[-1] <= revision

        # 3. The contents are exactly the workload's state at that revision.
        replica = MemoryStore()
        workload = Workload(seed)
        commit_ends: list[int] = []
        for _ in range(10 * revision + 100):  # bound: most steps advance the revision
            if replica.revision >= revision:
                break
            if (end := workload.step(replica)) is not None:
                commit_ends.append(end)
        assert replica.revision == revision, "the store must stop on a commit boundary"
        assert commit_ends[: len(acked)] == acked
        assert len(commit_ends) - len(acked) <= 1, "only the commit in flight may be unacknowledged"
        assert (items, revision) == replica.load()

        # 4. Writing continues right after the survivor's revision.
        assert store.commit([Change("/ConfigMap/crash/after-reopen", b"x", MUST_NOT_EXIST)]) == [revision + 1]


if __name__ == "__main__":
    run_writer(Path(sys.argv[1]), int(sys.argv[2]))
