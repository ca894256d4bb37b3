"""Validation through the gRPC API: INVALID_ARGUMENT (or the right other code) with
a message naming the problem, and nothing written."""

from __future__ import annotations

import grpc
import pytest

from apiserver_testlib import (create, deployment, get, list_names, pod, revision, rpc_error,
                               snapshot, update)
from protos import api_pb2

KINDS = ("Pod", "Deployment", "Namespace", "Node")
RFC1123_SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"


def rejected_create(stub, obj: api_pb2.Object, code=grpc.StatusCode.INVALID_ARGUMENT) -> str:
    """Create must fail with code and leave the store exactly as it was; returns the message."""
    before = snapshot(stub, *KINDS)
    err = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=obj)))
    assert err.code() == code, err.details()
    assert snapshot(stub, *KINDS) == before
    return err.details()


def rejected_update(stub, obj, code=grpc.StatusCode.INVALID_ARGUMENT) -> str:
    before = snapshot(stub, *KINDS)
    err = rpc_error(lambda: update(stub, obj))
    assert err.code() == code, err.details()
    assert snapshot(stub, *KINDS) == before
    return err.details()


def test_invalid_name(stub) -> None:
    message = rejected_create(stub, pod("Bad_Name"))
    assert message.startswith('Pod "Bad_Name" is invalid: ')
    assert 'metadata.name: Invalid value: "Bad_Name"' in message
    assert RFC1123_SUBDOMAIN in message
    assert "regex used for validation is" in message

    message = rejected_create(stub, deployment("web.", labels={"app": "web"}))
    assert 'Deployment.apps "web." is invalid' in message
    assert RFC1123_SUBDOMAIN in message

    # Namespaces are labels: no dots.
    ns = api_pb2.Object()
    ns.namespace.metadata.name = "a.b"
    message = rejected_create(stub, ns)
    assert "a lowercase RFC 1123 label must consist of" in message

    message = rejected_create(stub, pod("x" * 254))
    assert "must be no more than 253 characters" in message


def test_name_or_generate_name_required(stub) -> None:
    message = rejected_create(stub, pod(""))
    assert "metadata.name: Required value" in message


def test_missing_containers(stub) -> None:
    obj = pod("web")
    del obj.pod.spec.containers[:]
    message = rejected_create(stub, obj)
    assert message == 'Pod "web" is invalid: spec.containers: Required value'


def test_missing_image(stub) -> None:
    message = rejected_create(stub, pod("web", image=""))
    assert "spec.containers[0].image: Required value" in message
    message = rejected_create(stub, pod("web", image="   "))
    assert "spec.containers[0].image: Required value" in message


def test_bad_restart_policy(stub) -> None:
    message = rejected_create(stub, pod("web", restart_policy="Sometimes"))
    assert 'spec.restartPolicy: Unsupported value: "Sometimes"' in message
    assert '"Always", "OnFailure", "Never"' in message


def test_several_errors_are_all_listed(stub) -> None:
    obj = pod("web", image="", restart_policy="Sometimes")
    obj.pod.spec.containers[0].name = "Bad_Container"
    message = rejected_create(stub, obj)
    assert message.startswith('Pod "web" is invalid: [')
    for part in ("spec.containers[0].name", "spec.containers[0].image: Required value", "spec.restartPolicy"):
        assert part in message


def test_invalid_labels(stub) -> None:
    message = rejected_create(stub, pod("web", labels={"app": "not ok!"}))
    assert 'metadata.labels: Invalid value: "not ok!"' in message


def test_deployment_selector_must_match_template(stub) -> None:
    obj = deployment("web")
    obj.deployment.spec.template.metadata.labels["app"] = "other"
    message = rejected_create(stub, obj)
    assert 'Deployment.apps "web" is invalid' in message
    assert "spec.template.metadata.labels" in message
    assert "`selector` does not match template `labels`" in message

    obj = deployment("web")
    obj.deployment.spec.selector.Clear()
    message = rejected_create(stub, obj)
    assert "spec.selector: Required value" in message


def test_negative_replicas(stub) -> None:
    message = rejected_create(stub, deployment("web", replicas=-1))
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in message

    d = create(stub, deployment("web", replicas=2))
    d.spec.replicas = -3
    message = rejected_update(stub, d)
    assert "spec.replicas: Invalid value: -3" in message
    assert get(stub, "Deployment", "web").spec.replicas == 2


def test_deployment_rejects_non_always_restart_policy(stub) -> None:
    obj = deployment("web")
    obj.deployment.spec.template.spec.restart_policy = "Never"
    message = rejected_create(stub, obj)
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Never"' in message


def test_pod_containers_are_immutable(stub) -> None:
    p = create(stub, pod("web"))
    added = type(p)()
    added.CopyFrom(p)
    added.spec.containers.add(name="sidecar", image="busybox:1")
    message = rejected_update(stub, added)
    assert message.startswith('Pod "web" is invalid: spec: Forbidden: pod updates may not change fields')

    renamed = type(p)()
    renamed.CopyFrom(p)
    renamed.spec.containers[0].name = "other"
    assert "Forbidden" in rejected_update(stub, renamed)

    policy = type(p)()
    policy.CopyFrom(p)
    policy.spec.restart_policy = "Never"
    assert "Forbidden" in rejected_update(stub, policy)

    # nodeName is set by Bind only.
    bound = type(p)()
    bound.CopyFrom(p)
    bound.spec.node_name = "n1"
    assert "Forbidden" in rejected_update(stub, bound)

    # The image is the one container field that may change.
    p.spec.containers[0].image = "nginx:1.28"
    assert update(stub, p).spec.containers[0].image == "nginx:1.28"


