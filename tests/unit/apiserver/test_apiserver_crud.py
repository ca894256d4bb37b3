"""Create / Get / List / Update / Delete through the gRPC API: defaults, error codes
and messages, generated names, namespaces, optimistic concurrency, status
separation, durability across a restart and the health service."""

from __future__ import annotations

import re
import socket
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from apiserver_testlib import (create, deployment, get, list_names, namespace, node, obj_of, pod,
                               revision, rpc_error, update, update_status)
from protos import api_pb2

SUFFIX = "[bcdfghjklmnpqrstvwxz2456789]{5}"


# ----------------------------------------------------------------------- create


def test_create_pod_fills_metadata_and_pod_defaults(stub) -> None:
    before = revision(stub)
    created = create(stub, pod("web", image="nginx:1.27"))

    meta = created.metadata
    assert (created.api_version, created.kind) == ("v1", "Pod")
    assert meta.name == "web"
    assert meta.namespace == "default"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.uid)
    assert meta.creation_timestamp.seconds > 0
    assert meta.generation == 1
    assert int(meta.resource_version) == before + 1 == revision(stub)
    assert not meta.HasField("deletion_timestamp")

    spec = created.spec
    assert spec.restart_policy == "Always"
    assert spec.containers[0].image_pull_policy == "IfNotPresent"
    assert spec.HasField("termination_grace_period_seconds")
    assert spec.termination_grace_period_seconds == 30
    assert spec.node_name == ""
    assert created.status.phase == "Pending"

    # What Create returned is what is stored.
    assert get(stub, "Pod", "web") == created
    assert get(stub, "Pod", "web", "default") == created


def test_image_pull_policy_defaults_by_tag(stub) -> None:
    cases = {
        "tagged": ("nginx:1.27", "IfNotPresent"),
        "latest": ("nginx:latest", "Always"),
        "untagged": ("nginx", "Always"),
        "registry-port-untagged": ("localhost:5000/team/nginx", "Always"),
        "registry-port-tagged": ("localhost:5000/team/nginx:1.0", "IfNotPresent"),
    }
    for name, (image, expected) in cases.items():
        created = create(stub, pod(name, image=image))
        assert created.spec.containers[0].image_pull_policy == expected, image
    # An explicit policy is kept.
    explicit = pod("explicit", image="nginx:latest")
    explicit.pod.spec.containers[0].image_pull_policy = "Never"
    assert create(stub, explicit).spec.containers[0].image_pull_policy == "Never"


def test_create_keeps_explicit_pod_fields_and_clears_client_status(stub) -> None:
    obj = pod("explicit", restart_policy="Never", termination_grace_period_seconds=0)
    obj.pod.status.phase = "Running"  # clients do not set status on create
    obj.pod.metadata.uid = "client-chosen"
    obj.pod.metadata.resource_version = "999"
    created = create(stub, obj)
    assert created.spec.restart_policy == "Never"
    assert created.spec.HasField("termination_grace_period_seconds")
    assert created.spec.termination_grace_period_seconds == 0
    assert created.status.phase == "Pending"
    assert created.metadata.uid != "client-chosen"
    assert created.metadata.resource_version != "999"


def test_create_deployment_defaults(stub) -> None:
    unset = create(stub, deployment("unset"))
    assert (unset.api_version, unset.kind) == ("apps/v1", "Deployment")
    assert unset.spec.HasField("replicas") and unset.spec.replicas == 1
    assert unset.spec.strategy.type == "RollingUpdate"
    assert unset.spec.strategy.rolling_update.max_unavailable.str_val == "25%"
    assert unset.spec.strategy.rolling_update.max_surge.str_val == "25%"
    assert unset.spec.revision_history_limit == 10
    assert unset.spec.template.spec.restart_policy == "Always"
    assert unset.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert unset.metadata.generation == 1

    zero = create(stub, deployment("zero", replicas=0))
    assert zero.spec.HasField("replicas") and zero.spec.replicas == 0
    assert get(stub, "Deployment", "zero").spec.replicas == 0

    three = create(stub, deployment("three", replicas=3))
    assert three.spec.replicas == 3


