"""The PV controller's pure decisions (controllers/persistentvolume.py) and the local-path
provisioner's (controllers/local_path.py)."""

from __future__ import annotations

from typing import Any

from test_volume_binding_decisions import pv, pvc, sc

from apimachinery.convert import from_dict
from controllers.local_path import (
    LocalPathConfig,
    local_path_class,
    helper_pod,
    plan_delete,
    plan_provision,
    volume_node,
)
from controllers.persistentvolume import PROVISIONED_BY, plan_claim_sync, plan_volume_sync
from controllers.volume_binding import SELECTED_NODE, plan_claim


def claim(**kw: Any) -> Any:
    c = pvc(**kw)
    c.metadata.uid = "u1"
    c.status.phase = "Pending"
    return c


def test_pending_claim_binds_to_the_chosen_volume_else_keeps_the_plan_event() -> None:
    assert plan_claim_sync(claim(), [pv("a", "2Gi")], []).bind_to == "a"
    sync = plan_claim_sync(claim(storageClassName="gold"), [], [])
    assert sync.bind_to == "" and sync.event.reason == "ProvisioningFailed"
    assert sync.event.message == 'storageclass.storage.k8s.io "gold" not found'


def test_claim_with_volume_name_finishes_binding_and_turns_lost_when_the_volume_goes() -> None:
    c = claim(volumeName="a")
    volume = pv("a", "2Gi", claimRef={"name": "data", "namespace": "default", "uid": "u1"}, phase="Bound")
    assert plan_claim_sync(c, [volume], []).bind_to == "a"
    c.status.phase = "Bound"
    assert plan_claim_sync(c, [volume], []).bind_to == ""
    lost = plan_claim_sync(c, [], [])
    assert lost.phase == "Lost" and lost.event.reason == "ClaimLost"
    other = pv("a", claimRef={"name": "x", "namespace": "default", "uid": "u9"})
    c.status.phase = "Pending"
    assert plan_claim_sync(c, [other], []).event.reason == "FailedBinding"


def test_wait_for_first_consumer_until_a_node_is_selected_then_external_provisioning() -> None:
    classes = [sc("local-path", "WaitForFirstConsumer", default=True)]
    c = claim()
    assert plan_claim(c, [], classes).event.reason == "WaitForFirstConsumer"
    c.metadata.annotations[SELECTED_NODE] = "n1"
    assert plan_claim(c, [], classes).event.reason == "ExternalProvisioning"


def test_volume_phases() -> None:
    free = pv("a", phase="Pending")
    assert plan_volume_sync(free, None).phase == "Available"
    bound = pv("a", phase="Available", claimRef={"name": "data", "namespace": "default", "uid": "u1"})
    c = claim(volumeName="a")
    assert plan_volume_sync(bound, c).phase == "Bound"
    assert plan_volume_sync(bound, claim()).phase == ""  # claim not yet pointing at it: its sync binds
    bound.status.phase = "Bound"
    retained = plan_volume_sync(bound, None)
    assert retained.phase == "Released"  # default policy Retain
    bound.status.phase = "Released"
    assert plan_volume_sync(bound, None).phase == ""  # stays Released
    prebound = pv("b", phase="Pending", claimRef={"name": "later", "namespace": "default"})
    assert plan_volume_sync(prebound, None).phase == "Available"


def test_released_delete_volume_without_deleter_fails_but_local_path_ones_wait_for_the_provisioner() -> None:
    gone = pv("a", phase="Bound", claimRef={"name": "data", "namespace": "default", "uid": "u1"},
              persistentVolumeReclaimPolicy="Delete")
    sync = plan_volume_sync(gone, None)
    assert sync.phase == "Failed" and sync.event.reason == "VolumeFailedDelete"
    gone.metadata.annotations[PROVISIONED_BY] = "pykube.io/local-path"
    assert plan_volume_sync(gone, None).phase == "Released"
    replaced = claim()
    replaced.metadata.uid = "u2"  # a new claim of the same name is not the volume's claim
    assert plan_volume_sync(gone, replaced).phase == "Released"


