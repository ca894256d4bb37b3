"""The PV/PVC binding decision (controllers/volume_binding.py)."""

from __future__ import annotations

from typing import Any

from apimachinery.convert import from_dict
from controllers.volume_binding import plan_claim


def pv(name: str, size: str = "5Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), klass: str = "",
       phase: str = "Available", labels: dict[str, str] | None = None, **spec: Any) -> Any:
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolume",
                      "metadata": {"name": name, "labels": labels or {}},
                      "spec": {"capacity": {"storage": size}, "accessModes": list(modes),
                               "storageClassName": klass, "hostPath": {"path": "/d"}, **spec},
                      "status": {"phase": phase}})


def pvc(size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec: Any) -> Any:
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": "data", "namespace": "default"},
                      "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec}})


def sc(name: str, mode: str = "Immediate", default: bool = False) -> Any:
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return from_dict({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
                      "provisioner": "p", "volumeBindingMode": mode})


def test_smallest_fitting_available_volume() -> None:
    volumes = [pv("big", "10Gi"), pv("small", "2Gi"), pv("tiny", "500Mi"), pv("rox", "1Gi", ("ReadOnlyMany",)),
               pv("taken", "1Gi", phase="Bound")]
    assert plan_claim(pvc(), volumes, []).volume == "small"


def test_class_must_match_and_default_class_applies() -> None:
    volumes = [pv("plain", "1Gi"), pv("fast", "8Gi", klass="fast")]
    assert plan_claim(pvc(storageClassName="fast"), volumes, [sc("fast")]).volume == "fast"
    assert plan_claim(pvc(storageClassName=""), volumes, [sc("fast", default=True)]).volume == "plain"
    assert plan_claim(pvc(), volumes, [sc("fast", default=True)]).volume == "fast"


def test_unknown_class_stays_pending_with_kubernetes_event() -> None:
    plan = plan_claim(pvc(storageClassName="x"), [pv("plain")], [])
    assert plan.volume == ""
    assert plan.event is not None
    assert (plan.event.type, plan.event.reason) == ("Warning", "ProvisioningFailed")
    assert plan.event.message == 'storageclass.storage.k8s.io "x" not found'


def test_no_class_no_volume_and_wait_for_first_consumer() -> None:
    plan = plan_claim(pvc(size="100Gi"), [pv("plain")], [])
    assert plan.event is not None and plan.event.message == \
        "no persistent volumes available for this claim and no storage class is set"
    plan = plan_claim(pvc(storageClassName="local"), [], [sc("local", "WaitForFirstConsumer")])
    assert plan.event is not None and plan.event.reason == "WaitForFirstConsumer"


def test_prebound_volume_name_and_selector() -> None:
    prebound = pv("mine", "1Gi", phase="Available", claimRef={"namespace": "default", "name": "data"})
    assert plan_claim(pvc(), [pv("a", "1Gi"), prebound], []).volume == "mine"
    assert plan_claim(pvc(volumeName="b"), [pv("a"), pv("b", "9Gi")], []).volume == "b"
    selected = pvc(selector={"matchLabels": {"tier": "db"}})
    assert plan_claim(selected, [pv("a", "1Gi"), pv("b", "9Gi", labels={"tier": "db"})], []).volume == "b"


def test_wait_for_first_consumer_binds_static_volumes_only_on_the_selected_node() -> None:
    classes = [sc("local", "WaitForFirstConsumer")]

    def on(node: str) -> dict[str, Any]:
        return {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
    volumes = [pv("on-n1", "1Gi", klass="local", nodeAffinity=on("n1")),
               pv("on-n2", "2Gi", klass="local", nodeAffinity=on("n2"))]
    claim = pvc(storageClassName="local")
    plan = plan_claim(claim, volumes, classes)
    assert plan.volume == "" and plan.event.reason == "WaitForFirstConsumer"  # delayed binding
    claim.metadata.annotations["volume.kubernetes.io/selected-node"] = "n2"
    assert plan_claim(claim, volumes, classes).volume == "on-n2"
    claim.metadata.annotations["volume.kubernetes.io/selected-node"] = "n3"
    assert plan_claim(claim, volumes, classes).event.reason == "ExternalProvisioning"
