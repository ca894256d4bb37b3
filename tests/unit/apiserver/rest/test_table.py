"""The apiserver's meta.k8s.io/v1 Table, and that kubectl printing it shows what pykubectl shows.

``kubectl_prints`` below renders a Table the way kubectl's table printer does (from the JSON
alone: column names upper-cased, priority-1 columns only with -o wide, cells with Go's %v,
NAMESPACE and LABELS from each row's object, Go tabwriter alignment). For hand-built objects
of every kind it must equal pykubectl's own rendering, normal and wide: one definition of
the columns, two faces, the same table.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.kinds import KINDS, info_of, kind_info
from apimachinery.tables import TABLES
from apiserver import errors
from apiserver.rest.table import include_object_option, object_table, to_table, wants_table
from kubectl.printers import TableOptions, format_table, table_headers, table_row
from protos import apps_pb2, coordination_pb2, core_pb2, discovery_pb2, meta_pb2, rbac_pb2

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                  "g=meta.k8s.io,application/json")


def ago(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(NOW - datetime.timedelta(seconds=seconds))
    return ts


def meta(name: str, namespace: str = "", age_seconds: float = 60, **labels: str) -> meta_pb2.ObjectMeta:
    m = meta_pb2.ObjectMeta(name=name, namespace=namespace, labels=labels, resource_version="17", uid="u-" + name)
    m.creation_timestamp.CopyFrom(ago(age_seconds))
    return m


# ------------------------------------------------------ kubectl, reimplemented


def go_value(cell: Any) -> str:
    """fmt.Sprint of a decoded JSON cell."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return str(cell)


def tabwriter(lines: list[list[str]]) -> str:
    """kubectl's tabwriter (minwidth 6, padding 3): every cell but a line's last is padded."""
    widths: dict[int, int] = {}
    for cells in lines:
        for column, cell in enumerate(cells[:-1]):
            widths[column] = max(widths.get(column, 0), 6, len(cell) + 3)
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(cells[:-1])) + cells[-1] + "\n"
                   for cells in lines)


def kubectl_prints(table: dict[str, Any], wide: bool = False, with_namespace: bool = False,
                   show_labels: bool = False) -> str:
    """What kubectl's HumanReadablePrinter prints for a Table received from the server."""
    table = json.loads(json.dumps(table))  # only what crosses the wire
    shown = [i for i, c in enumerate(table["columnDefinitions"]) if wide or c["priority"] == 0]
    header = [table["columnDefinitions"][i]["name"].upper() for i in shown]
    lines = [(["NAMESPACE"] if with_namespace else []) + header + (["LABELS"] if show_labels else [])]
    for row in table["rows"]:
        metadata = row["object"]["metadata"]
        labels = metadata.get("labels", {})
        line = [go_value(row["cells"][i]) for i in shown]
        if with_namespace:
            line.insert(0, metadata.get("namespace", ""))
        if show_labels:
            line.append(",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>")
        lines.append(line)
    return tabwriter(lines)


def pykubectl_prints(objects: list[Message], **options: bool) -> str:
    opts = TableOptions(**options)
    return format_table(table_headers(info_of(objects[0]), opts), [table_row(obj, NOW, opts) for obj in objects])


# ------------------------------------------------------- one object per kind


def pods() -> list[Message]:
    running = core_pb2.Pod(metadata=meta("web-7d4b9c", "default", 182, app="web"))
    running.spec.containers.add(name="web", image="nginx")
    running.spec.containers.add(name="log", image="busybox")
    running.spec.node_name = "node-1"
    running.status.phase = "Running"
    running.status.pod_ips.add(ip="10.88.0.5")
    ready = running.status.container_statuses.add(name="web", ready=True, restart_count=2)
    ready.state.running.started_at.CopyFrom(ago(30))
    crashing = running.status.container_statuses.add(name="log", restart_count=3)
    crashing.state.waiting.reason = "CrashLoopBackOff"
    crashing.last_state.terminated.finished_at.CopyFrom(ago(5))
    pending = core_pb2.Pod(metadata=meta("queued", "team-a", 5000))
    pending.spec.containers.add(name="c", image="nginx")
    pending.status.phase = "Pending"
    return [running, pending]


def deployments() -> list[Message]:
    deployment = apps_pb2.Deployment(metadata=meta("multi-worker", "default", 3 * 86400 + 4 * 3600),
                                     spec=apps_pb2.DeploymentSpec(replicas=4))
    deployment.status.ready_replicas, deployment.status.updated_replicas = 3, 4
    deployment.status.available_replicas = 3
    deployment.spec.selector.match_labels["app"] = "web"
    deployment.spec.selector.match_expressions.add(key="tier", operator="In", values=["a", "b"])
    deployment.spec.template.spec.containers.add(name="web", image="nginx:1.25")
    return [deployment, apps_pb2.Deployment(metadata=meta("empty", "default"))]


