"""Registry.server_side_apply (KEP-555) and the Update entries every tracked write records:
apply creates, re-applies, prunes what a manager stops applying, shares fields applied with
the same value, refuses to take another manager's field (Kubernetes' 409 message) unless
forced, follows a client-side apply without conflict, and a dry run writes nothing."""

from __future__ import annotations

import copy
import datetime
from typing import Any, Iterator

import pytest

from apimachinery.convert import from_dict, to_dict
from apiserver import errors
from apiserver.registry.core import copy_message
from apiserver.registry.managed_fields import MANAGER, Managed, ManagerKey
from apiserver.registry.registry import Registry
from apiserver.rest.status import error_status
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
WEB = 'k:{"name":"web"}'
IMAGE = ("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image")
REPLICAS = ("f:spec", "f:replicas")


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> Registry:
    return Registry(MemoryStore(), WatchCache(), clock=clock)


def deployment(replicas: int | None = 2, image: str = "nginx:1.27", labels: dict | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels if labels is not None else {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}},
    }
    if replicas is not None:
        manifest["spec"]["replicas"] = replicas
    return manifest


def ssa(registry: Registry, manifest: dict[str, Any], manager: str = "kubectl", force: bool = False,
        dry_run: bool = False, kind: str = "Deployment", name: str = "web") -> tuple[Any, bool]:
    return registry.server_side_apply(kind, "default", name, manifest, manager, force, dry_run)


def owners(obj: Any) -> dict[tuple[str, str], frozenset]:
    return {(key.manager, key.operation): fields for key, fields in Managed.of(obj.metadata).sets.items()}


@pytest.fixture
def as_manager() -> Iterator[Any]:
    tokens = []

    def set_manager(name: str) -> None:
        tokens.append(MANAGER.set(name))
    yield set_manager
    for token in reversed(tokens):
        MANAGER.reset(token)


# ----------------------------------------------------------------------- apply


def test_apply_creates_the_object_with_one_apply_entry(registry: Registry) -> None:
    obj, created = ssa(registry, deployment())
    assert created
    assert registry.get("Deployment", "default", "web") == obj
    assert obj.spec.replicas == 2 and obj.spec.strategy.type == "RollingUpdate"  # defaulted as any create
    [entry] = to_dict(obj)["metadata"]["managedFields"]
    assert entry == {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
                     "time": "2024-05-01T12:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": entry["fieldsV1"]}
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert "f:strategy" not in entry["fieldsV1"]["f:spec"]  # defaults are nobody's


def test_reapplying_the_same_configuration_changes_nothing(registry: Registry, clock: Clock) -> None:
    first, _ = ssa(registry, deployment())
    clock.now += 60
    again, created = ssa(registry, deployment())
    assert not created
    assert again == first  # same resourceVersion, same managedFields time


def test_a_field_no_longer_applied_is_removed(registry: Registry) -> None:
    ssa(registry, deployment(replicas=3, labels={"app": "web", "tier": "fe"}))
    obj, _ = ssa(registry, deployment(replicas=None, labels={"app": "web"}))
    assert dict(obj.metadata.labels) == {"app": "web"}
    assert obj.spec.replicas == 1  # pruned, then defaulted again as Kubernetes does
    assert REPLICAS not in owners(obj)[("kubectl", "Apply")]


def test_a_container_no_longer_applied_is_removed(registry: Registry) -> None:
    manifest = deployment()
    manifest["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    ssa(registry, manifest)
    obj, _ = ssa(registry, deployment())
    assert [c.name for c in obj.spec.template.spec.containers] == ["web"]


def test_two_managers_applying_the_same_value_share_the_field(registry: Registry) -> None:
    ssa(registry, deployment(replicas=2), manager="alice")
    obj, _ = ssa(registry, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                            "spec": {"replicas": 2}}, manager="bob")
    assert REPLICAS in owners(obj)[("alice", "Apply")] and REPLICAS in owners(obj)[("bob", "Apply")]
    # alice stops applying replicas: bob still owns it, so it stays
    obj, _ = ssa(registry, deployment(replicas=None), manager="alice")
    assert obj.spec.replicas == 2


