"""``python -m bench [--quick] [--out DIR] [--report]``: every benchmark this machine can run, in order.

apiserver, scheduler_bare, scheduler, startup, memory, security, http_api and jobs first (they need
nothing but Python and the venv's kubectl: real pykube processes and hollow nodes on 127.0.0.1);
then kubelet, cluster, network and workloads when running as root with Podman installed (they start Podman
services, network namespaces and a local registry). Each prints its own figures and, with --out,
appends its records to DIR/results.json; ``python -m bench`` also writes
DIR/machine.json (CPUs, CPU model, RAM, kernel, Python, Podman) so that a report
rendered later describes the machine the figures came from. The exit code is the
first failure's: a benchmark that crashes is a broken feature, and CI runs the quick
mode to catch that (nothing is asserted on the figures themselves).

Full mode, one command (as root, so the Podman benchmarks run too; about 25
minutes on 2 cores), then the report into docs/benchmarks.md and docs/bench/*.png:

    sudo .venv/bin/python -m bench --out results/ --report

Publish from a fresh DIR on a clean, committed tree: every record carries the commit it
measured, and the report refuses records of different commits.

Quick mode (a few minutes; what CI runs):

    sudo .venv/bin/python -m bench --quick --out /tmp/bench-quick

``--report`` (with --out) renders DIR/results.json with bench.report at the end, into
--report-doc (default docs/benchmarks.md) and its plots beside it, even when a
benchmark failed (whatever was measured is shown, the rest as "not measured")."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

# (name, needs root + Podman), in the order they run. Each is bench/<name>.py with
# main(argv) -> int, imported only when it runs (lazily, so a benchmark that cannot
# run here costs nothing, and one whose import fails fails alone).
BENCHMARKS: tuple[tuple[str, bool], ...] = (
    ("apiserver", False),
    ("scheduler_bare", False),
    ("scheduler", False),
    ("startup", False),
    ("memory", False),
    ("security", False),
    ("http_api", False),
    ("jobs", False),
    ("kubelet", True),
    ("cluster", True),
    ("network", True),
    ("workloads", True),
)


def _podman_ok() -> bool:
    return os.geteuid() == 0 and shutil.which("podman") is not None


def _run_one(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode (a few minutes in all)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only this benchmark ({', '.join(n for n, _ in BENCHMARKS)}); repeatable")
    parser.add_argument("--report", action="store_true",
                        help="with --out: render DIR/results.json into --report-doc at the end")
    parser.add_argument("--report-doc", type=Path, metavar="PATH", help="default docs/benchmarks.md")
    parser.add_argument("--report-plots", type=Path, metavar="DIR", help="default: bench/ beside the document")
    args = parser.parse_args(argv)
    known = {n for n, _ in BENCHMARKS}
    if args.only and not set(args.only) <= known:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(set(args.only) - known))}")
    if args.report and args.out is None:
        parser.error("--report needs --out DIR (the report renders DIR/results.json)")
    passed: list[str] = (["--quick"] if args.quick else []) + (["--out", str(args.out)] if args.out else [])
    if args.out is not None:
        from bench.report import write_machine
        write_machine(args.out)
    status = 0
    summary: list[str] = []
    podman_ok = _podman_ok()
    for name, needs_podman in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        if needs_podman and not podman_ok:
            print(f"== bench.{name}: skipped (needs root and Podman)", flush=True)
            summary.append(f"{name}: skipped (needs root and Podman)")
            continue
        print(f"== bench.{name} {' '.join(passed)}".rstrip(), flush=True)
        started = time.monotonic()
        try:
            code = _run_one(name, list(passed))
        except Exception as err:  # one benchmark failing must not hide the others' figures
            traceback.print_exc()
            print(f"bench.{name} failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            code = 1
        summary.append(f"{name}: {'ok' if code == 0 else f'exit {code}'} in {time.monotonic() - started:.0f} s")
        status = status or code
    print("== summary: " + "; ".join(summary), flush=True)
    if args.report:
        from bench import report
        results = args.out / "results.json"
        if not results.exists():
            print(f"bench.report: {results} does not exist (nothing was measured)", file=sys.stderr)
            return status or 1
        try:
            doc = report.report(results, args.report_doc or report.DEFAULT_DOC, args.report_plots)
            print(f"== report rendered into {doc}", flush=True)
        except Exception as err:
            print(f"bench.report failed: {type(err).__name__}: {err}", file=sys.stderr)
            status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