def replica_sets() -> list[Message]:
    replica_set = apps_pb2.ReplicaSet(metadata=meta("web-5d8f7c9b4", "default", 45),
                                      spec=apps_pb2.ReplicaSetSpec(replicas=4),
                                      status=apps_pb2.ReplicaSetStatus(replicas=4, ready_replicas=2))
    replica_set.spec.template.spec.containers.add(name="web", image="nginx")
    return [replica_set]


def nodes() -> list[Message]:
    control = core_pb2.Node(metadata=meta("control", age_seconds=600, **{"node-role.kubernetes.io/control-plane": ""}))
    control.status.conditions.add(type="Ready", status="True")
    control.status.node_info.kubelet_version = "v0.1.0"
    control.status.node_info.os_image = "Fedora Linux 40"
    control.status.addresses.add(type="InternalIP", address="10.0.0.1")
    worker = core_pb2.Node(metadata=meta("worker-1", age_seconds=600))
    worker.spec.unschedulable = True
    return [control, worker]


def services() -> list[Message]:
    web = core_pb2.Service(metadata=meta("web", "default", 3600))
    web.spec.type = "NodePort"
    web.spec.cluster_ips.append("10.96.0.10")
    web.spec.ports.add(port=80, node_port=30080, protocol="TCP")
    web.spec.ports.add(port=443, protocol="TCP")
    web.spec.selector["app"] = "web"
    headless = core_pb2.Service(metadata=meta("db", "default"))
    headless.spec.type = "ClusterIP"
    headless.spec.cluster_ip = "None"
    return [web, headless]


def endpoint_slices() -> list[Message]:
    eps = discovery_pb2.EndpointSlice(metadata=meta("web-abc12", "default"), address_type="IPv4")
    eps.ports.add(port=80)
    for i in range(5):
        eps.endpoints.add(addresses=[f"10.88.0.{i}"])
    return [eps, discovery_pb2.EndpointSlice(metadata=meta("none", "default"), address_type="IPv4")]


def events() -> list[Message]:
    repeated = core_pb2.Event(
        metadata=meta("web.17a", "default"), type="Warning", reason="BackOff", count=3,
        message="Back-off restarting failed container\n",
        involved_object=meta_pb2.ObjectReference(kind="Pod", name="web", namespace="default",
                                                 field_path="spec.containers{web}"),
        source=core_pb2.EventSource(component="kubelet", host="node-1"),
        first_timestamp=ago(600), last_timestamp=ago(120))
    once = core_pb2.Event(metadata=meta("web.17b", "default"), type="Normal", reason="Scheduled",
                          message="Successfully assigned default/web to node-1",
                          involved_object=meta_pb2.ObjectReference(kind="Pod", name="web"),
                          reporting_component="default-scheduler", first_timestamp=ago(700))
    return [repeated, once]


def namespaces() -> list[Message]:
    return [core_pb2.Namespace(metadata=meta("team-a", age_seconds=7200, tier="b"),
                               status=core_pb2.NamespaceStatus(phase="Active"))]


def leases() -> list[Message]:
    return [coordination_pb2.Lease(metadata=meta("node-1", "kube-node-lease", 30),
                                   spec=coordination_pb2.LeaseSpec(holder_identity="node-1")),
            coordination_pb2.Lease(metadata=meta("free", "kube-node-lease", 30))]


def rbac() -> list[list[Message]]:
    role = rbac_pb2.Role(metadata=meta("reader", "dev", 90))
    cluster_role = rbac_pb2.ClusterRole(metadata=meta("admin", age_seconds=90))
    binding = rbac_pb2.RoleBinding(metadata=meta("read", "dev"),
                                   role_ref=rbac_pb2.RoleRef(kind="Role", name="reader"))
    binding.subjects.add(kind="User", name="alice")
    binding.subjects.add(kind="User", name="bob")
    binding.subjects.add(kind="ServiceAccount", name="ci", namespace="dev")
    cluster_binding = rbac_pb2.ClusterRoleBinding(metadata=meta("admins"),
                                                  role_ref=rbac_pb2.RoleRef(kind="ClusterRole", name="admin"))
    cluster_binding.subjects.add(kind="Group", name="ops")
    return [[role], [cluster_role], [binding], [cluster_binding]]


SAMPLES = [pods(), deployments(), replica_sets(), nodes(), services(), endpoint_slices(), events(), namespaces(),
           leases(), *rbac()]


def test_every_kind_has_a_table_and_a_sample() -> None:
    assert set(TABLES) == {info.kind for info in KINDS}
    assert {info_of(objects[0]).kind for objects in SAMPLES} == set(TABLES)


