"""Process supervision for a local cluster: start a component in its own session with a PID
file and a log file, follow what it logged since, and stop processes by PID (never by name).

Every process is identified by its PID *and* a piece of its command line (the *marker*), so a
reused PID never makes us signal a stranger (see :func:`cluster.registry.pid_alive`). The JSON
log lines the components write (``{"event": "apiserver serving", ...}``) are how `up` knows a
process is ready, rather than sleeping.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cluster.registry import pid_alive, stop_pid
from cluster.state_dir import ClusterError

REPO_ROOT = Path(__file__).resolve().parents[1]
HOLLOW = "hollow-nodes"         # the one process that runs every hollow node


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class LogFollower:
    """Reads what a process logged since it was started (earlier runs append to the same file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.offset = path.stat().st_size
        except OSError:
            self.offset = 0

    def events(self) -> Iterator[dict]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        for line in data.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record

    def seen(self, match: Callable[[str], bool]) -> bool:
        return any(match(str(r.get("event", ""))) for r in self.events())

    def tail(self, lines: int = 25) -> str:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read().decode(errors="replace")
        except OSError:
            return f"(no log at {self.path})"
        return "\n".join(data.splitlines()[-lines:]) or "(empty log)"


@dataclass
class Started:
    """A component process this `up` (or `start-node`) launched."""

    component: str
    proc: subprocess.Popen
    log: LogFollower

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def failure(self, what: str) -> ClusterError:
        code = self.proc.poll()
        reason = f"exited with code {code}" if code is not None else what
        return ClusterError(f"{self.component} {reason} (log: {self.log.path})", self.log.tail())


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Run the repository's code with this interpreter (the venv), wherever `pykube` was run from.
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(component: str, argv: list[str], log_path: Path, pid_file: Path) -> Started:
    """Start one component in its own session (Ctrl-C on `up` or its exit does not reach it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    follower = LogFollower(log_path)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=child_env(), cwd=REPO_ROOT, start_new_session=True)
    pid_file.write_text(f"{proc.pid}\n")
    return Started(component, proc, follower)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_all(pids: Sequence[tuple[int, str]], timeout: float = 10.0) -> None:
    """SIGTERM every (pid, cmdline marker) that is still ours, wait, SIGKILL what remains."""
    ours = [(pid, marker) for pid, marker in pids if pid_alive(pid, marker)]
    for pid, _ in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(pid) for pid, _ in ours):
        time.sleep(0.05)
    for pid, marker in ours:
        if pid_alive(pid, marker):
            stop_pid(pid, marker, timeout=0.1)  # SIGTERM again, then SIGKILL


def running_event(component: str) -> str:
    """What a node agent logs once it runs (the hollow-nodes process: once all of its do)."""
    return "hollow nodes running" if component == HOLLOW else "kubelet running"


def all_ready(states: dict[str, tuple[str, int]], names: Sequence[str], since: float) -> bool:
    return all(states.get(n, ("", 0))[0] == "Ready" and states[n][1] >= int(since) - 1 for n in names)


def some(names: Sequence[str], limit: int = 10) -> str:
    """A list of node names short enough for one line (there may be thousands of hollow ones)."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
