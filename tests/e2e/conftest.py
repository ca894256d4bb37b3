"""End to end on `pykube up --nodes 3` with real Podman: one cluster for the whole e2e session.

Starting a 3-node cluster costs tens of seconds, so every e2e module shares the one this
fixture starts; each module leaves the cluster as it found it (its objects deleted) and the
modules run in file order (the course app of examples/complex/ in a namespace of its own, then
the seed's story, then the Services on top of it, then the story again with the real kubectl
over the Kubernetes HTTP API)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))  # apiserver_process helpers

from cluster.lab import environment_problems  # noqa: E402
from cluster.local_cluster import LocalCluster  # noqa: E402


@pytest.fixture(scope="session")
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