def node(name: str, root: str = "/var/lib/k/storage") -> Any:
    return from_dict({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": name, "annotations": {"pykube.io/local-path-root": root}}})


def test_provision_only_once_a_node_is_selected() -> None:
    classes = [local_path_class()]
    c = claim()
    c.metadata.namespace = "default"
    assert plan_provision(c, classes, {"n1": node("n1")}, set()).volume is None
    c.metadata.annotations[SELECTED_NODE] = "n1"
    plan = plan_provision(c, classes, {"n1": node("n1")}, set())
    volume = plan.volume
    assert volume.metadata.name == "pvc-u1"
    assert volume.spec.host_path.path == "/var/lib/k/storage/pvc-u1_default_data"
    assert volume.spec.host_path.type == "DirectoryOrCreate"
    assert volume_node(volume) == "n1"
    assert volume.spec.capacity["storage"] == "1Gi"
    assert (volume.spec.claim_ref.name, volume.spec.claim_ref.uid) == ("data", "u1")
    assert volume.spec.persistent_volume_reclaim_policy == "Delete"
    assert volume.spec.storage_class_name == "local-path"
    assert volume.metadata.annotations[PROVISIONED_BY] == "pykube.io/local-path"
    assert plan_provision(c, classes, {"n1": node("n1")}, {"pvc-u1"}).volume is None  # made already
    failed = plan_provision(c, classes, {}, set())
    assert failed.volume is None and failed.event.reason == "ProvisioningFailed"
    assert 'node "n1" not found' in failed.event.message
    other = claim(storageClassName="gold")
    other.metadata.annotations[SELECTED_NODE] = "n1"
    assert plan_provision(other, classes + [sc("gold")], {"n1": node("n1")}, set()) == plan_provision(
        claim(), [], {}, set())  # not ours: nothing


def test_delete_through_a_helper_pod_then_the_volume() -> None:
    c = claim()
    c.metadata.annotations[SELECTED_NODE] = "n1"
    volume = plan_provision(c, [local_path_class()], {"n1": node("n1")}, set()).volume
    volume.status.phase = "Bound"
    assert plan_delete(volume, None, True).create_helper is False
    volume.status.phase = "Released"
    assert plan_delete(volume, None, False).create_helper is False  # node gone: stays Released
    assert plan_delete(volume, None, True).create_helper is True
    helper = helper_pod(volume, LocalPathConfig())
    assert helper.spec.node_name == "n1" and helper.spec.restart_policy == "Never"
    assert helper.spec.volumes[0].host_path.path == "/var/lib/k/storage"
    assert list(helper.spec.containers[0].command) == ["rm", "-rf", "/data/pvc-u1_default_data"]
    assert helper.spec.containers[0].image == "docker.io/library/busybox:1.36"
    assert plan_delete(volume, helper, True) == plan_delete(volume, None, False)  # running: wait
    helper.status.phase = "Succeeded"
    done = plan_delete(volume, helper, True)
    assert done.delete_helper and done.delete_volume
    helper.status.phase = "Failed"
    failed = plan_delete(volume, helper, True)
    assert failed.delete_helper and not failed.delete_volume and failed.event.reason == "VolumeFailedDelete"
    volume.spec.persistent_volume_reclaim_policy = "Retain"
    assert not plan_delete(volume, None, True).create_helper


def test_in_use_protection_decisions() -> None:
    from controllers.storage_protection import claim_in_use, volume_in_use
    from test_controllers_manager_support import make_pod
    c = claim()
    user = make_pod("u", phase="Running")
    user.spec.volumes.add(name="d").persistent_volume_claim.claim_name = "data"
    assert claim_in_use(c, [user])
    user.status.phase = "Succeeded"
    assert not claim_in_use(c, [user])
    other = make_pod("o", phase="Running", namespace="elsewhere")
    other.spec.volumes.add(name="d").persistent_volume_claim.claim_name = "data"
    assert not claim_in_use(c, [other])
    assert volume_in_use(pv("a", phase="Bound")) and not volume_in_use(pv("a", phase="Released"))
