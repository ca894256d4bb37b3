"""Apply through the gRPC API: created / unchanged / configured, the last-applied
annotation, three-way merge that keeps defaults and status, and all-or-nothing
multi-object applies."""

from __future__ import annotations

import json

import grpc

from apiserver_testlib import (create, deployment, get, list_names, namespace, obj_of, pod, revision,
                               rpc_error, snapshot, update, update_status)
from protos import api_pb2

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KINDS = ("Pod", "Deployment", "Namespace")


def apply(stub, *objects: api_pb2.Object, dry_run: bool = False) -> list[tuple[object, str]]:
    response = stub.Apply(api_pb2.ApplyRequest(objects=list(objects), dry_run=dry_run))
    return [(obj_of(r.object), r.action) for r in response.results]


def test_apply_creates_and_records_last_applied(stub) -> None:
    [(created, action)] = apply(stub, pod("web", labels={"app": "web", "tier": "fe"}))
    assert action == "created"
    assert created.metadata.resource_version == str(revision(stub))
    assert created.spec.restart_policy == "Always"  # defaulted like Create
    assert created.status.phase == "Pending"
    last = json.loads(created.metadata.annotations[LAST_APPLIED])
    assert last["apiVersion"] == "v1" and last["kind"] == "Pod"
    assert last["metadata"]["name"] == "web"
    assert last["metadata"]["labels"] == {"app": "web", "tier": "fe"}
    assert last["spec"]["containers"] == [{"name": "main", "image": "nginx:1.27"}]
    assert "status" not in last
    assert "restartPolicy" not in last["spec"]  # the manifest, not the defaulted object
    assert get(stub, "Pod", "web") == created


def test_reapply_identical_is_unchanged(stub) -> None:
    [(created, _)] = apply(stub, pod("web", labels={"app": "web"}), deployment("api"))[:1]
    before = revision(stub)
    results = apply(stub, pod("web", labels={"app": "web"}), deployment("api"))
    assert [action for _, action in results] == ["unchanged", "unchanged"]
    assert results[0][0] == created
    assert revision(stub) == before


def test_reapply_with_a_label_removed_is_configured_and_keeps_defaults_and_status(stub) -> None:
    [(created, _)] = apply(stub, pod("web", labels={"app": "web", "tier": "fe"}))
    created.status.phase = "Running"
    created.status.pod_ip = "10.0.0.9"
    running = update_status(stub, created)

    [(configured, action)] = apply(stub, pod("web", labels={"app": "web"}))
    assert action == "configured"
    assert configured.metadata.labels == {"app": "web"}
    assert int(configured.metadata.resource_version) > int(running.metadata.resource_version)
    assert configured.metadata.uid == created.metadata.uid
    assert configured.metadata.generation == 1  # labels are not spec
    # Defaulted fields and status are untouched by the merge.
    assert configured.spec == running.spec
    assert configured.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert configured.spec.termination_grace_period_seconds == 30
    assert configured.status == running.status
    assert json.loads(configured.metadata.annotations[LAST_APPLIED])["metadata"]["labels"] == {"app": "web"}
    assert get(stub, "Pod", "web") == configured


def test_apply_keeps_labels_set_by_others(stub) -> None:
    apply(stub, pod("web", labels={"app": "web"}))
    live = get(stub, "Pod", "web")
    live.metadata.labels["owner"] = "someone-else"
    update(stub, live)
    [(configured, action)] = apply(stub, pod("web", labels={"app": "web", "v": "2"}))
    assert action == "configured"
    # Not in any manifest, so apply leaves it alone.
    assert configured.metadata.labels == {"app": "web", "owner": "someone-else", "v": "2"}


def test_reapply_changing_spec_bumps_generation(stub) -> None:
    apply(stub, deployment("api", replicas=1))
    [(configured, action)] = apply(stub, deployment("api", replicas=3))
    assert action == "configured"
    assert configured.spec.replicas == 3
    assert configured.metadata.generation == 2
    assert configured.spec.strategy.rolling_update.max_surge.str_val == "25%"
    # Removing replicas from the manifest brings back the default.
    [(reset, action)] = apply(stub, deployment("api"))
    assert action == "configured"
    assert reset.spec.replicas == 1


def test_reapply_switching_strategy_type_drops_the_other_strategy(stub) -> None:
    apply(stub, deployment("api"))  # strategy defaulted: RollingUpdate 25%/25%
    recreate = deployment("api")
    recreate.deployment.spec.strategy.type = "Recreate"
    [(configured, action)] = apply(stub, recreate)
    assert action == "configured"
    assert configured.spec.strategy.type == "Recreate"
    assert not configured.spec.strategy.HasField("rolling_update")

    back = deployment("api")
    back.deployment.spec.strategy.type = "RollingUpdate"
    back.deployment.spec.strategy.rolling_update.max_surge.int_val = 1
    [(rolling, action)] = apply(stub, back)
    assert action == "configured"
    assert rolling.spec.strategy.type == "RollingUpdate"
    assert rolling.spec.strategy.rolling_update.max_surge.int_val == 1
    assert rolling.spec.strategy.rolling_update.max_unavailable.str_val == "25%"  # defaulted again


