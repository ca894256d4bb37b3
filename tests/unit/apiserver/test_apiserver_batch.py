"""Batch through the generated stub: each op is answered exactly as its own call
would be (code, message, object), in order, and one failing op does not stop the
others (a Batch is not a transaction)."""

from __future__ import annotations

import grpc
from apiserver_testlib import (
    create,
    get,
    list_names,
    obj_of,
    pod,
    rpc_error,
    snapshot,
    wrap,
)

from protos import api_pb2

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS.value[0]
ABORTED = grpc.StatusCode.ABORTED.value[0]
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]


def create_op(obj: api_pb2.Object, dry_run: bool = False) -> api_pb2.BatchOp:
    return api_pb2.BatchOp(create=api_pb2.CreateRequest(object=obj, dry_run=dry_run))


def bind_op(name: str, node: str, uid: str = "") -> api_pb2.BatchOp:
    return api_pb2.BatchOp(bind=api_pb2.BindRequest(name=name, node_name=node, uid=uid))


def batch(stub, *ops: api_pb2.BatchOp) -> list[api_pb2.BatchResult]:
    results = list(stub.Batch(api_pb2.BatchRequest(ops=list(ops))).results)
    assert len(results) == len(ops)  # one result per op
    return results


def test_batch_of_creates_answers_each_op_as_its_own_create(server) -> None:
    stub = server.stub
    create(stub, pod("exists"))
    # What single calls answer in the same state, so the batch's failures can be
    # compared with them message for message.
    bad_name = pod("Bad_Name!")
    single_invalid = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=bad_name)))
    single_exists = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=pod("exists"))))
    assert single_invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert single_exists.code() == grpc.StatusCode.ALREADY_EXISTS

    results = batch(stub, create_op(pod("a")), create_op(bad_name), create_op(pod("exists")),
                    create_op(pod("b", labels={"x": "y"})))
    assert [r.code for r in results] == [0, INVALID_ARGUMENT, ALREADY_EXISTS, 0]
    assert results[1].message == single_invalid.details()
    assert results[2].message == single_exists.details()
    assert not results[1].HasField("object") and not results[2].HasField("object")
    # The successes carry what Create returns (defaulted, with uid and revision), in order.
    a, b = obj_of(results[0].object), obj_of(results[3].object)
    assert (a.metadata.name, b.metadata.name) == ("a", "b")
    assert a.metadata.uid and b.metadata.uid
    assert int(b.metadata.resource_version) == int(a.metadata.resource_version) + 1
    assert get(stub, "Pod", "a") == a
    assert get(stub, "Pod", "b") == b
    assert sorted(list_names(stub, "Pod")) == ["a", "b", "exists"]


def test_batch_binds_like_single_binds(stub) -> None:
    for name in ("p1", "p2", "p3"):
        create(stub, pod(name))
    # What a single Bind answers to a second bind of a bound Pod.
    obj_of(stub.Bind(api_pb2.BindRequest(name="p3", node_name="n1")))
    single_again = rpc_error(lambda: stub.Bind(api_pb2.BindRequest(name="p3", node_name="n2")))
    assert single_again.code() == grpc.StatusCode.ABORTED
    single_missing = rpc_error(lambda: stub.Bind(api_pb2.BindRequest(name="nope", node_name="n1")))

    results = batch(stub, bind_op("p1", "n1"), bind_op("p1", "n2"), bind_op("p2", "n2"),
                    bind_op("nope", "n1"), bind_op("p3", "n2"))
    assert [r.code for r in results] == [0, ABORTED, 0, single_missing.code().value[0], ABORTED]
    assert results[3].message == single_missing.details()
    # Same wording as the single call, with this Pod's names in it.
    assert results[4].message == single_again.details()
    assert obj_of(results[0].object).spec.node_name == "n1"
    assert obj_of(results[2].object).spec.node_name == "n2"
    assert get(stub, "Pod", "p1").spec.node_name == "n1"  # the second bind changed nothing
    assert get(stub, "Pod", "p3").spec.node_name == "n1"


