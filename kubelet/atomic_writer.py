"""The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): a directory of files that a
reader in a container sees change all at once or not at all.

Layout of a target directory after a write of {"a": ..., "conf/b": ...}::

    ..2026_12_04_07_40_01.123456789/   the payload, written fresh for every change
        a
        conf/b
    ..data -> ..2026_12_04_07_40_01.123456789
    a -> ..data/a                       one user-visible symlink per top-level name
    conf -> ..data/conf

An update writes a new timestamped directory, makes a ``..data_tmp`` symlink to it and renames
that over ``..data`` (rename(2) is atomic), so a reader that opens ``a`` resolves through
either the old or the new directory, never a half-written one. Then user-visible symlinks of
names no longer in the payload go. The directory just replaced is kept until the next write
(Kubernetes removes it at once), so a reader that had resolved ``..data`` to it an instant
before the swap still finds its file; the ones before it go. A payload identical to what is
there (contents and modes) writes nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from typing import Mapping

DATA_DIR = "..data"
DATA_TMP = "..data_tmp"


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


class PayloadError(ValueError):
    pass


def validate_path(path: str) -> None:
    """Kubernetes' validatePath: relative, no '..' element, not starting with '..'."""
    if not path:
        raise PayloadError("invalid path: must not be empty")
    if os.path.isabs(path):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    if len(path) > 4096:
        raise PayloadError(f"invalid path: must be less than or equal to 4096 characters: {path}")
    if any(part == ".." for part in path.split("/")):
        raise PayloadError(f"invalid path: must not contain '..': {path}")
    if path.startswith(".."):
        raise PayloadError(f"invalid path: must not start with '..': {path}")


def _timestamped_name() -> str:
    now = time.time()
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(now))
    return f"..{stamp}.{int((now % 1) * 1e9):09d}"


def current_dir(target: str) -> str | None:
    """The timestamped directory ``..data`` points at, or None before the first write."""
    try:
        return os.readlink(os.path.join(target, DATA_DIR))
    except OSError:
        return None


def _same(directory: str, payload: Mapping[str, FileProjection]) -> bool:
    seen = set()
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            seen.add(os.path.relpath(path, directory))
    if seen != set(payload):
        return False
    for rel, projection in payload.items():
        path = os.path.join(directory, rel)
        if stat.S_IMODE(os.lstat(path).st_mode) != projection.mode:
            return False
        with open(path, "rb") as f:
            if f.read() != projection.data:
                return False
    return True


def write(target: str, payload: Mapping[str, FileProjection]) -> bool:
    """Make ``target`` hold exactly ``payload`` (relative path -> contents and mode).

    Returns whether anything changed. Raises PayloadError for a path outside the directory."""
    for path in payload:
        validate_path(path)
    os.makedirs(target, exist_ok=True)
    old = current_dir(target)
    if old is not None and _same(os.path.join(target, old), payload):
        return False
    new_dir = tempfile.mkdtemp(prefix=_timestamped_name(), dir=target)
    os.chmod(new_dir, 0o755)
    try:
        for rel, projection in payload.items():
            path = os.path.join(new_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(projection.data)
            os.chmod(path, projection.mode)
        tmp_link = os.path.join(target, DATA_TMP)
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(os.path.basename(new_dir), tmp_link)
    except BaseException:
        shutil.rmtree(new_dir, ignore_errors=True)
        raise
    os.rename(tmp_link, os.path.join(target, DATA_DIR))  # the atomic swap
    top = {rel.split("/", 1)[0] for rel in payload}
    for name in top:  # new names appear after the swap, so they never dangle
        link = os.path.join(target, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(DATA_DIR, name), link)
    for name in os.listdir(target):
        if name.startswith("..") or name in top:
            continue
        path = os.path.join(target, name)
        if os.path.islink(path):
            os.unlink(path)
    keep = {os.path.basename(new_dir), old}
    for name in os.listdir(target):
        if name.startswith("..") and name not in keep and name not in (DATA_DIR, DATA_TMP):
            shutil.rmtree(os.path.join(target, name), ignore_errors=True)
    return True


def read(target: str) -> dict[str, bytes]:
    """What a reader sees through the user-visible names (for tests and debugging)."""
    out: dict[str, bytes] = {}
    for name in os.listdir(target):
        if name.startswith(".."):
            continue
        top = os.path.join(target, name)
        if os.path.isdir(top):
            for root, _, files in os.walk(top, followlinks=True):
                for f in files:
                    path = os.path.join(root, f)
                    with open(path, "rb") as fh:
                        out[os.path.relpath(path, target)] = fh.read()
        else:
            with open(top, "rb") as fh:
                out[name] = fh.read()
    return out
