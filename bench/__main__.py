"""``python -m bench [--quick] [--out DIR]``: every benchmark this machine can run, in order.

apiserver, then scheduler (both need nothing but Python); then kubelet and cluster
when running as root with Podman installed (they start Podman services, network
namespaces and a local registry). Each prints its own figures and, with --out,
appends its records to DIR/results.json. The exit code is the first failure's."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence


def _runnable() -> list[tuple[str, Callable[[list[str]], int] | None, str]]:
    from bench import apiserver, scheduler
    rows: list[tuple[str, Callable[[list[str]], int] | None, str]] = [
        ("apiserver", apiserver.main, ""), ("scheduler", scheduler.main, "")]
    podman_ok = os.geteuid() == 0 and shutil.which("podman") is not None
    why = "" if podman_ok else "needs root and Podman"
    if podman_ok:
        from bench import cluster, kubelet
        rows += [("kubelet", kubelet.main, ""), ("cluster", cluster.main, "")]
    else:
        rows += [("kubelet", None, why), ("cluster", None, why)]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode (a few minutes in all)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark (apiserver, scheduler, kubelet, cluster); repeatable")
    args = parser.parse_args(argv)
    passed: list[str] = (["--quick"] if args.quick else []) + (["--out", str(args.out)] if args.out else [])
    status = 0
    summary: list[str] = []
    for name, run, why in _runnable():
        if args.only and name not in args.only:
            continue
        if run is None:
            print(f"== bench.{name}: skipped ({why})", flush=True)
            summary.append(f"{name}: skipped ({why})")
            continue
        print(f"== bench.{name} {' '.join(passed)}".rstrip(), flush=True)
        started = time.monotonic()
        try:
            code = run(list(passed))
        except Exception as err:  # one benchmark failing must not hide the others' figures
            print(f"bench.{name} failed: {type(err).__name__}: {err}", file=sys.stderr)
            code = 1
        summary.append(f"{name}: {'ok' if code == 0 else f'exit {code}'} in {time.monotonic() - started:.0f} s")
        status = status or code
    print("== summary: " + "; ".join(summary))
    return status


if __name__ == "__main__":
    sys.exit(main())
