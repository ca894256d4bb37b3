"""What the e2e tests share: pykubectl as a user runs it, the API stub, polling with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable


import node_env_fixtures  # tests/integration, on sys.path by conftest

from apimachinery.kinds import unwrap
from protos import api_pb2, api_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def kubectl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubectl", *args]


def kubectl_env(cluster) -> dict[str, str]:
    return {**os.environ, "PYKUBECONFIG": str(cluster.config_path),
            "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def kubectl(cluster, *args: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(kubectl_argv(*args), capture_output=True, text=True, env=kubectl_env(cluster),
                          cwd=REPO_ROOT, timeout=timeout, input=stdin)


def stub(cluster) -> api_pb2_grpc.APIStub:
    from client.connection import connect  # the admin's mutual TLS, as pykubectl dials
    return connect(cluster.address, call_timeout=None, tls=cluster.admin_tls()).stub


def list_objects(cluster, kind: str, namespace: str = "default", label_selector: str = "") -> list:
    reply = stub(cluster).List(api_pb2.ListRequest(kind=kind, namespace=namespace,
                                                   label_selector=label_selector), timeout=10)
    return [unwrap(o) for o in reply.items]


def live(pod) -> bool:
    return not pod.metadata.HasField("deletion_timestamp")


def running(pod) -> bool:
    statuses = pod.status.container_statuses
    return (live(pod) and pod.status.phase == "Running" and bool(statuses)
            and all(s.state.HasField("running") and s.ready for s in statuses))


def wait_for(what: str, check: Callable[[], object], timeout: float = 90.0, interval: float = 0.2):
    return node_env_fixtures.wait_for(what, check, timeout, interval)
