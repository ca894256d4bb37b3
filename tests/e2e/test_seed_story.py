"""The seed notes, for real: apply 4 replicas of multi-worker → 2/1/1 on 3 nodes, each
node pulls the image once; `podman kill` → RESTARTS 1; a deleted Pod is replaced; a
lost node's Pods come back elsewhere; a rolling update and its undo; deleting the
Deployment removes what it owned. Real processes, real Podman, sealed node networks.

The tests run in order and share one cluster, as one story."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import yaml

from apimachinery.kinds import unwrap
from e2e_support import EXAMPLES, kubectl, list_objects, live, running, stub, wait_for
from protos import api_pb2

MANIFEST = EXAMPLES / "multi-worker.yaml"
IMAGE_V1 = "docker.io/library/multi-worker:1.0"
IMAGE_V2 = "docker.io/library/multi-worker:2.0"


def pods(cluster) -> list:
    return list_objects(cluster, "Pod", label_selector="component=worker")


def four_running(cluster):
    current = [p for p in pods(cluster) if running(p)]
    return current if len(current) == 4 and len([p for p in pods(cluster) if live(p)]) == 4 else None


def events(cluster, reason: str) -> list:
    reply = stub(cluster).List(api_pb2.ListRequest(kind="Event", namespace="default",
                                                   field_selector=f"reason={reason}"), timeout=10)
    return [unwrap(o) for o in reply.items]


def test_apply_four_replicas_spreads_2_1_1_and_each_node_pulls_once(cluster):
    applied = kubectl(cluster, "apply", "-f", str(MANIFEST), "--wait", "--timeout", "120s")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "deployment.apps/multi-worker created" in applied.stdout

    current = wait_for("4 Pods Running", lambda: four_running(cluster))
    spread = Counter(p.spec.node_name for p in current)
    assert sorted(spread.values()) == [1, 1, 2], spread
    assert set(spread) <= {"n1", "n2", "n3"} and len(spread) == 3

    wide = kubectl(cluster, "get", "pods", "-o", "wide")
    assert wide.returncode == 0
    header, *rows = wide.stdout.splitlines()
    assert header.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len([r for r in rows if "Running" in r]) == 4

    deploy = kubectl(cluster, "get", "deploy", "multi-worker")
    assert deploy.stdout.splitlines()[1].split()[1] == "4/4"

    # Each node pulled the image once: one "Successfully pulled" per node, the second
    # Pod on the busiest node found it "already present on machine".
    def pulled():
        by_pod = {p.metadata.name: p.spec.node_name for p in current}
        per_node = Counter()
        present = 0
        for event in events(cluster, "Pulled"):
            node = by_pod.get(event.involved_object.name)
            if node is None:
                continue
            if event.message.startswith(f'Successfully pulled image "{IMAGE_V1}"'):
                per_node[node] += 1
            elif "already present on machine" in event.message:
                present += 1
        return (per_node, present) if sum(per_node.values()) + present == 4 else None
    per_node, present = wait_for("Pulled events", pulled, timeout=30)
    assert per_node == Counter({"n1": 1, "n2": 1, "n3": 1}) and present == 1


def test_podman_kill_restarts_the_container(cluster):
    victim = four_running(cluster)[0]
    container_id = victim.status.container_statuses[0].container_id.split("://", 1)[1]
    node = cluster.podman_node(cluster.spec(), victim.spec.node_name)
    node.remote("kill", container_id)

    def restarted():
        for p in pods(cluster):
            if p.metadata.name == victim.metadata.name and running(p) \
                    and p.status.container_statuses[0].restart_count == 1:
                return p
        return None
    wait_for("RESTARTS 1", restarted, timeout=30)
    table = kubectl(cluster, "get", "pods", victim.metadata.name)
    assert table.stdout.splitlines()[1].split()[:4] == [victim.metadata.name, "1/1", "Running", "1"]
    wait_for("all 4 Running", lambda: four_running(cluster))


def test_deleted_pod_is_replaced(cluster):
    victim = four_running(cluster)[0].metadata.name
    deleted = kubectl(cluster, "delete", "pod", victim)
    assert deleted.returncode == 0, deleted.stderr
    after = wait_for("a replacement Running", lambda: four_running(cluster))
    assert victim not in {p.metadata.name for p in after}


def test_lost_node_pods_are_recreated_on_the_others(cluster):
    current = four_running(cluster)
    busiest = Counter(p.spec.node_name for p in current).most_common(1)[0][0]
    cluster.stop_node(busiest)
    try:
        wait_for(f"{busiest} NotReady", lambda: cluster.node_states().get(busiest) == "NotReady", timeout=60)

        def replaced():
            now = four_running(cluster)
            return now if now and all(p.spec.node_name != busiest for p in now) else None
        moved = wait_for("4 Running on the other nodes", replaced, timeout=90)
        assert {p.spec.node_name for p in moved} <= {"n1", "n2", "n3"} - {busiest}
    finally:
        cluster.start_node(busiest)
    wait_for(f"{busiest} Ready again", lambda: cluster.node_states().get(busiest) == "Ready", timeout=60)


def test_rolling_update_keeps_availability_and_undo_returns(cluster):
    wait_for("all 4 Running", lambda: four_running(cluster))
    lowest = {"available": 4}
    stop = threading.Event()

    def watch_availability():
        while not stop.is_set():
            available = len([p for p in pods(cluster) if running(p)])
            lowest["available"] = min(lowest["available"], available)
            time.sleep(0.05)
    watcher = threading.Thread(target=watch_availability, daemon=True)
    watcher.start()
    try:
        updated = MANIFEST.read_text().replace(IMAGE_V1, IMAGE_V2)
        path = Path(cluster.state_dir) / "multi-worker-v2.yaml"
        path.write_text(updated)
        assert kubectl(cluster, "apply", "-f", str(path)).returncode == 0
        status = kubectl(cluster, "rollout", "status", "deployment/multi-worker", "--timeout", "120s", timeout=150)
        assert status.returncode == 0, status.stdout + status.stderr
        assert 'deployment "multi-worker" successfully rolled out' in status.stdout
    finally:
        stop.set()
        watcher.join(5)
    # maxUnavailable 25% of 4 rounds down to 1: never fewer than 3 available.
    assert lowest["available"] >= 3, lowest
    current = wait_for("4 Running on 2.0", lambda: [p for p in (four_running(cluster) or [])
                                                     if p.spec.containers[0].image == IMAGE_V2] or None)
    assert len(current) == 4

    undo = kubectl(cluster, "rollout", "undo", "deployment/multi-worker")
    assert undo.returncode == 0, undo.stderr
    assert "rolled back" in undo.stdout
    status = kubectl(cluster, "rollout", "status", "deployment/multi-worker", "--timeout", "120s", timeout=150)
    assert status.returncode == 0, status.stdout + status.stderr
    deploy = yaml.safe_load(kubectl(cluster, "get", "deploy", "multi-worker", "-o", "yaml").stdout)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    wait_for("4 Running on 1.0 again", lambda: len([p for p in (four_running(cluster) or [])
                                                     if p.spec.containers[0].image == IMAGE_V1]) == 4)
    history = kubectl(cluster, "rollout", "history", "deployment/multi-worker")
    assert history.returncode == 0 and "REVISION" in history.stdout


def test_deleting_the_deployment_removes_everything_it_owned(cluster):
    deleted = kubectl(cluster, "delete", "-f", str(MANIFEST), "--timeout", "90s", timeout=120)
    assert deleted.returncode == 0, deleted.stderr

    def gone():
        rs = stub(cluster).List(api_pb2.ListRequest(kind="ReplicaSet", namespace="default"), timeout=10)
        return not rs.items and not pods(cluster)
    wait_for("ReplicaSets and Pods gone", gone, timeout=90)