def test_deployment_selector_is_immutable(stub) -> None:
    d = create(stub, deployment("web"))
    d.spec.selector.match_labels["app"] = "new"
    d.spec.template.metadata.labels["app"] = "new"  # still consistent, just changed
    message = rejected_update(stub, d)
    assert "spec.selector: Invalid value" in message
    assert "field is immutable" in message


def test_uid_change_is_conflict(stub) -> None:
    p = create(stub, pod("web"))
    p.metadata.uid = "00000000-0000-0000-0000-000000000000"
    p.metadata.labels["x"] = "y"
    message = rejected_update(stub, p, code=grpc.StatusCode.ABORTED)
    assert message.startswith('Operation cannot be fulfilled on pods "web": Precondition failed: UID')


def test_oversize_request_is_resource_exhausted_and_server_keeps_serving(stub) -> None:
    before = snapshot(stub, *KINDS)
    huge = pod("huge")
    huge.pod.metadata.annotations["blob"] = "x" * (4 * 1024 * 1024)
    err = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=huge)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert snapshot(stub, *KINDS) == before
    # Still serving, on the same channel.
    assert create(stub, pod("small")).metadata.name == "small"
    assert list_names(stub, "Pod") == ["small"]


def test_object_over_the_store_limit_is_resource_exhausted(stub) -> None:
    # Under the 3 MiB request limit, over the 1.5 MiB object limit.
    big = pod("big")
    container = big.pod.spec.containers[0]
    for i in range(20):
        container.env.add(name=f"V{i}", value="x" * 100_000)
    before = snapshot(stub, *KINDS)
    err = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=big)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 'request entity too large: pods "big"' in err.details()
    assert snapshot(stub, *KINDS) == before


def test_annotations_over_limit_are_invalid(stub) -> None:
    big = pod("big")
    big.pod.metadata.annotations["blob"] = "x" * (300 * 1024)
    message = rejected_create(stub, big)
    assert "metadata.annotations: Too long" in message


@pytest.mark.parametrize("call", [
    lambda s: s.Get(api_pb2.GetRequest(kind="Widget", name="x")),
    lambda s: s.List(api_pb2.ListRequest(kind="Widget")),
    lambda s: s.Delete(api_pb2.DeleteRequest(kind="Widget", name="x")),
    lambda s: s.List(api_pb2.ListRequest(kind="pod")),  # kinds are spelled exactly
], ids=["get", "list", "delete", "lowercase"])
def test_unknown_kind_is_not_found(stub, call) -> None:
    err = rpc_error(lambda: call(stub))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "is served" in err.details()


def test_object_without_kind_is_invalid(stub) -> None:
    message = rejected_create(stub, api_pb2.Object())
    assert "no kind set" in message
    err = rpc_error(lambda: stub.Apply(api_pb2.ApplyRequest(objects=[api_pb2.Object()])))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_failed_update_keeps_the_stored_object(stub) -> None:
    p = create(stub, pod("web", labels={"app": "web"}))
    p.metadata.labels["app"] = "bad value!"
    rejected_update(stub, p)
    assert get(stub, "Pod", "web").metadata.labels == {"app": "web"}
    assert revision(stub) == int(get(stub, "Pod", "web").metadata.resource_version)


def test_update_status_is_validated_like_create(stub) -> None:
    n = api_pb2.Object()
    n.node.metadata.name = "n1"
    n.node.status.capacity["cpu"] = "lots"
    message = rejected_create(stub, n)
    assert 'status.capacity[cpu]: Invalid value: "lots"' in message

    del n.node.status.capacity["cpu"]
    created = create(stub, n)
    created.status.capacity["cpu"] = "lots"
    before = snapshot(stub, *KINDS)
    err = rpc_error(lambda: stub.UpdateStatus(api_pb2.UpdateRequest(object=api_pb2.Object(node=created))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'status.capacity[cpu]: Invalid value: "lots"' in err.details()
    assert snapshot(stub, *KINDS) == before
    created.status.capacity["cpu"] = "4"
    ok = stub.UpdateStatus(api_pb2.UpdateRequest(object=api_pb2.Object(node=created)))
    assert ok.node.status.capacity["cpu"] == "4"


def test_node_pod_cidr_is_set_once(stub) -> None:
    node = api_pb2.Object()
    node.node.metadata.name = "n1"
    created = create(stub, node)
    created.spec.pod_cidr = "10.88.0.0/24"
    created.spec.pod_cidrs.append("10.88.0.0/24")
    assigned = update(stub, created)  # from "" to a range: the node IPAM controller's write
    assert assigned.spec.pod_cidr == "10.88.0.0/24"
    assigned.spec.pod_cidr = "10.88.1.0/24"
    assigned.spec.pod_cidrs[0] = "10.88.1.0/24"
    message = rejected_update(stub, assigned)
    assert 'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid' in message