def test_create_existing_name_is_already_exists(stub) -> None:
    create(stub, pod("web"))
    before = revision(stub)
    err = rpc_error(lambda: create(stub, pod("web", image="redis:7")))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details() == 'pods "web" already exists'
    assert get(stub, "Pod", "web").spec.containers[0].image == "nginx:1.27"
    assert revision(stub) == before

    create(stub, deployment("web"))
    err = rpc_error(lambda: create(stub, deployment("web")))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details() == 'deployments.apps "web" already exists'


def test_dry_run_create_writes_nothing(stub) -> None:
    before = revision(stub)
    result = obj_of(stub.Create(api_pb2.CreateRequest(object=pod("dry"), dry_run=True)))
    assert result.metadata.name == "dry"
    assert result.spec.restart_policy == "Always"
    assert revision(stub) == before
    assert rpc_error(lambda: get(stub, "Pod", "dry")).code() == grpc.StatusCode.NOT_FOUND


def test_generate_name_appends_five_safe_characters(stub) -> None:
    generated = set()
    for _ in range(5):
        obj = pod("")
        obj.pod.metadata.generate_name = "web-"
        created = create(stub, obj)
        assert re.fullmatch("web-" + SUFFIX, created.metadata.name), created.metadata.name
        assert created.metadata.generate_name == "web-"
        generated.add(created.metadata.name)
    assert len(generated) == 5
    assert set(list_names(stub, "Pod")) == generated

    # A name given explicitly wins over generateName.
    obj = pod("fixed")
    obj.pod.metadata.generate_name = "web-"
    assert create(stub, obj).metadata.name == "fixed"


