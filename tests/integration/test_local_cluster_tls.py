"""``pykube up --nodes 1`` is a mutual-TLS, Node,RBAC cluster with nothing to set up: pykubectl
with the config `up` wrote works, a plaintext client is refused at the handshake (and pykubectl
says which config lacks credentials), and every component runs under its own identity (a Pod is
scheduled, started and reported by the kubelet as system:node:n1).

Needs root (network namespaces, rootful Podman): fails, never skips, when it is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest
from apiserver_process import REPO_ROOT
import node_env_fixtures
from node_env_fixtures import environment_problems

from protos import api_pb2, api_pb2_grpc

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: tls-web}
spec:
  containers: [{name: main, image: docker.io/library/multi-worker:1.0}]
"""


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory):
    problems = environment_problems()
    if problems:
        pytest.fail("cannot run the local cluster tests: " + "; ".join(problems))
    base = tmp_path_factory.mktemp("lctls")
    env = {**os.environ, "PYKUBECONFIG": str(base / "user-config"),
           "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PYKUBE_STATE_DIR", None)

    def pykube(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cluster.cli", *args, "--state-dir", str(base / "state")],
                              capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False)

    up = pykube("up", "--nodes", "1", "--name", f"tls{os.getpid() % 10000}")
    try:
        assert up.returncode == 0, f"pykube up failed:\n{up.stderr}\n{up.stdout}"
        yield base, env
    finally:
        down = pykube("down", "--purge")
        assert down.returncode == 0, down.stderr
        assert not (base / "state").exists()


def pykubectl(env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubectl", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=30, check=False)


def test_pykubectl_with_the_admin_config_runs_a_pod(tls_lab):
    base, env = tls_lab
    assert (base / "user-config").read_bytes() == (base / "state" / "config").read_bytes()
    nodes = pykubectl(env, "get", "nodes")
    assert nodes.returncode == 0 and " Ready " in nodes.stdout, nodes.stderr + nodes.stdout
    created = pykubectl(env, "apply", "-f", "-", stdin=POD)
    assert created.returncode == 0, created.stderr

    def running():
        got = pykubectl(env, "get", "pod", "tls-web", "-o", "json")
        pod = json.loads(got.stdout) if got.returncode == 0 else {}
        return pod.get("status", {}).get("phase") == "Running" and pod
    pod = node_env_fixtures.wait_for("pod tls-web Running", running, 60, 0.5)
    assert pod["spec"]["nodeName"] == "n1"  # the scheduler bound it, the kubelet ran it


def test_a_plaintext_client_is_refused(tls_lab):
    base, env = tls_lab
    server = next(line.split("https://")[1] for line in (base / "state" / "config").read_text().splitlines()
                  if "server: https://" in line)
    with grpc.insecure_channel(server) as channel, pytest.raises(grpc.RpcError) as caught:
        api_pb2_grpc.APIStub(channel).Version(api_pb2.VersionRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    (base / "plain-config").write_text(f"server: {server}\n")
    plain = pykubectl({**env, "PYKUBECONFIG": str(base / "plain-config")}, "get", "nodes")
    assert plain.returncode == 1
    assert "requires TLS" in plain.stderr and str(base / "plain-config") in plain.stderr, plain.stderr
