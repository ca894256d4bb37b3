"""Graceful deletion, delete preconditions and Bind through the gRPC API."""

from __future__ import annotations

import grpc

from apiserver_testlib import (create, deployment, get, list_names, obj_of, pod, revision, rpc_error, update,
                               update_status)
from protos import api_pb2


def delete(stub, name: str, kind: str = "Pod", **kwargs):
    return obj_of(stub.Delete(api_pb2.DeleteRequest(kind=kind, name=name, **kwargs)))


def bind(stub, name: str, node_name: str, **kwargs):
    return obj_of(stub.Bind(api_pb2.BindRequest(name=name, node_name=node_name, **kwargs)))


# ------------------------------------------------------------------------ delete


def test_unbound_pod_is_deleted_at_once(stub) -> None:
    created = create(stub, pod("web"))
    deleted = delete(stub, "web")
    assert deleted.metadata.uid == created.metadata.uid
    assert int(deleted.metadata.resource_version) == revision(stub)
    err = rpc_error(lambda: get(stub, "Pod", "web"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'pods "web" not found'
    assert list_names(stub, "Pod") == []


def test_bound_pod_waits_for_its_kubelet(stub) -> None:
    create(stub, pod("web"))
    bound = bind(stub, "web", "n1")

    marked = delete(stub, "web")
    assert marked.metadata.HasField("deletion_timestamp")
    assert marked.metadata.HasField("deletion_grace_period_seconds")
    assert marked.metadata.deletion_grace_period_seconds == 30
    assert marked.metadata.deletion_timestamp.seconds >= bound.metadata.creation_timestamp.seconds + 30
    assert int(marked.metadata.resource_version) > int(bound.metadata.resource_version)
    stored = get(stub, "Pod", "web")
    assert stored == marked
    assert stored.spec.node_name == "n1"

    # Deleting again without a shorter grace changes nothing.
    before = revision(stub)
    assert delete(stub, "web") == marked
    assert revision(stub) == before

    # Updates keep the deletion mark.
    marked.metadata.labels["still"] = "here"
    relabelled = update(stub, marked)
    assert relabelled.metadata.deletion_timestamp == marked.metadata.deletion_timestamp
    assert relabelled.metadata.deletion_grace_period_seconds == 30

    # The kubelet's confirmation: grace 0 removes it.
    removed = delete(stub, "web", grace_period_seconds=0)
    assert removed.metadata.uid == marked.metadata.uid
    assert int(removed.metadata.resource_version) == revision(stub)
    assert rpc_error(lambda: get(stub, "Pod", "web")).code() == grpc.StatusCode.NOT_FOUND


def test_bound_pod_uses_its_own_grace_period(stub) -> None:
    create(stub, pod("web", termination_grace_period_seconds=5))
    bind(stub, "web", "n1")
    marked = delete(stub, "web")
    assert marked.metadata.deletion_grace_period_seconds == 5
    shorter = delete(stub, "web", grace_period_seconds=2)
    assert shorter.metadata.deletion_grace_period_seconds == 2
    assert get(stub, "Pod", "web").metadata.deletion_grace_period_seconds == 2


def test_finished_bound_pod_is_deleted_at_once(stub) -> None:
    create(stub, pod("job", restart_policy="Never"))
    p = bind(stub, "job", "n1")
    p.status.phase = "Succeeded"
    update_status(stub, p)
    delete(stub, "job")
    assert rpc_error(lambda: get(stub, "Pod", "job")).code() == grpc.StatusCode.NOT_FOUND


def test_terminating_pod_in_a_final_phase_goes_on_the_next_delete(stub) -> None:
    create(stub, pod("web"))
    bind(stub, "web", "n1")
    marked = delete(stub, "web")
    marked.status.phase = "Failed"
    assert update_status(stub, marked).status.phase == "Failed"
    # Nothing runs it any more: a delete without an explicit grace removes it.
    delete(stub, "web")
    assert rpc_error(lambda: get(stub, "Pod", "web")).code() == grpc.StatusCode.NOT_FOUND


def test_delete_preconditions(stub) -> None:
    created = create(stub, pod("web"))
    before = revision(stub)

    err = rpc_error(lambda: delete(stub, "web", preconditions=api_pb2.Preconditions(uid="other-uid")))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "Precondition failed: UID in precondition: other-uid" in err.details()

    stale = str(int(created.metadata.resource_version) - 1)
    err = rpc_error(lambda: delete(stub, "web", preconditions=api_pb2.Preconditions(resource_version=stale)))
    assert err.code() == grpc.StatusCode.ABORTED
    assert f"ResourceVersion in precondition: {stale}" in err.details()

    assert revision(stub) == before
    assert get(stub, "Pod", "web") == created

    delete(stub, "web", preconditions=api_pb2.Preconditions(
        uid=created.metadata.uid, resource_version=created.metadata.resource_version))
    assert rpc_error(lambda: get(stub, "Pod", "web")).code() == grpc.StatusCode.NOT_FOUND


def test_delete_rejects_bad_options(stub) -> None:
    create(stub, pod("web"))
    err = rpc_error(lambda: delete(stub, "web", grace_period_seconds=-1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(lambda: delete(stub, "web", propagation_policy="Sometimes"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "propagationPolicy" in err.details()
    assert get(stub, "Pod", "web").metadata.name == "web"


def test_dry_run_delete_writes_nothing(stub) -> None:
    create(stub, deployment("api"))
    before = revision(stub)
    delete(stub, "api", kind="Deployment", dry_run=True)
    assert revision(stub) == before
    assert get(stub, "Deployment", "api").metadata.name == "api"


def replica_set_owned_by(owner) -> api_pb2.Object:
    obj = api_pb2.Object()
    rs = obj.replica_set
    rs.metadata.name = f"{owner.metadata.name}-rs"
    rs.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name=owner.metadata.name,
                                     uid=owner.metadata.uid, controller=True)
    rs.spec.selector.CopyFrom(owner.spec.selector)
    rs.spec.template.CopyFrom(owner.spec.template)
    return obj


def test_orphan_delete_with_dependents_keeps_object_with_finalizer(stub) -> None:
    owner = create(stub, deployment("api"))
    create(stub, replica_set_owned_by(owner))
    kept = delete(stub, "api", kind="Deployment", propagation_policy="Orphan")
    assert list(kept.metadata.finalizers) == ["orphan"]
    assert kept.metadata.HasField("deletion_timestamp")
    assert get(stub, "Deployment", "api") == kept
    # Whoever handles the finalizer removes it; then the object goes.
    del kept.metadata.finalizers[:]
    update(stub, kept)
    assert rpc_error(lambda: get(stub, "Deployment", "api")).code() == grpc.StatusCode.NOT_FOUND
    assert list_names(stub, "ReplicaSet") == ["api-rs"]


def test_orphan_delete_without_dependents_deletes_at_once(stub) -> None:
    create(stub, deployment("api"))
    delete(stub, "api", kind="Deployment", propagation_policy="Orphan")
    assert rpc_error(lambda: get(stub, "Deployment", "api")).code() == grpc.StatusCode.NOT_FOUND


# -------------------------------------------------------------------------- bind


def test_bind_sets_node_name_and_scheduled_condition(stub) -> None:
    created = create(stub, pod("web"))
    bound = bind(stub, "web", "n1")
    assert bound.spec.node_name == "n1"
    scheduled = [c for c in bound.status.conditions if c.type == "PodScheduled"]
    assert len(scheduled) == 1
    assert scheduled[0].status == "True"
    assert scheduled[0].last_transition_time.seconds > 0
    assert bound.status.phase == "Pending"
    assert int(bound.metadata.resource_version) == int(created.metadata.resource_version) + 1
    assert bound.metadata.uid == created.metadata.uid
    assert get(stub, "Pod", "web") == bound


def test_second_bind_is_conflict(stub) -> None:
    create(stub, pod("web"))
    bound = bind(stub, "web", "n1")
    before = revision(stub)
    for target in ("n2", "n1"):
        err = rpc_error(lambda: bind(stub, "web", target))
        assert err.code() == grpc.StatusCode.ABORTED
        assert 'pod web is already assigned to node "n1"' in err.details()
    assert revision(stub) == before
    assert get(stub, "Pod", "web") == bound


def test_bind_missing_pod_is_not_found(stub) -> None:
    err = rpc_error(lambda: bind(stub, "ghost", "n1"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'pods "ghost" not found'


def test_bind_checks_uid_and_node_name(stub) -> None:
    created = create(stub, pod("web"))
    err = rpc_error(lambda: bind(stub, "web", "n1", uid="not-the-uid"))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "Precondition failed: UID" in err.details()
    err = rpc_error(lambda: bind(stub, "web", ""))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "target.name: Required value" in err.details()
    err = rpc_error(lambda: bind(stub, "web", "Bad_Node"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert get(stub, "Pod", "web") == created
    assert bind(stub, "web", "n1", uid=created.metadata.uid).spec.node_name == "n1"


def test_bind_of_terminating_pod_is_conflict(stub) -> None:
    create(stub, pod("web"))
    p = get(stub, "Pod", "web")
    p.metadata.finalizers.append("example.com/hold")
    update(stub, p)
    marked = delete(stub, "web")
    assert marked.metadata.HasField("deletion_timestamp")
    err = rpc_error(lambda: bind(stub, "web", "n1"))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "being deleted" in err.details()
