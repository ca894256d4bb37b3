"""pykubectl against a real apiserver process: the apply → get round trip, the
three-way merge on re-apply, delete, watch, and what SIGTERM / kill -9 leave."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import yaml

from apiserver_process import REPO_ROOT, ApiserverProcess, repo_env, run_kubectl

# A standard manifest, as `kubectl create deployment --dry-run=client -o yaml` writes them.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: multi
    component: worker
  name: multi-worker
spec:
  replicas: 4
  selector:
    matchLabels:
      component: worker
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        component: worker
    spec:
      containers:
      - image: docker.io/library/multi-worker:1.0
        name: worker
        ports:
        - containerPort: 8080
        resources: {}
status: {}
"""


def test_apply_then_get_round_trips_with_defaults(kubectl, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)

    applied = kubectl("apply", "-f", str(manifest))
    assert applied.code == 0, applied.err
    assert applied.out.strip() == "deployment.apps/multi-worker created"

    got = kubectl("get", "deploy", "multi-worker", "-o", "yaml")
    assert got.code == 0, got.err
    obj = yaml.safe_load(got.out)
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    meta = obj["metadata"]
    assert meta["name"] == "multi-worker" and meta["namespace"] == "default"
    assert meta["labels"] == {"app": "multi", "component": "worker"}
    assert meta["uid"] and int(meta["resourceVersion"]) > 0 and meta["generation"] == 1
    spec = obj["spec"]
    assert spec["replicas"] == 4
    assert spec["selector"] == {"matchLabels": {"component": "worker"}}
    # Defaults the apiserver filled in, as Kubernetes does:
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["terminationGracePeriodSeconds"] == 30
    container = pod_spec["containers"][0]
    assert container["image"] == "docker.io/library/multi-worker:1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]

    table = kubectl("get", "deployments")
    assert table.code == 0
    header, row = table.out.splitlines()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[:4] == ["multi-worker", "0/4", "0", "0"]


def test_reapply_removes_a_deleted_label_and_unchanged_is_a_no_op(kubectl, apiserver, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert kubectl("apply", "-f", str(manifest)).code == 0

    again = kubectl("apply", "-f", str(manifest))
    assert again.out.strip() == "deployment.apps/multi-worker unchanged"
    revision = apiserver.revision()

    manifest.write_text(DEPLOYMENT.replace("    app: multi\n", ""))
    configured = kubectl("apply", "-f", str(manifest))
    assert configured.code == 0, configured.err
    assert configured.out.strip() == "deployment.apps/multi-worker configured"
    assert apiserver.revision() == revision + 1

    obj = yaml.safe_load(kubectl("get", "deploy", "multi-worker", "-o", "yaml").out)
    assert obj["metadata"]["labels"] == {"component": "worker"}
    assert obj["spec"]["revisionHistoryLimit"] == 10  # defaults survive the merge
    assert obj["metadata"]["generation"] == 1  # labels are metadata, not spec


def test_delete_by_file_and_by_name(kubectl, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert kubectl("apply", "-f", str(manifest)).code == 0
    deleted = kubectl("delete", "-f", str(manifest))
    assert deleted.code == 0, deleted.err
    assert deleted.out.strip() == 'deployment.apps "multi-worker" deleted'
    missing = kubectl("get", "deploy", "multi-worker")
    assert missing.code == 1
    assert 'deployments.apps "multi-worker" not found' in missing.err

    again = kubectl("delete", "deployment", "multi-worker")
    assert again.code == 1 and "not found" in again.err
    assert kubectl("delete", "deployment", "multi-worker", "--ignore-not-found").code == 0


def test_get_watch_prints_new_objects(apiserver, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    watcher = subprocess.Popen([sys.executable, "-m", "kubectl", "--server", apiserver.address,
                                "get", "deploy", "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=repo_env(), cwd=REPO_ROOT)
    try:
        assert run_kubectl(apiserver.address, "apply", "-f", str(manifest)).code == 0
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline and "multi-worker" not in line:
            line = watcher.stdout.readline()
        assert "multi-worker" in line
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(10)
    assert watcher.returncode == 0


def test_sigterm_stops_cleanly_and_state_survives_restart(tmp_path):
    server = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver.log").start()
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert run_kubectl(server.address, "apply", "-f", str(manifest)).code == 0
    revision = server.revision()
    assert server.stop(signal.SIGTERM) == 0
    assert "apiserver stopped" in server.log_path.read_text()

    restarted = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver2.log").start()
    try:
        assert restarted.revision() == revision
        got = run_kubectl(restarted.address, "get", "deploy", "multi-worker", "-o", "yaml")
        assert yaml.safe_load(got.out)["spec"]["replicas"] == 4
    finally:
        restarted.stop()


def test_acknowledged_apply_survives_kill_9(tmp_path):
    server = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver.log").start()
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert run_kubectl(server.address, "apply", "-f", str(manifest)).code == 0
    revision = server.revision()
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL

    restarted = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver2.log").start()
    try:
        assert restarted.revision() == revision
        assert run_kubectl(restarted.address, "get", "deploy", "multi-worker").code == 0
    finally:
        restarted.stop()