def test_changing_another_managers_field_is_a_conflict_and_writes_nothing(registry: Registry) -> None:
    before, _ = ssa(registry, deployment(replicas=2), manager="alice")
    with pytest.raises(errors.Conflict) as err:
        ssa(registry, deployment(replicas=3), manager="bob")
    assert err.value.message == 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas'
    assert [(c.path, c.detail) for c in err.value.causes] == [(".spec.replicas", 'conflict with "alice"')]
    assert registry.get("Deployment", "default", "web") == before


def test_a_conflict_is_a_409_status_with_a_cause_per_field(registry: Registry) -> None:
    ssa(registry, deployment(replicas=2), manager="alice")
    with pytest.raises(errors.Conflict) as err:
        ssa(registry, deployment(replicas=3, image="nginx:1.28"), manager="bob")
    status = error_status(err.value, name="web", group="apps", resource="deployments")
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"].startswith('Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n')
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".spec.replicas"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"',
         "field": '.spec.template.spec.containers[name="web"].image'},
    ]


def test_force_takes_the_field_over(registry: Registry) -> None:
    ssa(registry, deployment(replicas=2), manager="alice")
    obj, _ = ssa(registry, deployment(replicas=3), manager="bob", force=True)
    assert obj.spec.replicas == 3
    assert REPLICAS not in owners(obj)[("alice", "Apply")]
    assert REPLICAS in owners(obj)[("bob", "Apply")]


def test_client_side_apply_then_server_side_apply_of_the_same_manifest(registry: Registry) -> None:
    registry.apply([from_dict({**deployment(), "metadata": {"name": "web", "namespace": "default",
                                                            "labels": {"app": "web"}}})],
                   field_manager="kubectl-client-side-apply")
    obj, created = ssa(registry, deployment())
    assert not created
    managers = owners(obj)
    assert REPLICAS in managers[("kubectl-client-side-apply", "Update")]  # equal values: both own them
    assert REPLICAS in managers[("kubectl", "Apply")]
    with pytest.raises(errors.Conflict) as err:
        ssa(registry, deployment(replicas=5, image="nginx:1.28"))
    assert err.value.message == ('Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" '
                                 'using apps/v1:\n- .spec.replicas\n'
                                 '- .spec.template.spec.containers[name="web"].image')


def test_dry_run_writes_nothing(registry: Registry) -> None:
    revision = registry.cache.revision
    obj, created = ssa(registry, deployment(), dry_run=True)
    assert created and obj.spec.replicas == 2 and obj.metadata.managed_fields
    assert registry.cache.revision == revision
    with pytest.raises(errors.NotFound):
        registry.get("Deployment", "default", "web")
    stored, _ = ssa(registry, deployment())
    changed, _ = ssa(registry, deployment(replicas=9), dry_run=True)
    assert changed.spec.replicas == 9
    assert registry.get("Deployment", "default", "web") == stored


def test_apply_never_touches_status(registry: Registry) -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}, "status": {"phase": "Running"}}
    obj, _ = ssa(registry, manifest, kind="Pod", name="p")
    assert obj.status.phase == "Pending"
    running = copy_message(obj)
    running.status.phase = "Running"
    registry.update_status(running)
    manifest["metadata"]["labels"] = {"a": "b"}
    manifest["status"] = {"phase": "Failed"}
    obj, _ = ssa(registry, manifest, kind="Pod", name="p")
    assert obj.status.phase == "Running" and obj.metadata.labels["a"] == "b"


def test_a_resource_version_in_the_configuration_is_a_precondition(registry: Registry) -> None:
    ssa(registry, deployment())
    stale = deployment(replicas=4)
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(errors.Conflict, match="the object has been modified"):
        ssa(registry, stale)