def test_batch_bind_with_wrong_uid_fails_like_bind(stub) -> None:
    p = create(stub, pod("p"))
    single = rpc_error(lambda: stub.Bind(api_pb2.BindRequest(name="p", node_name="n1", uid="other")))
    results = batch(stub, bind_op("p", "n1", uid="other"), bind_op("p", "n1", uid=p.metadata.uid))
    assert (results[0].code, results[0].message) == (single.code().value[0], single.details())
    assert results[1].code == 0


def test_batch_update_status_and_delete(stub) -> None:
    p = create(stub, pod("p"))
    gone = create(stub, pod("gone"))
    p.status.phase = "Running"
    p.metadata.labels["ignored"] = "by-update-status"
    stale = api_pb2.Object()
    stale.CopyFrom(wrap(gone))
    stale.pod.metadata.labels["v"] = "2"
    stale.pod.metadata.resource_version = "1"  # compare-and-swap fails

    results = batch(
        stub,
        api_pb2.BatchOp(update_status=api_pb2.UpdateRequest(object=wrap(p))),
        api_pb2.BatchOp(update=api_pb2.UpdateRequest(object=stale)),
        api_pb2.BatchOp(delete=api_pb2.DeleteRequest(kind="Pod", name="gone")),
        api_pb2.BatchOp(delete=api_pb2.DeleteRequest(kind="Pod", name="gone")),
    )
    assert [r.code for r in results] == [0, ABORTED, 0, NOT_FOUND]
    updated = obj_of(results[0].object)
    assert updated.status.phase == "Running"
    assert "ignored" not in updated.metadata.labels  # UpdateStatus changes only status
    assert get(stub, "Pod", "p") == updated
    assert obj_of(results[2].object).metadata.uid == gone.metadata.uid
    single = rpc_error(lambda: stub.Delete(api_pb2.DeleteRequest(kind="Pod", name="gone")))
    assert results[3].message == single.details()
    assert list_names(stub, "Pod") == ["p"]


def test_empty_op_is_invalid_argument_and_others_still_run(stub) -> None:
    results = batch(stub, api_pb2.BatchOp(), create_op(pod("after")))
    assert results[0].code == INVALID_ARGUMENT
    assert results[0].message
    assert results[1].code == 0
    assert list_names(stub, "Pod") == ["after"]
    assert list(stub.Batch(api_pb2.BatchRequest()).results) == []  # no ops, no results


def test_dry_run_create_in_a_batch_writes_nothing(stub) -> None:
    before = snapshot(stub, "Pod")
    results = batch(stub, create_op(pod("dry"), dry_run=True), create_op(pod("Bad_Name!"), dry_run=True))
    assert results[0].code == 0
    assert obj_of(results[0].object).metadata.name == "dry"
    assert results[1].code == INVALID_ARGUMENT  # still validated
    assert snapshot(stub, "Pod") == before
    assert rpc_error(lambda: get(stub, "Pod", "dry")).code() == grpc.StatusCode.NOT_FOUND


PARITY_CASES = {
    "empty create": ("Create", api_pb2.CreateRequest(), "create"),
    "empty update": ("Update", api_pb2.UpdateRequest(), "update"),
    "empty update_status": ("UpdateStatus", api_pb2.UpdateRequest(), "update_status"),
    "unknown kind delete": ("Delete", api_pb2.DeleteRequest(kind="Widget", name="x"), "delete"),
    "negative grace": ("Delete", api_pb2.DeleteRequest(kind="Pod", name="x", grace_period_seconds=-5), "delete"),
    "bad propagation": ("Delete", api_pb2.DeleteRequest(kind="Pod", name="x", propagation_policy="Bogus"), "delete"),
    "bind without name": ("Bind", api_pb2.BindRequest(), "bind"),
}


def test_failing_ops_answer_exactly_as_their_single_calls(stub) -> None:
    """Odd requests too: the batch answers per op, never fails as a whole."""
    ops, singles = [], []
    for method, request, field in PARITY_CASES.values():
        err = rpc_error(lambda m=method, r=request: getattr(stub, m)(r))
        singles.append((err.code().value[0], err.details()))
        ops.append(api_pb2.BatchOp(**{field: request}))
    results = batch(stub, *ops)
    assert [(r.code, r.message) for r in results] == singles
