"""pykubectl's verbs on DaemonSets and StatefulSets (and what they refuse, as kubectl does):
describe (kubectl's describeDaemonSet / describeStatefulSet), rollout restart, scale sts,
delete with a cascade, history/undo refused (no ControllerRevisions), scale of a DaemonSet
or Job refused."""

from __future__ import annotations

import pytest
from kubectl_cluster_fake import ClusterFake
from kubectl_testlib import Harness, meta, run_verb

from kubectl.errors import CliError
from protos import apps_pb2, core_pb2

pytestmark = pytest.mark.usefixtures("utc")


def pod_of(owner, name: str, phase: str) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta(name, "default"))
    pod.metadata.labels.update(owner.spec.selector.match_labels)
    pod.metadata.owner_references.add(api_version="apps/v1", kind=type(owner).__name__, name=owner.metadata.name,
                                      uid=owner.metadata.uid, controller=True)
    pod.status.phase = phase
    return pod


def daemon_set() -> apps_pb2.DaemonSet:
    ds = apps_pb2.DaemonSet(metadata=meta("agent", "default", app="agent"))
    ds.metadata.uid = "uid-agent"
    ds.spec.selector.match_labels["app"] = "agent"
    ds.spec.template.metadata.labels["app"] = "agent"
    ds.spec.template.spec.node_selector["kubernetes.io/os"] = "linux"
    ds.spec.template.spec.containers.add(name="agent", image="busybox")
    ds.spec.update_strategy.type = "RollingUpdate"
    status = ds.status
    status.desired_number_scheduled, status.current_number_scheduled = 3, 3
    status.updated_number_scheduled, status.number_available, status.number_misscheduled = 2, 2, 1
    return ds


def stateful_set() -> apps_pb2.StatefulSet:
    sts = apps_pb2.StatefulSet(metadata=meta("db", "default"))
    sts.metadata.uid = "uid-db"
    sts.spec.replicas, sts.spec.service_name = 3, "db"
    sts.spec.selector.match_labels["app"] = "db"
    sts.spec.template.metadata.labels["app"] = "db"
    sts.spec.template.spec.containers.add(name="db", image="postgres")
    sts.spec.update_strategy.type = "RollingUpdate"
    sts.spec.update_strategy.rolling_update.partition = 1
    claim = sts.spec.volume_claim_templates.add()
    claim.metadata.name = "data"
    claim.spec.access_modes.append("ReadWriteOnce")
    claim.spec.storage_class_name = "local-path"
    claim.spec.resources.requests["storage"] = "1Gi"
    sts.status.replicas = 2
    return sts


def cluster_with_sets() -> ClusterFake:
    cluster = ClusterFake()
    ds, sts = daemon_set(), stateful_set()
    cluster.add(ds)
    cluster.add(sts)
    cluster.add(pod_of(ds, "agent-a", "Running"))
    cluster.add(pod_of(ds, "agent-b", "Pending"))
    cluster.add(pod_of(sts, "db-0", "Running"))
    cluster.add(pod_of(sts, "db-1", "Failed"))
    stray = pod_of(sts, "db-stray", "Running")  # matches the selector, controlled by no one
    del stray.metadata.owner_references[:]
    cluster.add(stray)
    return cluster


def described(cluster: ClusterFake, *args: str) -> dict[str, str]:
    h = Harness(cluster)
    assert run_verb(h, "describe", *args) == 0
    lines = {}
    for line in h.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" ") and key not in lines:
            lines[key] = value.strip()
    lines["__text__"] = h.stdout
    return lines


def test_describe_daemon_set() -> None:
    got = described(cluster_with_sets(), "ds", "agent")
    assert (got["Name"], got["Namespace"], got["Selector"], got["Node-Selector"]) == (
        "agent", "default", "app=agent", "kubernetes.io/os=linux")
    text = got["__text__"]
    for line in ("Desired Number of Nodes Scheduled: 3", "Current Number of Nodes Scheduled: 3",
                 "Number of Nodes Scheduled with Up-to-date Pods: 2",
                 "Number of Nodes Scheduled with Available Pods: 2", "Number of Nodes Misscheduled: 1"):
        assert f"\n{line}\n" in text  # written with a space, as kubectl does
    assert got["Pods Status"] == "1 Running / 1 Waiting / 0 Succeeded / 0 Failed"
    assert "Pod Template:" in text and "busybox" in text
    order = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert order[:6] == ["Name", "Namespace", "Selector", "Node-Selector", "Labels", "Annotations"]