@pytest.mark.parametrize("edit, error, text", [
    (lambda m: m.update(kind="ReplicaSet"), errors.BadRequest, "invalid object type"),
    (lambda m: m["metadata"].update(name="other"), errors.BadRequest, "does not match the name on the URL"),
    (lambda m: m["metadata"].update(namespace="kube-system"), errors.BadRequest, "namespace of the provided object"),
    (lambda m: m["spec"].update(replica=2), errors.BadRequest, 'unknown field "replica"'),
    (lambda m: m["metadata"].update(managedFields=[]), errors.BadRequest, "metadata.managedFields must be nil"),
    (lambda m: m["spec"].update(replicas=-1), errors.Invalid, "spec.replicas"),
])
def test_bad_configurations_are_refused_and_nothing_is_written(registry: Registry, edit: Any, error: type,
                                                               text: str) -> None:
    manifest = copy.deepcopy(deployment())
    edit(manifest)
    revision = registry.cache.revision
    with pytest.raises(error, match=text):
        ssa(registry, manifest)
    assert registry.cache.revision == revision


def test_a_manager_is_required(registry: Registry) -> None:
    with pytest.raises(errors.Invalid, match="fieldManager: Required value"):
        ssa(registry, deployment(), manager="")


# -------------------------------------------------------------- update entries


def test_an_update_takes_the_fields_it_changed(registry: Registry, as_manager: Any, clock: Clock) -> None:
    ssa(registry, deployment(replicas=2))
    as_manager("kube-controller-manager")
    clock.now += 60
    scaled = copy_message(registry.get("Deployment", "default", "web"))
    scaled.spec.replicas = 5
    scaled = registry.update(scaled)
    managers = owners(scaled)
    assert managers[("kube-controller-manager", "Update")] == {REPLICAS}
    assert REPLICAS not in managers[("kubectl", "Apply")]
    entry = next(e for e in scaled.metadata.managed_fields if e.operation == "Update")
    assert (entry.api_version, entry.time.seconds) == ("apps/v1", int(clock.now))
    again = copy_message(scaled)
    again.spec.replicas = 6
    again.metadata.labels["x"] = "y"
    again = registry.update(again)
    assert [(e.manager, e.operation) for e in again.metadata.managed_fields] == \
        [("kubectl", "Apply"), ("kube-controller-manager", "Update")]  # one entry per manager
    assert owners(again)[("kube-controller-manager", "Update")] == {REPLICAS, ("f:metadata", "f:labels", "f:x")}


def test_the_applier_conflicts_with_an_updater_and_force_takes_it_back(registry: Registry, as_manager: Any) -> None:
    ssa(registry, deployment(replicas=2))
    as_manager("kube-controller-manager")
    scaled = copy_message(registry.get("Deployment", "default", "web"))
    scaled.spec.replicas = 5
    registry.update(scaled)
    with pytest.raises(errors.Conflict, match='conflict with "kube-controller-manager" using apps/v1: .spec.replicas'):
        ssa(registry, deployment(replicas=2))
    obj, _ = ssa(registry, deployment(replicas=2), force=True)
    assert obj.spec.replicas == 2 and ("kube-controller-manager", "Update") not in owners(obj)


def test_a_create_with_a_manager_owns_what_it_set_including_defaults(registry: Registry, as_manager: Any) -> None:
    as_manager("kubectl-create")
    obj = registry.create(from_dict({**deployment(), "metadata": {"name": "web", "namespace": "default"}}))
    fields = owners(obj)[("kubectl-create", "Update")]
    assert REPLICAS in fields and ("f:spec", "f:strategy", "f:type") in fields


def test_writes_without_a_manager_keep_the_entries(registry: Registry) -> None:
    applied, _ = ssa(registry, deployment())
    bare = copy_message(applied)
    bare.metadata.ClearField("managed_fields")
    bare.metadata.labels["x"] = "y"
    updated = registry.update(bare)  # a gRPC client: no field manager, no managedFields sent
    assert list(updated.metadata.managed_fields) == list(applied.metadata.managed_fields)


def test_the_grpc_apply_records_its_field_manager_as_an_update(registry: Registry) -> None:
    [(obj, action)] = registry.apply([from_dict({**deployment(), "metadata": {"name": "web", "namespace": "default"}})],
                                     field_manager="kubectl")
    assert action == "created"
    assert REPLICAS in owners(obj)[("kubectl", "Update")]
    assert Managed.of(obj.metadata).sets.keys() == {ManagerKey("kubectl", "Update", "apps/v1")}
