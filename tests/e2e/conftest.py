"""The seed's story end to end: `pykube up --nodes 3` with real Podman."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))  # apiserver_process helpers

from cluster.lab import environment_problems  # noqa: E402
from cluster.local_cluster import LocalCluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    problems = environment_problems()
    assert not problems, "; ".join(problems)
    base = Path(tmp_path_factory.mktemp("e2e"))
    local = LocalCluster(base / "state", name=f"e2e{os.getpid() % 10000}", out=lambda *a, **k: None)
    try:
        local.up(nodes=3, kubeconfig=False)
        yield local
    finally:
        local.down(purge=True)
