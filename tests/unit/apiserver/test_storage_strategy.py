"""PersistentVolumes, PersistentVolumeClaims and StorageClasses through the Registry:
Kubernetes' validation messages, defaults and PVC immutability (apiserver/registry/storage.py)."""

from __future__ import annotations

from typing import Any

import pytest

from apimachinery.convert import from_dict
from apiserver import errors
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), WatchCache())


def pv(**spec: Any) -> Any:
    base = {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
                      "spec": {**base, **spec}})


def pvc(**spec: Any) -> Any:
    base = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": "data", "namespace": "default"}, "spec": {**base, **spec}})


def sc(**fields: Any) -> Any:
    return from_dict({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
                      "provisioner": "pykube.io/host-path", **fields})


def invalid(registry: Registry, obj: Any, update: bool = False) -> str:
    with pytest.raises(errors.Invalid) as err:
        registry.update(obj) if update else registry.create(obj)
    return err.value.message


def test_pv_defaults_and_status(registry: Registry) -> None:
    made = registry.create(pv())
    assert made.spec.persistent_volume_reclaim_policy == "Retain"
    assert made.spec.volume_mode == "Filesystem"
    assert made.status.phase == "Pending"


def test_pv_validation_messages(registry: Registry) -> None:
    msg = invalid(registry, pv(accessModes=[], capacity={}))
    assert "spec.accessModes: Required value" in msg
    assert "spec.capacity: Required value" in msg
    msg = invalid(registry, pv(accessModes=["ReadWriteSometimes"]))
    assert ('spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
            '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"') in msg
    bare = pv()
    bare.spec.ClearField("host_path")
    assert "spec: Required value: must specify a volume type" in invalid(registry, bare)


def test_pvc_validation_messages(registry: Registry) -> None:
    msg = invalid(registry, pvc(accessModes=[], resources={}))
    assert "spec.accessModes: Required value: at least 1 access mode is required" in msg
    assert "spec.resources[storage]: Required value" in msg


def test_pvc_spec_immutable_except_requests_when_bound(registry: Registry) -> None:
    made = registry.create(pvc())
    changed = type(made)()
    changed.CopyFrom(made)
    changed.spec.access_modes[:] = ["ReadWriteMany"]
    assert PVC_FORBIDDEN in invalid(registry, changed, update=True)
    changed.CopyFrom(made)
    changed.spec.resources.requests["storage"] = "2Gi"
    assert PVC_FORBIDDEN in invalid(registry, changed, update=True)  # not bound yet
    changed.CopyFrom(made)
    changed.spec.volume_name = "pv1"  # the binder
    bound = registry.update(changed)
    bound.status.phase = "Bound"
    bound = registry.update_status(bound)
    bound.spec.resources.requests["storage"] = "2Gi"
    assert registry.update(bound).spec.resources.requests["storage"] == "2Gi"


PVC_FORBIDDEN = ("spec: Forbidden: spec is immutable after creation except resources.requests and "
                 "volumeAttributesClassName for bound claims")


def test_storage_class(registry: Registry) -> None:
    made = registry.create(sc())
    assert (made.reclaim_policy, made.volume_binding_mode) == ("Delete", "Immediate")
    assert "provisioner: Required value" in invalid(registry, sc(provisioner="", metadata={"name": "x"}))
    changed = type(made)()
    changed.CopyFrom(made)
    changed.provisioner = "other"
    assert "provisioner: Forbidden: updates to provisioner are forbidden." in invalid(registry, changed, update=True)


def test_default_storage_class_admission(registry: Registry) -> None:
    # No default class: the claim keeps no storageClassName.
    assert not registry.create(pvc()).spec.HasField("storage_class_name")
    registry.create(sc(metadata={"name": "slow"}))
    registry.create(sc(metadata={"name": "local-path",
                                 "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}))
    unset = pvc()
    unset.metadata.name = "b"
    assert registry.create(unset).spec.storage_class_name == "local-path"
    explicit = pvc(storageClassName="")
    explicit.metadata.name = "c"
    created = registry.create(explicit)
    assert created.spec.HasField("storage_class_name") and created.spec.storage_class_name == ""
