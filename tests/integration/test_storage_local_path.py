"""Persistent storage end to end on a real cluster (``pykube up``, 2 Podman nodes): a Pod
with a claim of the default class (local-path) writes a file; the Pod is deleted and made
again, lands on the same node (the volume's node affinity) and reads the file; deleting
the claim removes the volume and, through the provisioner's helper Pod, its directory.

Needs root (network namespaces, rootful Podman): fails, never skips, when it is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from apiserver_process import REPO_ROOT
from node_env_fixtures import environment_problems, wait_for

TAG = f"{os.getpid() % 100000}"
CLAIM = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 100Mi}}
"""


def pod(command: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata: {{name: db}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: docker.io/library/busybox:1.36
      command: ["sh", "-c", {json.dumps(command)}]
      volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
    - name: data
      persistentVolumeClaim: {{claimName: data}}
"""


class Lab:
    def __init__(self, base: Path) -> None:
        self.state = base / "state"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.env["PYKUBECONFIG"] = str(base / "pykubectl-config")
        self.env["PYKUBE_STATE_DIR"] = str(self.state)

    def pykube(self, *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cluster.cli", *args], capture_output=True, text=True,
                              env=self.env, cwd=REPO_ROOT, timeout=timeout, check=False)

    def pykubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kubectl", *args], input=stdin, capture_output=True,
                              text=True, env=self.env, cwd=REPO_ROOT, timeout=60, check=False)

    def get(self, kind: str, name: str, namespace: str = "default") -> dict | None:
        result = self.pykubectl("get", kind, name, "-n", namespace, "-o", "json")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def apply(self, manifest: str) -> None:
        result = self.pykubectl("apply", "-f", "-", stdin=manifest)
        assert result.returncode == 0, result.stderr

    def running(self, name: str, timeout: float = 90.0) -> dict:
        return wait_for(f"pod {name} Running",
                        lambda: (p := self.get("pod", name)) and p["status"].get("phase") == "Running" and p, timeout)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    problems = environment_problems()
    if problems:
        pytest.fail("cannot run the storage tests: " + "; ".join(problems))
    lab = Lab(tmp_path_factory.mktemp("storage"))
    try:
        up = lab.pykube("up", "--nodes", "2", "--name", f"s{TAG}", "--no-user-config", timeout=300)
        assert up.returncode == 0, up.stderr + up.stdout
        lab.env["PYKUBECONFIG"] = str(lab.state / "config")
        yield lab
    finally:
        lab.pykube("down", "--purge")


def test_the_data_of_a_claim_outlives_its_pod_and_goes_with_the_claim(lab):
    sc = wait_for("the default class local-path", lambda: lab.get("storageclass", "local-path", ""), 60)
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert (sc["provisioner"], sc["volumeBindingMode"], sc["reclaimPolicy"]) == (
        "pykube.io/local-path", "WaitForFirstConsumer", "Delete")
    lab.apply(CLAIM)
    claim = lab.get("pvc", "data")
    assert claim["spec"]["storageClassName"] == "local-path" and claim["status"]["phase"] == "Pending"

    lab.apply(pod("echo kept-across-pods > /data/f; sleep 100000"))
    first = lab.running("db")
    node = first["spec"]["nodeName"]
    claim = wait_for("the claim Bound", lambda: (c := lab.get("pvc", "data")) and c["status"].get("phase") == "Bound"
                     and c, 60)
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    name = claim["spec"]["volumeName"]
    pv = lab.get("pv", name, "")
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [node]
    path = pv["spec"]["hostPath"]["path"]
    wait_for("the file written", lambda: os.path.exists(os.path.join(path, "f")), 60)

    deleted = lab.pykubectl("delete", "pod", "db")
    assert deleted.returncode == 0, deleted.stderr
    wait_for("db gone", lambda: lab.get("pod", "db") is None, 60)
    lab.apply(pod("cat /data/f; sleep 100000"))
    second = lab.running("db")
    assert second["spec"]["nodeName"] == node  # the volume's node affinity
    logs = wait_for("the file read back", lambda: (r := lab.pykubectl("logs", "db")).returncode == 0
                    and "kept-across-pods" in r.stdout and r.stdout, 60)
    assert "kept-across-pods" in logs

    assert lab.pykubectl("delete", "pod", "db").returncode == 0
    wait_for("db gone", lambda: lab.get("pod", "db") is None, 60)
    assert lab.pykubectl("delete", "pvc", "data").returncode == 0
    wait_for("the volume deleted (reclaim Delete)", lambda: lab.get("pv", name, "") is None, 120)
    assert not os.path.exists(path), "the helper Pod removed the directory"
