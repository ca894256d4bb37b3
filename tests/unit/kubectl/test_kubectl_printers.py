"""kubectl's tables, STATUS logic, AGE, and YAML/JSON output, from hand-built protos."""

from __future__ import annotations

import datetime
import io
import json

import pytest
import yaml
from kubectl_testlib import NOW, meta, timestamp

from apimachinery.convert import to_dict
from apimachinery.duration import human_duration, parse_duration
from kubectl.manifest import load_objects
from apimachinery.kinds import info_of, kind_info
from apimachinery.tables.cells import node_status, pod_status
from kubectl.printers import (
    TableOptions,
    TableWriter,
    format_table,
    name_line,
    output_dict,
    table_headers,
    table_row,
    to_json,
    to_yaml,
)
from protos import apps_pb2, coordination_pb2, core_pb2, meta_pb2


def table(objects: list, **options: bool) -> str:
    opts = TableOptions(**options)
    info = info_of(objects[0])
    return format_table(table_headers(info, opts), [table_row(obj, NOW, opts) for obj in objects])


# --------------------------------------------------------------------- AGE


@pytest.mark.parametrize(("seconds", "expected"), [
    (-5, "<invalid>"),
    (-1, "0s"),
    (0, "0s"),
    (5, "5s"),
    (119, "119s"),
    (120, "2m"),
    (182, "3m2s"),
    (599, "9m59s"),
    (600, "10m"),
    (3 * 3600 - 1, "179m"),
    (3 * 3600, "3h"),
    (5 * 3600 + 3 * 60, "5h3m"),
    (8 * 3600, "8h"),
    (47 * 3600, "47h"),
    (48 * 3600, "2d"),
    (3 * 86400 + 4 * 3600, "3d4h"),
    (8 * 86400, "8d"),
    (729 * 86400, "729d"),
    (2 * 365 * 86400 + 10 * 86400, "2y10d"),
    (9 * 365 * 86400, "9y"),
])
def test_human_duration_follows_kubectl(seconds: int, expected: str) -> None:
    assert human_duration(datetime.timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize(("text", "seconds"), [("30", 30), ("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_duration("soon")


# -------------------------------------------------------------------- pods


def container_status(name: str = "c", *, ready: bool = False, restarts: int = 0,
                     running: bool = False, waiting: str = "", terminated: str | None = None,
                     exit_code: int = 0, signal: int = 0) -> core_pb2.ContainerStatus:
    status = core_pb2.ContainerStatus(name=name, ready=ready, restart_count=restarts)
    if running:
        status.state.running.started_at.CopyFrom(timestamp(30))
    if waiting:
        status.state.waiting.reason = waiting
    if terminated is not None:
        status.state.terminated.reason = terminated
        status.state.terminated.exit_code = exit_code
        status.state.terminated.signal = signal
    return status


def pod(name: str = "web", containers: int = 1, phase: str = "Running",
        statuses: list[core_pb2.ContainerStatus] | None = None, **meta_kwargs: object) -> core_pb2.Pod:
    spec = core_pb2.PodSpec(containers=[core_pb2.Container(name=f"c{i}", image="nginx") for i in range(containers)])
    status = core_pb2.PodStatus(phase=phase, container_statuses=statuses or [])
    metadata = meta(name, "default", **meta_kwargs)  # type: ignore[arg-type]
    return core_pb2.Pod(metadata=metadata, spec=spec, status=status)


def test_pod_table_columns_and_alignment() -> None:
    running = pod("web-7d4b9c", statuses=[container_status(ready=True, running=True)], age_seconds=182)
    assert table([running]) == (
        "NAME         READY   STATUS    RESTARTS   AGE\n"
        "web-7d4b9c   1/1     Running   0          3m2s\n"
    )


def test_pod_wide_adds_ip_node_nominated_node_and_readiness_gates() -> None:
    # Kubernetes' four wide pod columns; pykube neither nominates nodes nor has readiness gates.
    placed = pod(statuses=[container_status(ready=True, running=True)])
    placed.spec.node_name = "node-1"
    placed.status.pod_ips.add(ip="10.88.0.5")
    pending = pod("queued", phase="Pending")
    assert table([placed, pending], wide=True) == (
        "NAME     READY   STATUS    RESTARTS   AGE   IP          NODE     NOMINATED NODE   READINESS GATES\n"
        "web      1/1     Running   0          60s   10.88.0.5   node-1   <none>           <none>\n"
        "queued   0/1     Pending   0          60s   <none>      <none>   <none>           <none>\n"
    )


@pytest.mark.parametrize(("statuses", "phase", "expected"), [
    ([], "", "Pending"),
    ([], "Pending", "Pending"),
    ([container_status(waiting="ContainerCreating")], "Pending", "ContainerCreating"),
    ([container_status(waiting="ImagePullBackOff")], "Pending", "ImagePullBackOff"),
    ([container_status(waiting="CrashLoopBackOff", restarts=5)], "Running", "CrashLoopBackOff"),
    ([container_status(terminated="Completed")], "Succeeded", "Completed"),
    ([container_status(terminated="Error", exit_code=1)], "Failed", "Error"),
    ([container_status(terminated="", exit_code=3)], "Failed", "ExitCode:3"),
    ([container_status(terminated="", signal=9)], "Failed", "Signal:9"),
    ([container_status(ready=True, running=True)], "Running", "Running"),
    # the first container's reason wins, as kubectl walks them from the last
    ([container_status("a", waiting="CrashLoopBackOff"), container_status("b", ready=True, running=True)],
     "Running", "CrashLoopBackOff"),
    # a completed container next to a running one: Running if the pod is Ready, else NotReady
    ([container_status("a", terminated="Completed"), container_status("b", ready=True, running=True)],
     "Running", "NotReady"),
])
def test_pod_status_logic(statuses: list, phase: str, expected: str) -> None:
    assert pod_status(pod(containers=len(statuses) or 1, phase=phase, statuses=statuses)) == expected


def test_completed_beside_running_is_running_when_pod_ready() -> None:
    p = pod(containers=2, statuses=[container_status("a", terminated="Completed"),
                                    container_status("b", ready=True, running=True)])
    p.status.conditions.add(type="Ready", status="True")
    assert pod_status(p) == "Running"


def test_deleting_pod_is_terminating_unless_finished_or_node_lost() -> None:
    deleting = pod(statuses=[container_status(ready=True, running=True)])
    deleting.metadata.deletion_timestamp.CopyFrom(timestamp(1))
    assert pod_status(deleting) == "Terminating"
    deleting.status.phase = "Succeeded"
    assert pod_status(deleting) == "Succeeded"  # a finished pod keeps its status
    lost = pod(phase="Running")
    lost.status.reason = "NodeLost"
    lost.metadata.deletion_timestamp.CopyFrom(timestamp(1))
    assert pod_status(lost) == "Unknown"


def test_ready_counts_and_restarts_sum_with_last_restart_age() -> None:
    a = container_status("a", ready=True, running=True, restarts=2)
    b = container_status("b", waiting="CrashLoopBackOff", restarts=3)
    b.last_state.terminated.finished_at.CopyFrom(timestamp(5))
    row = table_row(pod(containers=2, statuses=[a, b]), NOW, TableOptions())
    assert row[1:4] == ["1/2", "CrashLoopBackOff", "5 (5s ago)"]


# -------------------------------------------------------------- workloads


def test_deployment_table() -> None:
    deployment = apps_pb2.Deployment(
        metadata=meta("multi-worker", "default", age_seconds=3 * 86400 + 4 * 3600),
        spec=apps_pb2.DeploymentSpec(replicas=4),
        status=apps_pb2.DeploymentStatus(ready_replicas=3, updated_replicas=4, available_replicas=3),
    )
    assert table([deployment]) == (
        "NAME           READY   UP-TO-DATE   AVAILABLE   AGE\n"
        "multi-worker   3/4     4            3           3d4h\n"
    )


def test_deployment_wide_shows_containers_images_selector() -> None:
    deployment = apps_pb2.Deployment(metadata=meta("web", "default"), spec=apps_pb2.DeploymentSpec(replicas=0))
    deployment.spec.selector.match_labels["app"] = "web"
    deployment.spec.selector.match_expressions.add(key="tier", operator="In", values=["a", "b"])
    deployment.spec.template.spec.containers.add(name="web", image="nginx:1.25")
    deployment.spec.template.spec.containers.add(name="log", image="busybox")
    row = table_row(deployment, NOW, TableOptions(wide=True))
    assert row == ["web", "0/0", "0", "0", "60s", "web,log", "nginx:1.25,busybox", "app=web,tier in (a,b)"]


def test_replica_set_table() -> None:
    replica_set = apps_pb2.ReplicaSet(
        metadata=meta("multi-worker-5d8f7c9b4", "default", age_seconds=45),
        spec=apps_pb2.ReplicaSetSpec(replicas=4),
        status=apps_pb2.ReplicaSetStatus(replicas=4, ready_replicas=2),
    )
    assert table([replica_set]) == (
        "NAME                     DESIRED   CURRENT   READY   AGE\n"
        "multi-worker-5d8f7c9b4   4         4         2       45s\n"
    )


# ------------------------------------------------------------------ nodes


def node(name: str, ready: str | None = "True", unschedulable: bool = False, **labels: str) -> core_pb2.Node:
    n = core_pb2.Node(metadata=meta(name, age_seconds=600, **labels))
    n.spec.unschedulable = unschedulable
    n.status.node_info.kubelet_version = "v0.1.0"
    if ready is not None:
        n.status.conditions.add(type="MemoryPressure", status="False")
        n.status.conditions.add(type="Ready", status=ready)
    return n


def test_node_status_from_ready_condition() -> None:
    assert node_status(node("a", "True")) == "Ready"
    assert node_status(node("a", "False")) == "NotReady"
    assert node_status(node("a", "Unknown")) == "NotReady"
    assert node_status(node("a", None)) == "Unknown"
    assert node_status(node("a", "True", unschedulable=True)) == "Ready,SchedulingDisabled"


def test_node_table_with_roles_and_version() -> None:
    control = node("control", **{"node-role.kubernetes.io/control-plane": ""})
    worker = node("worker-1", "False")
    assert table([control, worker]) == (
        "NAME       STATUS     ROLES           AGE   VERSION\n"
        "control    Ready      control-plane   10m   v0.1.0\n"
        "worker-1   NotReady   <none>          10m   v0.1.0\n"
    )


# --------------------------------------------- namespaces, events, leases


def test_namespace_table() -> None:
    namespace = core_pb2.Namespace(metadata=meta("team-a", age_seconds=7200),
                                   status=core_pb2.NamespaceStatus(phase="Active"))
    assert table([namespace]) == "NAME     STATUS   AGE\nteam-a   Active   120m\n"


def test_event_table_with_repeats() -> None:
    event = core_pb2.Event(
        metadata=meta("web.17a", "default"), type="Warning", reason="BackOff", count=3,
        message="Back-off restarting failed container\n",
        involved_object=meta_pb2.ObjectReference(kind="Pod", name="web", namespace="default"),
        first_timestamp=timestamp(600), last_timestamp=timestamp(120),
    )
    # kubectl's printEvent: LAST SEEN is the last timestamp alone; the count is in -o wide's
    # COUNT column ("2m (x3 over 10m)" is describe's Age column, see test_kubectl_describe).
    assert table([event]) == (
        "LAST SEEN   TYPE      REASON    OBJECT    MESSAGE\n"
        "2m          Warning   BackOff   pod/web   Back-off restarting failed container\n"
    )
    wide = table([event], wide=True).splitlines()
    assert wide[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE",
                               "FIRST", "SEEN", "COUNT", "NAME"]
    assert wide[1].endswith("10m          3       web.17a")


def test_lease_table() -> None:
    lease = coordination_pb2.Lease(metadata=meta("node-1", "kube-node-lease", age_seconds=30),
                                   spec=coordination_pb2.LeaseSpec(holder_identity="node-1"))
    assert table([lease]) == "NAME     HOLDER   AGE\nnode-1   node-1   30s\n"


# ------------------------------------------------------ options and layout


def test_all_namespaces_adds_namespace_column_first() -> None:
    pods = [pod("web"), pod("api")]
    pods[1].metadata.namespace = "team-a"
    text = table(pods, with_namespace=True)
    assert text.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert text.splitlines()[2].startswith("team-a      api ")


def test_show_labels_adds_labels_column_last() -> None:
    labelled = core_pb2.Namespace(metadata=meta("team-a", tier="b", app="a"))
    text = table([labelled, core_pb2.Namespace(metadata=meta("bare"))], show_labels=True)
    assert text.splitlines() == [
        "NAME     STATUS   AGE   LABELS",
        "team-a            60s   app=a,tier=b",
        "bare              60s   <none>",
    ]


def test_unknown_creation_time() -> None:
    assert table_row(core_pb2.Namespace(metadata=meta("x", age_seconds=None)), NOW, TableOptions())[-1] == "<unknown>"


def test_table_writer_remembers_widths_for_watch_rows() -> None:
    writer = TableWriter(["NAME", "STATUS"])
    assert writer.lines([["a", "Running"]]) == ["NAME   STATUS", "a      Running"]
    assert writer.lines([["b", "Terminating"]]) == ["b      Terminating"]
    assert writer.lines([["a-much-longer-name", "x"]]) == ["a-much-longer-name   x"]
    assert writer.lines([["c", "y"]]) == ["c                    y"]


# ------------------------------------------------------ yaml, json, names


def sample_deployment() -> apps_pb2.Deployment:
    deployment = apps_pb2.Deployment(api_version="apps/v1", kind="Deployment", metadata=meta("web", "default"),
                                     spec=apps_pb2.DeploymentSpec(replicas=2))
    deployment.metadata.uid = "1234"
    deployment.spec.selector.match_labels["app"] = "web"
    deployment.spec.template.metadata.labels["app"] = "web"
    deployment.spec.template.spec.containers.add(name="web", image="nginx")
    deployment.spec.strategy.rolling_update.max_surge.str_val = "25%"
    deployment.status.ready_replicas = 2
    return deployment


def test_yaml_of_one_object_is_the_object_with_sorted_keys() -> None:
    text = to_yaml(output_dict([sample_deployment()], as_list=False))
    assert text.splitlines()[:3] == ["apiVersion: apps/v1", "kind: Deployment", "metadata:"]
    assert "maxSurge: 25%" in text
    assert text.index("spec:") < text.index("status:")


def test_yaml_round_trips_through_manifest_loading(tmp_path: object) -> None:
    original = sample_deployment()
    text = to_yaml(output_dict([original], as_list=False))
    [loaded] = load_objects(["-"], stdin=io.StringIO(text))
    assert loaded == original


def test_yaml_list_wraps_items_like_kubectl_and_round_trips() -> None:
    objects = [sample_deployment(), core_pb2.Namespace(api_version="v1", kind="Namespace", metadata=meta("team-a"))]
    data = yaml.safe_load(to_yaml(output_dict(objects, as_list=True)))
    assert data["apiVersion"] == "v1" and data["kind"] == "List"
    assert data["metadata"] == {"resourceVersion": ""}
    assert [item["kind"] for item in data["items"]] == ["Deployment", "Namespace"]
    loaded = load_objects(["-"], stdin=io.StringIO(to_yaml(output_dict(objects, as_list=True))))
    assert loaded == objects


def test_json_uses_four_spaces_and_round_trips() -> None:
    original = sample_deployment()
    text = to_json(output_dict([original], as_list=False))
    assert text.startswith('{\n    "apiVersion": "apps/v1",\n    "kind": "Deployment",\n')
    assert json.loads(text) == to_dict(original)
    assert load_objects(["-"], stdin=io.StringIO(text)) == [original]


def test_empty_list_as_json() -> None:
    assert json.loads(to_json(output_dict([], as_list=True)))["items"] == []


@pytest.mark.parametrize(("obj", "expected"), [
    (apps_pb2.Deployment(metadata=meta("web")), "deployment.apps/web"),
    (apps_pb2.ReplicaSet(metadata=meta("web-1")), "replicaset.apps/web-1"),
    (core_pb2.Pod(metadata=meta("p")), "pod/p"),
    (core_pb2.Namespace(metadata=meta("n")), "namespace/n"),
    (coordination_pb2.Lease(metadata=meta("l")), "lease.coordination.k8s.io/l"),
])
def test_name_lines(obj: object, expected: str) -> None:
    assert name_line(obj) == expected  # type: ignore[arg-type]


def test_every_kind_has_a_table() -> None:
    for kind in ("Pod", "Node", "Namespace", "Event", "Deployment", "ReplicaSet", "Lease"):
        assert table_headers(kind_info(kind), TableOptions(wide=True))