def test_multi_object_apply_with_invalid_last_object_writes_nothing(stub) -> None:
    create(stub, pod("existing", labels={"v": "1"}))
    before = snapshot(stub, *KINDS)
    bad = pod("bad", image="")
    err = rpc_error(lambda: apply(stub, namespace("team-x"), pod("existing", labels={"v": "2"}),
                                  deployment("api"), bad))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'Pod "bad" is invalid' in err.details()
    assert "spec.containers[0].image: Required value" in err.details()
    assert snapshot(stub, *KINDS) == before
    assert get(stub, "Pod", "existing").metadata.labels == {"v": "1"}
    assert "team-x" not in list_names(stub, "Namespace")


def test_multi_object_apply_with_missing_namespace_writes_nothing(stub) -> None:
    before = snapshot(stub, *KINDS)
    err = rpc_error(lambda: apply(stub, pod("a"), pod("b", namespace="nope")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'namespaces "nope" not found'
    assert snapshot(stub, *KINDS) == before


def test_namespace_and_deployment_in_it_in_one_apply(stub) -> None:
    before = revision(stub)
    results = apply(stub, namespace("team-a"), deployment("api", namespace="team-a"))
    assert [action for _, action in results] == ["created", "created"]
    ns, d = results[0][0], results[1][0]
    assert ns.metadata.name == "team-a" and ns.status.phase == "Active"
    assert d.metadata.namespace == "team-a"
    # One commit: consecutive revisions.
    assert [int(ns.metadata.resource_version), int(d.metadata.resource_version)] == [before + 1, before + 2]
    assert get(stub, "Deployment", "api", "team-a") == d
    assert list_names(stub, "Deployment", "team-a") == ["api"]

    again = apply(stub, namespace("team-a"), deployment("api", namespace="team-a"))
    assert [action for _, action in again] == ["unchanged", "unchanged"]


def test_namespace_is_written_before_what_lives_in_it_whatever_the_order(stub) -> None:
    before = revision(stub)
    results = apply(stub, deployment("api", namespace="team-b"), namespace("team-b"))
    d, ns = results[0][0], results[1][0]
    assert [action for _, action in results] == ["created", "created"]  # answers keep the request's order
    assert [int(ns.metadata.resource_version), int(d.metadata.resource_version)] == [before + 1, before + 2]


def test_dry_run_apply_writes_nothing(stub) -> None:
    before = snapshot(stub, *KINDS)
    [(result, action)] = apply(stub, pod("web"), dry_run=True)
    assert action == "created"
    assert result.metadata.name == "web"
    assert snapshot(stub, *KINDS) == before


def test_apply_requires_a_name_and_no_duplicates(stub) -> None:
    before = snapshot(stub, *KINDS)
    err = rpc_error(lambda: apply(stub, pod("")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata.name: Required value" in err.details()
    err = rpc_error(lambda: apply(stub, pod("twice"), pod("twice")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "appears twice" in err.details()
    assert snapshot(stub, *KINDS) == before


def test_apply_with_stale_resource_version_is_conflict(stub) -> None:
    [(created, _)] = apply(stub, pod("web"))
    stale = pod("web", labels={"x": "1"})
    stale.pod.metadata.resource_version = str(int(created.metadata.resource_version) - 1)
    err = rpc_error(lambda: apply(stub, stale))
    assert err.code() == grpc.StatusCode.ABORTED
    assert "the object has been modified" in err.details()


def test_apply_merges_lists_as_kubectl_does(stub) -> None:
    """Containers merge by name (a sidecar someone else added stays, as with kubectl's
    client-side apply); tolerations are atomic (the manifest's list replaces the live one)."""
    apply(stub, deployment("api"))
    live = get(stub, "Deployment", "api")
    live.spec.template.spec.containers.add(name="sidecar", image="busybox:1.36")
    live.spec.template.spec.tolerations.add(key="someone-else", operator="Exists")
    update(stub, live)

    manifest = deployment("api")
    manifest.deployment.spec.template.spec.containers[0].image = "nginx:1.28"
    manifest.deployment.spec.template.spec.tolerations.add(key="mine", operator="Exists")
    [(configured, action)] = apply(stub, manifest)
    assert action == "configured"
    containers = configured.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("main", "nginx:1.28"), ("sidecar", "busybox:1.36")]
    assert [t.key for t in configured.spec.template.spec.tolerations] == ["mine"]
