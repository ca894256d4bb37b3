"""DaemonSet and StatefulSet validation through the gRPC API: Kubernetes' messages, defaults stored."""

from __future__ import annotations

import grpc

from apiserver_testlib import create, rpc_error, update
from protos import api_pb2


def _fill(obj, app: str = "db") -> None:
    obj.metadata.name = "db"
    obj.spec.selector.match_labels["app"] = "db"
    obj.spec.template.metadata.labels["app"] = app
    obj.spec.template.spec.containers.add(name="main", image="busybox")


def statefulset(app: str = "db") -> api_pb2.Object:
    wrapped = api_pb2.Object()
    _fill(wrapped.stateful_set, app)
    wrapped.stateful_set.spec.service_name = "db"
    return wrapped


def daemonset(app: str = "db") -> api_pb2.Object:
    wrapped = api_pb2.Object()
    _fill(wrapped.daemon_set, app)
    return wrapped


def test_selector_must_match_template(stub) -> None:
    for obj, kind in ((daemonset("other"), "DaemonSet"), (statefulset("other"), "StatefulSet")):
        err = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=obj)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f'{kind}.apps "db" is invalid' in err.details()
        assert "`selector` does not match template `labels`" in err.details()


def test_defaults_are_stored(stub) -> None:
    ds = create(stub, daemonset())
    assert ds.spec.update_strategy.type == "RollingUpdate"
    assert ds.spec.update_strategy.rolling_update.max_unavailable.int_val == 1
    sts = create(stub, statefulset())
    assert (sts.spec.replicas, sts.spec.pod_management_policy) == (1, "OrderedReady")


def test_statefulset_spec_is_mostly_fixed(stub) -> None:
    sts = create(stub, statefulset())
    sts.spec.replicas = 4
    sts = update(stub, sts)
    assert sts.spec.replicas == 4
    sts.spec.service_name = "other"
    err = rpc_error(lambda: update(stub, sts))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == (
        'StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than '
        "'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden")
