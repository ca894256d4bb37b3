"""Hand-built objects of every kind pykube serves, for the Table tests (unit and with the real kubectl)."""

from __future__ import annotations

import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from protos import apps_pb2, batch_pb2, coordination_pb2, core_pb2, discovery_pb2, meta_pb2, rbac_pb2, storage_pb2

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(NOW - datetime.timedelta(seconds=seconds))
    return ts


def meta(name: str, namespace: str = "", age_seconds: float = 60, **labels: str) -> meta_pb2.ObjectMeta:
    m = meta_pb2.ObjectMeta(name=name, namespace=namespace, labels=labels, resource_version="17", uid="u-" + name)
    m.creation_timestamp.CopyFrom(ago(age_seconds))
    return m


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


def daemon_sets() -> list[Message]:
    daemon_set = apps_pb2.DaemonSet(metadata=meta("agent", "default", 45))
    status = daemon_set.status
    status.desired_number_scheduled, status.current_number_scheduled, status.number_ready = 3, 3, 2
    status.updated_number_scheduled, status.number_available = 3, 2
    daemon_set.spec.selector.match_labels["app"] = "agent"
    daemon_set.spec.template.metadata.labels["app"] = "agent"
    daemon_set.spec.template.spec.node_selector["kubernetes.io/os"] = "linux"
    daemon_set.spec.template.spec.containers.add(name="agent", image="busybox")
    empty = apps_pb2.DaemonSet(metadata=meta("empty", "default"))
    empty.spec.selector.match_labels["app"] = "empty"
    empty.spec.template.metadata.labels["app"] = "empty"
    empty.spec.template.spec.containers.add(name="idle", image="busybox")
    return [daemon_set, empty]


def stateful_sets() -> list[Message]:
    stateful_set = apps_pb2.StatefulSet(metadata=meta("db", "default", 45), spec=apps_pb2.StatefulSetSpec(replicas=3),
                                        status=apps_pb2.StatefulSetStatus(replicas=3, ready_replicas=2))
    stateful_set.spec.service_name = "db"
    stateful_set.spec.selector.match_labels["app"] = "db"
    stateful_set.spec.template.metadata.labels["app"] = "db"
    stateful_set.spec.template.spec.containers.add(name="db", image="postgres:16")
    return [stateful_set]


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


def config_maps() -> list[Message]:
    return [core_pb2.ConfigMap(metadata=meta("app", "default", 90), data={"a": "1", "b": "2"},
                               binary_data={"c": b"\x00"}),
            core_pb2.ConfigMap(metadata=meta("empty", "default", 90))]


def secrets() -> list[Message]:
    return [core_pb2.Secret(metadata=meta("db", "default", 90), type="Opaque", data={"password": b"x"}),
            core_pb2.Secret(metadata=meta("tls", "default", 90), type="kubernetes.io/tls",
                            data={"tls.crt": b"c", "tls.key": b"k"})]


def jobs() -> list[Message]:
    done = batch_pb2.Job(metadata=meta("pi", "default", 300))
    done.spec.completions, done.spec.parallelism = 3, 1
    done.spec.manual_selector = True  # stored as it is (a generated selector names the server's uid)
    done.spec.selector.match_labels["app"] = "pi"
    done.spec.template.metadata.labels["app"] = "pi"
    done.spec.template.spec.restart_policy = "Never"
    done.spec.template.spec.containers.add(name="pi", image="perl")
    done.status.succeeded = 3
    done.status.start_time.CopyFrom(ago(290))
    done.status.completion_time.CopyFrom(ago(200))
    done.status.conditions.add(type="Complete", status="True")
    queue = batch_pb2.Job(metadata=meta("work", "default", 30))
    queue.spec.parallelism = 4
    queue.spec.manual_selector = True
    queue.spec.selector.match_labels["app"] = "work"
    queue.spec.template.metadata.labels["app"] = "work"
    queue.spec.template.spec.restart_policy = "OnFailure"
    queue.spec.template.spec.containers.add(name="w", image="busybox")
    queue.status.start_time.CopyFrom(ago(25))
    return [done, queue]


def cron_jobs() -> list[Message]:
    tick = batch_pb2.CronJob(metadata=meta("tick", "default", 7200))
    tick.spec.schedule, tick.spec.suspend = "*/5 * * * *", False
    tick.spec.job_template.spec.template.spec.restart_policy = "OnFailure"
    tick.spec.job_template.spec.template.spec.containers.add(name="t", image="busybox")
    tick.status.active.add(kind="Job", name="tick-123", namespace="default")
    tick.status.last_schedule_time.CopyFrom(ago(90))
    berlin = batch_pb2.CronJob(metadata=meta("nightly", "default", 86400 * 3))
    berlin.spec.schedule, berlin.spec.time_zone, berlin.spec.suspend = "0 2 * * *", "Europe/Berlin", True
    berlin.spec.job_template.spec.template.spec.restart_policy = "Never"
    berlin.spec.job_template.spec.template.spec.containers.add(name="n", image="busybox")
    return [tick, berlin]


def storage() -> list[list[Message]]:
    pv = core_pb2.PersistentVolume(metadata=meta("pv0001", "", 600))
    pv.spec.host_path.path = "/srv/pv0001"
    pv.spec.capacity["storage"] = "5Gi"
    pv.spec.access_modes.extend(["ReadWriteOnce", "ReadOnlyMany"])
    pv.spec.persistent_volume_reclaim_policy, pv.spec.storage_class_name = "Retain", "manual"
    pv.spec.claim_ref.namespace, pv.spec.claim_ref.name = "default", "data"
    pv.status.phase = "Bound"
    pvc = core_pb2.PersistentVolumeClaim(metadata=meta("data", "default", 300))
    pvc.spec.access_modes.append("ReadWriteOnce")
    pvc.spec.resources.requests["storage"] = "1Gi"
    pvc.spec.storage_class_name, pvc.spec.volume_name = "manual", "pv0001"
    pvc.status.phase = "Bound"
    pvc.status.access_modes.extend(["ReadWriteOnce", "ReadOnlyMany"])
    pvc.status.capacity["storage"] = "5Gi"
    pending = core_pb2.PersistentVolumeClaim(metadata=meta("waiting", "default", 30))
    pending.spec.access_modes.append("ReadWriteOnce")
    pending.spec.resources.requests["storage"] = "1Gi"
    pending.status.phase = "Pending"
    sc = storage_pb2.StorageClass(metadata=meta("standard", "", 900), provisioner="pykube.io/host-path")
    sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"] = "true"
    return [[pv], [pvc, pending], [sc]]


SAMPLES = [pods(), deployments(), replica_sets(), daemon_sets(), stateful_sets(), nodes(), services(), endpoint_slices(),
           events(), namespaces(), leases(), config_maps(), secrets(), *rbac(), jobs(), cron_jobs(), *storage()]
