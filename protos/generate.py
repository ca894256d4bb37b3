"""Regenerate the Python code for the contracts: ``python -m protos.generate``.

Writes ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` next to each ``.proto``.
``python -m protos.generate --check`` regenerates into a scratch folder and fails
(exit 1) when the checked-in files differ, so CI catches stale stubs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTOS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROTOS_DIR.parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted(PROTOS_DIR.glob("*.proto"))


def generate(out_root: Path) -> list[Path]:
    """Run protoc for every contract; return the generated files under out_root."""
    include_wkt = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{REPO_ROOT}",
        f"-I{include_wkt}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(p.relative_to(REPO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_root / "protos").iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def checked_in() -> list[Path]:
    return sorted(p for p in PROTOS_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the checked-in stubs are stale")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        fresh = generate(Path(scratch))
        if opts.check:
            stale = sorted(
                {p.name for p in fresh} ^ {p.name for p in checked_in()}
                | {p.name for p in fresh if not (PROTOS_DIR / p.name).exists()
                   or not filecmp.cmp(p, PROTOS_DIR / p.name, shallow=False)}
            )
            if stale:
                print("generated stubs are stale, run `python -m protos.generate`:", *stale, sep="\n  ")
                return 1
            print(f"generated stubs are current ({len(fresh)} files)")
            return 0
        for old in checked_in():
            old.unlink()
        for path in fresh:
            shutil.copy(path, PROTOS_DIR / path.name)
        print(f"wrote {len(fresh)} files to {PROTOS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
