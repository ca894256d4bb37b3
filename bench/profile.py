"""Where the CPU goes: py-spy sampling profiles of benchmark processes, summarised.

A benchmark given ``--profile DIR`` wraps the phase it measures in ``Profiles``: one
``py-spy record --format raw`` per process (by PID, sampling without pausing it), stopped
with SIGINT when the phase ends, so each process leaves DIR/<phase>-<process>.folded
(collapsed stacks, one ``frame;frame;... count`` a line, what flame graphs are drawn
from). ``summary()`` turns them into the Markdown committed under docs/bench/: per
process, the functions with the most samples of their own (self) and the most samples
under them (total), as shares of the process's samples. py-spy is in the ``bench`` extra;
reading another process's stack needs root (or ptrace rights).

    python -m bench.profile DIR/*.folded        # the summary of existing profiles, to stdout
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Sequence

RATE = 100  # samples per second per process
TOP = 15
PROJECT = ("apimachinery/", "apiserver/", "client/", "controllers/", "kubelet/", "scheduler/", "cluster/")


def py_spy() -> str:
    """The py-spy executable: beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("--profile needs py-spy (pip install -e '.[bench]')")
    return found


class Profiles:
    """py-spy recording each of `pids` (name -> PID) into DIR/<phase>-<name>.folded while open."""

    def __init__(self, out_dir: Path, phase: str, pids: Mapping[str, int], idle: bool = False) -> None:
        """idle: sample waiting threads too (py-spy --idle), for a process that mostly waits
        on I/O, such as a kubelet on Podman's REST API: where it waits is what limits it."""
        self.out_dir = out_dir
        self.phase = phase
        self.pids = dict(pids)
        self.idle = idle
        self.recorders: list[subprocess.Popen] = []
        self.paths: dict[str, Path] = {}

    def __enter__(self) -> "Profiles":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        exe = py_spy()
        for name, pid in self.pids.items():
            path = self.out_dir / f"{self.phase}-{name}.folded"
            self.paths[name] = path
            self.recorders.append(subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE), "--nonblocking",
                 *(["--idle"] if self.idle else []), "--output", str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc: object) -> None:
        for recorder in self.recorders:
            if recorder.poll() is None:
                os.kill(recorder.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
        for recorder in self.recorders:
            try:
                recorder.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(recorder.pid, signal.SIGKILL)
                recorder.wait()


def read_folded(lines: Iterable[str]) -> Counter:
    """Collapsed stacks (``a;b;c 12``) -> Counter of stack tuples."""
    stacks: Counter = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _frame(frame: str) -> str:
    """``handle (apiserver/server.py:123)`` -> ``handle (apiserver/server.py)``: per function, not per line."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    for root in (str(Path(__file__).resolve().parent.parent) + "/",):
        path = path.replace(root, "")
    return f"{name} ({path})" if path else name


def top_functions(stacks: Counter, top: int = TOP) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, most self samples, most total samples) per function; the total ranking holds
    pykube's own functions only (the event loop and the interpreter's start are under everything)."""
    own: Counter = Counter()
    total: Counter = Counter()
    for stack, count in stacks.items():
        frames = [_frame(f) for f in stack if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            if frame.partition(" (")[2].startswith(PROJECT):
                total[frame] += count
    return sum(stacks.values()), own.most_common(top), total.most_common(top)


def summary(paths: Sequence[Path], title: str) -> str:
    """Markdown: per profile, the top functions by self and by total samples."""
    lines = [f"# {title}", "",
             f"py-spy at {RATE} Hz (`bench/profile.py`); shares are of the process's samples (idle waits in "
             "the event loop's `select` included). Self: samples in the function itself (`Handle._run` "
             "self time is native code run from event-loop callbacks: gRPC's Cython core, protobuf's C "
             "parser); total: samples with pykube's function anywhere on the stack.", ""]
    for path in paths:
        samples, own, total = top_functions(read_folded(path.read_text().splitlines()))
        lines += [f"## {path.stem}", "", f"{samples} samples.", "", "| self | function | | total | function |",
                  "| ---: | --- | --- | ---: | --- |"]
        for i in range(max(len(own), len(total))):
            a = own[i] if i < len(own) else ("", 0)
            b = total[i] if i < len(total) else ("", 0)
            lines.append(f"| {_share(a[1], samples)} | `{a[0]}` | | {_share(b[1], samples)} | `{b[0]}` |")
        lines.append("")
    return "\n".join(lines)


def _share(count: int, samples: int) -> str:
    return f"{count / samples * 100:.1f}%" if samples and count else ""


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    missing = [str(p) for p in paths if not p.exists()]
    if not paths or missing:
        print(f"python -m bench.profile: {'no such file: ' + ', '.join(missing) if missing else 'name .folded files'}",
              file=sys.stderr)
        return 2
    print(summary(paths, "Profiles"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