@pytest.mark.parametrize("objects", SAMPLES, ids=lambda objects: info_of(objects[0]).kind)
@pytest.mark.parametrize("options", [{}, {"wide": True}, {"with_namespace": True, "show_labels": True},
                                     {"wide": True, "with_namespace": True}], ids=str)
def test_kubectl_prints_the_table_as_pykubectl_prints_the_objects(objects: list[Message],
                                                                   options: dict[str, bool]) -> None:
    table = to_table(info_of(objects[0]), objects, "Metadata", NOW, {"resourceVersion": "42"})
    assert kubectl_prints(table, **options) == pykubectl_prints(objects, **options)


# ------------------------------------------------------------ the Table itself


def test_pod_table_has_kubernetes_columns_and_typed_cells() -> None:
    table = to_table(kind_info("Pod"), pods(), "Metadata", NOW, {"resourceVersion": "42", "continue": ""})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}  # an empty continue is left out
    columns = table["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert columns[0]["format"] == "name" and columns[0]["description"].startswith("Name must be unique")
    assert all(c["type"] == "string" for c in columns)
    assert table["rows"][0]["cells"] == ["web-7d4b9c", "1/2", "CrashLoopBackOff", "5 (5s ago)", "3m2s",
                                         "10.88.0.5", "node-1", "<none>", "<none>"]


def test_integer_columns_carry_numbers() -> None:
    table = to_table(kind_info("ReplicaSet"), replica_sets(), "None", NOW)
    assert [c["type"] for c in table["columnDefinitions"][1:4]] == ["integer"] * 3
    assert table["rows"][0]["cells"][1:4] == [4, 4, 2]
    events_table = to_table(kind_info("Event"), events(), "None", NOW)
    assert [row["cells"][8] for row in events_table["rows"]] == [3, 1]  # COUNT: a singleton is 1


def test_roles_show_created_at_as_a_date() -> None:
    table = to_table(kind_info("Role"), rbac()[0], "None", NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Created At", "date")]
    assert table["rows"][0]["cells"] == ["reader", "2024-05-01T11:58:30Z"]


def test_include_object_policies() -> None:
    [pod, _] = pods()
    info = kind_info("Pod")
    metadata_row = to_table(info, [pod], "Metadata", NOW)["rows"][0]
    assert metadata_row["object"]["kind"] == "PartialObjectMetadata"
    assert metadata_row["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert metadata_row["object"]["metadata"]["labels"] == {"app": "web"}
    assert "spec" not in metadata_row["object"]
    full = to_table(info, [pod], "Object", NOW)["rows"][0]["object"]
    assert full["kind"] == "Pod" and full["apiVersion"] == "v1" and full["spec"]["nodeName"] == "node-1"
    assert "object" not in to_table(info, [pod], "None", NOW)["rows"][0]
    assert include_object_option(None) == include_object_option("") == "Metadata"


def test_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match="includeObject: Invalid value: \"All\""):
        to_table(kind_info("Pod"), pods(), "All", NOW)


def test_one_object_table_for_get_and_watch_events() -> None:
    [pod, _] = pods()
    table = object_table(kind_info("Pod"), pod, "Metadata", NOW)
    assert table["metadata"] == {"resourceVersion": "17"} and len(table["rows"]) == 1
    later = object_table(kind_info("Pod"), pod, "Metadata", NOW, with_columns=False)
    assert later["columnDefinitions"] == [] and later["rows"] == table["rows"]
    beta = object_table(kind_info("Pod"), pod, "Metadata", NOW, api_version="meta.k8s.io/v1beta1")
    assert beta["apiVersion"] == beta["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_empty_list_still_has_its_columns() -> None:
    table = to_table(kind_info("Node"), [], "Metadata", NOW, {"resourceVersion": "9"})
    assert table["rows"] == [] and len(table["columnDefinitions"]) == 10


# ------------------------------------------------------------- content types


@pytest.mark.parametrize(("accept", "expected"), [
    (KUBECTL_ACCEPT, (True, "meta.k8s.io/v1")),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", (True, "meta.k8s.io/v1beta1")),
    ("application/json", (False, "")),
    ("", (False, "")),
    ("*/*", (False, "")),
    ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", (False, "")),
    ("application/json;as=Table;v=v1;g=example.com,application/json", (False, "")),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", (False, "")),
    ("application/json;q=0.9,application/json;as=Table;v=v1;g=meta.k8s.io", (True, "meta.k8s.io/v1")),
    ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", (False, "")),
    ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json", (False, "")),
])
def test_accept_header(accept: str, expected: tuple[bool, str]) -> None:
    assert wants_table(accept) == expected