def test_describe_stateful_set() -> None:
    got = described(cluster_with_sets(), "sts", "db")
    assert got["Replicas"] == "3 desired | 2 total"
    assert got["Update Strategy"] == "RollingUpdate"
    assert got["Pods Status"] == "1 Running / 0 Waiting / 0 Succeeded / 1 Failed"  # the stray Pod is not its own
    text = got["__text__"]
    assert (got["Service Name"], got["Pod Management Policy"]) == ("db", "")
    assert "\nUpdate Strategy:        RollingUpdate\n  Partition:            1\nPods Status:" in text
    claims = text[text.index("Volume Claims:"):].splitlines()
    assert [line.split() for line in claims[1:7]] == [
        ["Name:", "data"], ["StorageClass:", "local-path"], ["Labels:", "<none>"], ["Annotations:", "<none>"],
        ["Capacity:", "1Gi"], ["Access", "Modes:", "[ReadWriteOnce]"]]
    bare = apps_pb2.StatefulSet(metadata=meta("bare", "default"))
    bare.spec.selector.match_labels["app"] = "bare"
    cluster = ClusterFake()
    cluster.add(bare)
    got = described(cluster, "statefulset", "bare")
    assert got["Volume Claims"] == "<none>" and got["Replicas"] == "1 desired | 0 total"
    assert "Persistent Volume Claim Retention Policy" not in got["__text__"]
    bare.spec.persistent_volume_claim_retention_policy.when_deleted = "Delete"
    bare.spec.persistent_volume_claim_retention_policy.when_scaled = "Retain"
    cluster.add(bare)
    text = described(cluster, "statefulset", "bare")["__text__"]
    assert "\nPersistent Volume Claim Retention Policy:\n  WhenDeleted:  Delete\n  WhenScaled:   Retain\n" in text


@pytest.mark.parametrize("resource,kind,name,printed", [
    ("ds/agent", "DaemonSet", "agent", "daemonset.apps/agent restarted"),
    ("statefulset/db", "StatefulSet", "db", "statefulset.apps/db restarted"),
])
def test_rollout_restart_stamps_the_template(resource: str, kind: str, name: str, printed: str) -> None:
    cluster = cluster_with_sets()
    h = Harness(cluster)
    assert run_verb(h, "rollout", "restart", resource) == 0
    assert h.stdout == printed + "\n"
    annotations = cluster.get(kind, name).spec.template.metadata.annotations
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "2024-05-01T12:00:00Z"


def test_history_and_undo_are_the_deployments_only() -> None:
    cluster = cluster_with_sets()
    with pytest.raises(CliError, match='no history viewer has been implemented for "DaemonSet"'):
        run_verb(Harness(cluster), "rollout", "history", "ds/agent")
    with pytest.raises(CliError, match='no rollbacker has been implemented for "StatefulSet"'):
        run_verb(Harness(cluster), "rollout", "undo", "sts/db")
    with pytest.raises(CliError, match="restarting is not supported"):
        run_verb(Harness(cluster), "rollout", "restart", "job/x")


def test_scale_a_stateful_set_and_refuse_the_others() -> None:
    cluster = cluster_with_sets()
    h = Harness(cluster)
    assert run_verb(h, "scale", "sts/db", "--replicas", "5", "--current-replicas", "3") == 0
    assert h.stdout == "statefulset.apps/db scaled\n"
    assert cluster.get("StatefulSet", "db").spec.replicas == 5
    for resource in ("ds/agent", "job/x", "cronjob/y"):
        with pytest.raises(CliError, match="cannot scale"):
            run_verb(Harness(cluster), "scale", resource, "--replicas", "2")


@pytest.mark.parametrize("cascade,policy", [("background", "Background"), ("orphan", "Orphan"),
                                            ("foreground", "Foreground")])
def test_delete_with_a_cascade(cascade: str, policy: str) -> None:
    cluster = cluster_with_sets()
    h = Harness(cluster)
    assert run_verb(h, "delete", "ds", "agent", "--wait=false", f"--cascade={cascade}") == 0
    assert h.stdout == 'daemonset.apps "agent" deleted\n'
    [request] = cluster.requests("Delete")
    assert (request.kind, request.name, request.propagation_policy) == ("DaemonSet", "agent", policy)