def test_namespace_must_exist(stub) -> None:
    before = revision(stub)
    err = rpc_error(lambda: create(stub, pod("web", namespace="nope")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'namespaces "nope" not found'
    assert revision(stub) == before

    create(stub, namespace("team-a"))
    created = create(stub, pod("web", namespace="team-a"))
    assert created.metadata.namespace == "team-a"
    assert get(stub, "Pod", "web", "team-a") == created
    # Same name, other namespace: a different object.
    assert rpc_error(lambda: get(stub, "Pod", "web", "default")).code() == grpc.StatusCode.NOT_FOUND


def test_system_namespaces_exist(stub) -> None:
    listed = stub.List(api_pb2.ListRequest(kind="Namespace"))
    by_name = {obj_of(o).metadata.name: obj_of(o) for o in listed.items}
    assert set(by_name) == {"default", "kube-system", "kube-node-lease", "kube-public"}
    for ns in by_name.values():
        assert ns.status.phase == "Active"
        assert ns.metadata.namespace == ""  # cluster-scoped
    err = rpc_error(lambda: stub.Delete(api_pb2.DeleteRequest(kind="Namespace", name="kube-system")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "may not be deleted" in err.details()


def test_cluster_scoped_objects_ignore_namespace(stub) -> None:
    obj = node("n1")
    obj.node.metadata.namespace = "default"
    created = create(stub, obj)
    assert created.metadata.namespace == ""
    assert get(stub, "Node", "n1") == created
    assert get(stub, "Node", "n1", "whatever") == created


# ---------------------------------------------------------------- get and list


def test_get_missing_is_not_found(stub) -> None:
    err = rpc_error(lambda: get(stub, "Pod", "x"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'pods "x" not found'
    err = rpc_error(lambda: get(stub, "Deployment", "x"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'deployments.apps "x" not found'
    err = rpc_error(lambda: get(stub, "Node", "x"))
    assert err.details() == 'nodes "x" not found'


def test_list_by_namespace_and_all_namespaces(stub) -> None:
    create(stub, namespace("team-a"))
    for name in ("b", "a"):
        create(stub, pod(name))
    create(stub, pod("c", namespace="team-a"))
    create(stub, deployment("not-a-pod"))

    assert list_names(stub, "Pod", "default") == ["a", "b"]
    assert list_names(stub, "Pod", "team-a") == ["c"]
    assert list_names(stub, "Pod", "empty-or-missing") == []
    # Every namespace, sorted by (namespace, name).
    everything = stub.List(api_pb2.ListRequest(kind="Pod"))
    assert [(obj_of(o).metadata.namespace, obj_of(o).metadata.name) for o in everything.items] == [
        ("default", "a"), ("default", "b"), ("team-a", "c")]
    assert all(o.WhichOneof("kind") == "pod" for o in everything.items)
    assert int(everything.resource_version) == revision(stub)


# --------------------------------------------------------------------- update


def test_update_changes_object_and_bumps_resource_version(stub) -> None:
    created = create(stub, pod("web", labels={"app": "web"}))
    created.metadata.labels["tier"] = "frontend"
    created.spec.containers[0].image = "nginx:1.28"
    updated = update(stub, created)
    assert updated.metadata.labels == {"app": "web", "tier": "frontend"}
    assert updated.spec.containers[0].image == "nginx:1.28"
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    assert int(updated.metadata.resource_version) == revision(stub)
    assert updated.metadata.uid == created.metadata.uid
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert get(stub, "Pod", "web") == updated


def test_update_missing_is_not_found(stub) -> None:
    err = rpc_error(lambda: update(stub, pod("ghost").pod))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'pods "ghost" not found'


def test_update_with_stale_resource_version_is_conflict(stub) -> None:
    first = create(stub, pod("web"))
    stale = type(first)()
    stale.CopyFrom(first)

    first.metadata.labels["a"] = "1"
    winner = update(stub, first)
    assert winner.metadata.resource_version != stale.metadata.resource_version

    stale.metadata.labels["b"] = "2"
    before = revision(stub)
    err = rpc_error(lambda: update(stub, stale))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "the object has been modified" in err.details()
    assert err.details().startswith('Operation cannot be fulfilled on pods "web"')
    assert revision(stub) == before
    assert get(stub, "Pod", "web") == winner

    # Without a resourceVersion the update is unconditional.
    stale.metadata.resource_version = ""
    assert update(stub, stale).metadata.labels == {"b": "2"}


def test_noop_update_keeps_resource_version(stub) -> None:
    created = create(stub, pod("web", labels={"app": "web"}))
    before = revision(stub)
    same = update(stub, created)
    assert same == created
    assert revision(stub) == before
    # Server-owned and defaulted fields left out by the client: still a no-op.
    minimal = pod("web", labels={"app": "web"}).pod
    assert update(stub, minimal).metadata.resource_version == created.metadata.resource_version
    assert revision(stub) == before


def test_generation_bumps_only_on_spec_change(stub) -> None:
    d = create(stub, deployment("web", replicas=1))
    assert d.metadata.generation == 1

    d.metadata.labels["team"] = "a"
    d = update(stub, d)
    assert d.metadata.generation == 1  # metadata only

    d.spec.replicas = 3
    d = update(stub, d)
    assert d.metadata.generation == 2

    d.spec.template.spec.containers[0].image = "nginx:1.28"
    d = update(stub, d)
    assert d.metadata.generation == 3

    p = create(stub, pod("p"))
    p.metadata.annotations["note"] = "x"
    p = update(stub, p)
    assert p.metadata.generation == 1
    p.spec.containers[0].image = "nginx:1.28"
    assert update(stub, p).metadata.generation == 2


def test_client_cannot_set_generation_or_server_fields(stub) -> None:
    d = create(stub, deployment("web"))
    d.metadata.generation = 42
    d.metadata.creation_timestamp.seconds = 1
    d.metadata.labels["x"] = "y"
    updated = update(stub, d)
    assert updated.metadata.generation == 1
    assert updated.metadata.creation_timestamp.seconds > 1


def test_concurrent_updates_from_one_version_exactly_one_wins(server) -> None:
    created = create(server.stub, pod("web"))
    stubs = [server.new_stub() for _ in range(4)]

    def attempt(i: int) -> str:
        mine = type(created)()
        mine.CopyFrom(created)
        mine.metadata.labels["writer"] = str(i)
        try:
            update(stubs[i % len(stubs)], mine)
            return "ok"
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.ABORTED, err.details()
            return "conflict"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(attempt, range(32)))
    assert outcomes.count("ok") == 1
    assert outcomes.count("conflict") == 31
    winner = get(server.stub, "Pod", "web")
    assert winner.metadata.labels["writer"] in {str(i) for i in range(32)}
    assert int(winner.metadata.resource_version) == int(created.metadata.resource_version) + 1 == revision(server.stub)


# ------------------------------------------------------------ status separation


def test_update_ignores_status(stub) -> None:
    created = create(stub, pod("web"))
    created.status.phase = "Running"
    created.status.pod_ip = "10.0.0.7"
    created.metadata.labels["app"] = "web"
    updated = update(stub, created)
    assert updated.metadata.labels == {"app": "web"}
    assert updated.status.phase == "Pending"
    assert updated.status.pod_ip == ""

    # Only a status change: nothing to write.
    updated.status.phase = "Failed"
    before = revision(stub)
    assert update(stub, updated).status.phase == "Pending"
    assert revision(stub) == before


def test_update_status_changes_only_status(stub) -> None:
    created = create(stub, pod("web", labels={"app": "web"}))
    change = type(created)()
    change.CopyFrom(created)
    change.status.phase = "Running"
    change.status.pod_ip = "10.0.0.7"
    change.metadata.labels["app"] = "hacked"
    change.metadata.labels["extra"] = "1"
    change.spec.containers[0].image = "evil:1"
    change.spec.restart_policy = "Never"

    result = update_status(stub, change)
    assert result.status.phase == "Running"
    assert result.status.pod_ip == "10.0.0.7"
    assert result.metadata.labels == {"app": "web"}
    assert result.spec == created.spec
    assert result.metadata.generation == 1
    assert int(result.metadata.resource_version) > int(created.metadata.resource_version)
    assert get(stub, "Pod", "web") == result

    # UpdateStatus is compare-and-swap too.
    stale = type(created)()
    stale.CopyFrom(created)
    stale.status.phase = "Failed"
    err = rpc_error(lambda: update_status(stub, stale))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "the object has been modified" in err.details()
    assert get(stub, "Pod", "web").status.phase == "Running"


def test_update_status_keeps_status_through_later_updates(stub) -> None:
    d = create(stub, deployment("web"))
    d.status.ready_replicas = 1
    d.status.replicas = 1
    d = update_status(stub, d)
    d.spec.replicas = 2
    updated = update(stub, d)
    assert updated.spec.replicas == 2
    assert updated.status.ready_replicas == 1


# --------------------------------------------------------------------- delete


def test_delete_then_not_found(stub) -> None:
    created = create(stub, deployment("web"))
    deleted = obj_of(stub.Delete(api_pb2.DeleteRequest(kind="Deployment", name="web")))
    assert deleted.metadata.uid == created.metadata.uid
    assert int(deleted.metadata.resource_version) == revision(stub)
    assert rpc_error(lambda: get(stub, "Deployment", "web")).code() == grpc.StatusCode.NOT_FOUND
    assert list_names(stub, "Deployment") == []

    err = rpc_error(lambda: stub.Delete(api_pb2.DeleteRequest(kind="Deployment", name="web")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'deployments.apps "web" not found'

    # The name is free again: a new object with a new uid.
    again = create(stub, deployment("web"))
    assert again.metadata.uid != created.metadata.uid


# ------------------------------------------------------------------ namespaces


def test_deleting_a_namespace_takes_its_contents_along(stub) -> None:
    create(stub, namespace("team-a"))
    create(stub, pod("running", namespace="team-a"))
    stub.Bind(api_pb2.BindRequest(namespace="team-a", name="running", node_name="n1"))
    create(stub, pod("pending", namespace="team-a"))
    create(stub, deployment("api", namespace="team-a"))
    create(stub, pod("elsewhere"))

    terminating = obj_of(stub.Delete(api_pb2.DeleteRequest(kind="Namespace", name="team-a")))
    assert terminating.status.phase == "Terminating"
    assert terminating.metadata.HasField("deletion_timestamp")
    # What nothing runs is gone; the bound Pod waits for its kubelet.
    assert list_names(stub, "Deployment", "team-a") == []
    assert list_names(stub, "Pod", "team-a") == ["running"]
    assert get(stub, "Pod", "running", "team-a").metadata.HasField("deletion_timestamp")
    assert get(stub, "Namespace", "team-a").status.phase == "Terminating"

    err = rpc_error(lambda: create(stub, pod("late", namespace="team-a")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "because it is being terminated" in err.details()

    # The kubelet confirms; the last object gone takes the namespace with it.
    stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="team-a", name="running", grace_period_seconds=0))
    assert rpc_error(lambda: get(stub, "Namespace", "team-a")).code() == grpc.StatusCode.NOT_FOUND
    assert list_names(stub, "Pod") == ["elsewhere"]


# ------------------------------------------------------------------ durability


def test_objects_and_revision_survive_restart(server_factory, tmp_path) -> None:
    data_dir = tmp_path / "durable"
    first = server_factory(data_dir=data_dir)
    create(first.stub, namespace("team-a"))
    web = create(first.stub, pod("web", namespace="team-a", labels={"app": "web"}))
    d = create(first.stub, deployment("api", replicas=0))
    gone = create(first.stub, pod("gone"))
    first.stub.Delete(api_pb2.DeleteRequest(kind="Pod", name="gone"))
    web.status.phase = "Running"
    web = update_status(first.stub, web)
    rev = revision(first.stub)
    assert rev > int(gone.metadata.resource_version)
    first.stop()

    second = server_factory(data_dir=data_dir)
    assert revision(second.stub) == rev
    assert get(second.stub, "Pod", "web", "team-a") == web
    assert get(second.stub, "Deployment", "api") == d
    assert list_names(second.stub, "Pod") == ["web"]
    assert list_names(second.stub, "Namespace") == [
        "default", "kube-node-lease", "kube-public", "kube-system", "team-a"]
    # A watch from the revision before the restart continues; revisions keep counting up.
    watch = second.stub.Watch(api_pb2.WatchRequest(kind="Pod", resource_version=str(rev)), timeout=10)
    try:
        new = create(second.stub, pod("new"))
        assert int(new.metadata.resource_version) == rev + 1
        event = next(watch)
        assert (event.type, event.object.pod.metadata.name) == ("ADDED", "new")
        assert event.object.pod.metadata.resource_version == str(rev + 1)
    finally:
        watch.cancel()


def test_stop_frees_the_port(server_factory, tmp_path) -> None:
    s = server_factory(data_dir=tmp_path / "stop")
    host, port = s.address.rsplit(":", 1)
    s.stop()
    assert not s.thread.is_alive()
    with socket.socket() as sock:
        sock.settimeout(2)
        assert sock.connect_ex((host, int(port))) != 0


# --------------------------------------------------------------------- health


def test_health_check_serving(server) -> None:
    health = health_pb2_grpc.HealthStub(server.channel)
    for service in ("", "pykube.v1.API"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    err = rpc_error(lambda: health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5))
    assert err.code() == grpc.StatusCode.NOT_FOUND
