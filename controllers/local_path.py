"""The local-path provisioner (as k3s' rancher/local-path-provisioner): a directory on one
node per claim, for the StorageClass ``local-path`` (WaitForFirstConsumer, reclaim Delete).

* Provisioning: a Pending claim of a class whose provisioner is ``pykube.io/local-path``,
  with the annotation ``volume.kubernetes.io/selected-node`` the scheduler sets when it
  places the claim's first Pod, gets a PersistentVolume ``pvc-<claim uid>``: hostPath
  (DirectoryOrCreate) ``<root>/pvc-<uid>_<namespace>_<name>`` where root is the node's
  local storage root (the Node annotation ``pykube.io/local-path-root`` its kubelet sets),
  ``nodeAffinity.required`` kubernetes.io/hostname=<node>, the requested capacity, the
  claim's access modes, claimRef to the claim (uid included), the class's reclaim policy
  and the annotation ``pv.kubernetes.io/provisioned-by``. The PV controller then binds.
* Deleting (reclaim Delete of a Released volume it made): a helper Pod on the volume's node
  (namespace kube-system, the root as a hostPath volume at /data) runs ``rm -rf`` on the
  directory; once it Succeeded the helper Pod and then the PersistentVolume are deleted.
  A failed helper is deleted and tried again (Warning VolumeFailedDelete). A volume whose
  node is gone stays Released (nothing can reach its directory).
* The class ``local-path`` (default class) is created at start when absent, so every
  cluster the controller-manager runs in has it (``pykube up`` included).

Pure decisions (``plan_provision``, ``plan_delete``) and builders (``volume_for``,
``helper_pod``, ``local_path_class``), then the thin ``LocalPathProvisioner`` executor."""

from __future__ import annotations

import os
from dataclasses import dataclass

import structlog
from google.protobuf.message import Message

from apimachinery.storage_classes import DEFAULT_CLASS_ANNOTATION, claim_class
from client.api import AsyncAPI, describe, is_already_exists, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.persistentvolume import LOCAL_PATH_PROVISIONER, PROVISIONED_BY
from controllers.volume_binding import SELECTED_NODE, Event
from protos import core_pb2, meta_pb2, storage_pb2

log = structlog.get_logger("local-path-provisioner")

CLASS_NAME = "local-path"
ROOT_ANNOTATION = "pykube.io/local-path-root"  # on a Node: its local storage root (set by its kubelet)
HOSTNAME_LABEL = "kubernetes.io/hostname"
HELPER_NAMESPACE = "kube-system"
HELPER_LABEL = "pykube.io/local-path-helper"
HELPER_MOUNT = "/data"


@dataclass
class LocalPathConfig:
    helper_image: str = "docker.io/library/busybox:1.36"  # --local-path-helper-image
    helper_namespace: str = HELPER_NAMESPACE


def local_path_class() -> storage_pb2.StorageClass:
    return storage_pb2.StorageClass(
        metadata=meta_pb2.ObjectMeta(name=CLASS_NAME, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
        provisioner=LOCAL_PATH_PROVISIONER, reclaim_policy="Delete", volume_binding_mode="WaitForFirstConsumer")


def volume_name(claim: core_pb2.PersistentVolumeClaim) -> str:
    return f"pvc-{claim.metadata.uid}"


def volume_for(claim: core_pb2.PersistentVolumeClaim, klass: storage_pb2.StorageClass, node: str,
               root: str) -> core_pb2.PersistentVolume:
    meta = claim.metadata
    pv = core_pb2.PersistentVolume(metadata=meta_pb2.ObjectMeta(
        name=volume_name(claim), annotations={PROVISIONED_BY: LOCAL_PATH_PROVISIONER}))
    spec = pv.spec
    spec.capacity["storage"] = claim.spec.resources.requests["storage"]
    spec.access_modes.extend(claim.spec.access_modes)
    spec.persistent_volume_reclaim_policy = klass.reclaim_policy or "Delete"
    spec.storage_class_name = klass.metadata.name
    spec.volume_mode = claim.spec.volume_mode or "Filesystem"
    spec.host_path.path = os.path.join(root, f"{volume_name(claim)}_{meta.namespace}_{meta.name}")
    spec.host_path.type = "DirectoryOrCreate"
    term = spec.node_affinity.required.node_selector_terms.add()
    term.match_expressions.add(key=HOSTNAME_LABEL, operator="In", values=[node])
    spec.claim_ref.CopyFrom(meta_pb2.ObjectReference(kind="PersistentVolumeClaim", api_version="v1",
                                                     namespace=meta.namespace, name=meta.name, uid=meta.uid,
                                                     resource_version=meta.resource_version))
    return pv


@dataclass(frozen=True)
class Provision:
    volume: core_pb2.PersistentVolume | None = None
    event: Event | None = None


def plan_provision(claim: core_pb2.PersistentVolumeClaim, classes: list[storage_pb2.StorageClass],
                   nodes: dict[str, core_pb2.Node], existing: set[str]) -> Provision:
    """What to do for one claim: nothing (not ours, not yet placed, already made), a volume
    to create, or a ProvisioningFailed event."""
    if claim.spec.volume_name or claim.status.phase != "Pending" or claim.metadata.HasField("deletion_timestamp"):
        return Provision()
    name = claim_class(claim, classes)
    klass = next((c for c in classes if c.metadata.name == name), None)
    if klass is None or klass.provisioner != LOCAL_PATH_PROVISIONER or volume_name(claim) in existing:
        return Provision()
    node_name = claim.metadata.annotations.get(SELECTED_NODE, "")
    if not node_name:
        if klass.volume_binding_mode == "WaitForFirstConsumer":
            return Provision()  # the scheduler has not placed a Pod yet
        return Provision(event=Event("Warning", "ProvisioningFailed",
                                     "failed to provision volume with StorageClass \"%s\": configuration error, "
                                     "no node was specified" % name))
    if "storage" not in claim.spec.resources.requests:
        return Provision(event=Event("Warning", "ProvisioningFailed", "claim has no storage request"))
    node = nodes.get(node_name)
    root = node.metadata.annotations.get(ROOT_ANNOTATION, "") if node is not None else ""
    if not root:
        why = f'node "{node_name}" not found' if node is None else f'node "{node_name}" has no {ROOT_ANNOTATION}'
        return Provision(event=Event("Warning", "ProvisioningFailed",
                                     f'failed to provision volume with StorageClass "{name}": {why}'))
    return Provision(volume=volume_for(claim, klass, node_name, root))


def volume_node(volume: core_pb2.PersistentVolume) -> str:
    for term in volume.spec.node_affinity.required.node_selector_terms:
        for req in term.match_expressions:
            if req.key == HOSTNAME_LABEL and req.operator == "In" and req.values:
                return req.values[0]
    return ""


def helper_name(volume: core_pb2.PersistentVolume) -> str:
    return f"helper-pod-delete-{volume.metadata.name}"


def helper_pod(volume: core_pb2.PersistentVolume, config: LocalPathConfig) -> core_pb2.Pod:
    """k3s' helper Pod: the storage root mounted at /data, ``rm -rf`` of the volume's directory."""
    path = volume.spec.host_path.path
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=helper_name(volume), namespace=config.helper_namespace,
                                                    labels={HELPER_LABEL: volume.metadata.name}))
    pod.spec.node_name = volume_node(volume)
    pod.spec.restart_policy = "Never"
    pod.spec.termination_grace_period_seconds = 0
    pod.spec.tolerations.add(operator="Exists")
    vol = pod.spec.volumes.add(name="data")
    vol.host_path.path = os.path.dirname(path)
    vol.host_path.type = "DirectoryOrCreate"
    container = pod.spec.containers.add(name="helper-pod", image=config.helper_image)
    container.command.extend(["rm", "-rf", os.path.join(HELPER_MOUNT, os.path.basename(path))])
    container.volume_mounts.add(name="data", mount_path=HELPER_MOUNT)
    return pod


@dataclass
class DeletePlan:
    create_helper: bool = False
    delete_helper: bool = False
    delete_volume: bool = False
    event: Event | None = None


def plan_delete(volume: core_pb2.PersistentVolume, helper: core_pb2.Pod | None, node_exists: bool) -> DeletePlan:
    """For a volume this provisioner made: what reclaim Delete does next."""
    if (volume.metadata.annotations.get(PROVISIONED_BY) != LOCAL_PATH_PROVISIONER
            or volume.spec.persistent_volume_reclaim_policy != "Delete" or volume.status.phase != "Released"
            or volume.metadata.HasField("deletion_timestamp")):
        return DeletePlan(delete_helper=helper is not None and helper.status.phase in ("Succeeded", "Failed"))
    if helper is None:
        if not node_exists or not volume.spec.host_path.path:
            return DeletePlan()
        return DeletePlan(create_helper=True)
    if helper.status.phase == "Succeeded":
        return DeletePlan(delete_helper=True, delete_volume=True)
    if helper.status.phase == "Failed":
        return DeletePlan(delete_helper=True, event=Event(
            "Warning", "VolumeFailedDelete",
            f"failed to delete volume {volume.metadata.name}: helper pod {helper.metadata.name} failed"))
    return DeletePlan()  # running: wait


# ------------------------------------------------------------------ the controller

class LocalPathProvisioner(Controller):
    """Keys: "claim:<ns>/<name>" (provisioning) and "volume:<name>" (deleting)."""

    name = "local-path-provisioner"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
                 config: LocalPathConfig | None = None) -> None:
        super().__init__(api, informers, recorder)
        self.config = config or LocalPathConfig()
        self.claims = informers.get("PersistentVolumeClaim")
        self.volumes = informers.get("PersistentVolume")
        self.classes = informers.get("StorageClass")
        self.nodes = informers.get("Node")
        self.pods = informers.get("Pod")
        self.claims.add_handler(self._on_claim)
        self.volumes.add_handler(self._on_volume)
        self.pods.add_handler(self._on_pod)
        self._last_event: dict[str, Event] = {}

    def _on_claim(self, event: str, obj: Message, old: Message | None) -> None:
        if event == "DELETED":
            self._last_event.pop(object_key(obj), None)
            return
        self.queue.add(f"claim:{object_key(obj)}")

    def _on_volume(self, event: str, obj: Message, old: Message | None) -> None:
        if event != "DELETED" and obj.metadata.annotations.get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER:  # type: ignore[attr-defined]
            self.queue.add(f"volume:{obj.metadata.name}")  # type: ignore[attr-defined]

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        volume = obj.metadata.labels.get(HELPER_LABEL)  # type: ignore[attr-defined]
        if volume and obj.metadata.namespace == self.config.helper_namespace:  # type: ignore[attr-defined]
            self.queue.add(f"volume:{volume}")

    async def run(self, workers: int = 4) -> None:
        await self.ensure_class()
        await super().run(workers)

    async def ensure_class(self) -> None:
        """Create the default class ``local-path`` unless a class of that name exists."""
        if self.classes.get(CLASS_NAME) is not None:
            return
        try:
            await self.api.create(local_path_class())
            log.info("created the default StorageClass", name=CLASS_NAME)
        except Exception as err:  # noqa: BLE001 -- provisioning still works for classes that exist
            if not is_already_exists(err):
                log.warning("could not create the default StorageClass", name=CLASS_NAME, error=describe(err))

    async def reconcile(self, key: str) -> None:
        side, _, name = key.partition(":")
        if side == "claim":
            await self._provision(name)
        else:
            await self._delete(name)

    async def _provision(self, key: str) -> None:
        claim: core_pb2.PersistentVolumeClaim | None = self.claims.get(key)  # type: ignore[assignment]
        if claim is None:
            return
        nodes = {n.metadata.name: n for n in self.nodes.items()}  # type: ignore[attr-defined]
        existing = {v.metadata.name for v in self.volumes.items()}  # type: ignore[attr-defined]
        plan = plan_provision(claim, self.classes.items(), nodes, existing)  # type: ignore[arg-type]
        if plan.event is not None and self._last_event.get(key) != plan.event:
            self._last_event[key] = plan.event
            self.recorder.record(claim, WARNING if plan.event.type == "Warning" else NORMAL,
                                 plan.event.reason, plan.event.message)
        if plan.volume is None:
            return
        self.recorder.record(claim, NORMAL, "Provisioning",
                             f'External provisioner is provisioning volume for claim "{key}"')
        try:
            await self.api.create(plan.volume)
        except Exception as err:
            if is_already_exists(err):
                return
            self.recorder.record(claim, WARNING, "ProvisioningFailed",
                                 f'failed to provision volume with StorageClass "{plan.volume.spec.storage_class_name}"'
                                 f": {describe(err)}")
            raise
        self._last_event.pop(key, None)
        self.recorder.record(claim, NORMAL, "ProvisioningSucceeded",
                             f"Successfully provisioned volume {plan.volume.metadata.name}")
        log.info("volume provisioned", claim=key, volume=plan.volume.metadata.name, path=plan.volume.spec.host_path.path)

    async def _delete(self, name: str) -> None:
        volume: core_pb2.PersistentVolume | None = self.volumes.get(name)  # type: ignore[assignment]
        helper_key = f"{self.config.helper_namespace}/helper-pod-delete-{name}"
        helper: core_pb2.Pod | None = self.pods.get(helper_key)  # type: ignore[assignment]
        if volume is None:
            if helper is not None and helper.status.phase in ("Succeeded", "Failed"):
                await self._delete_object("Pod", helper.metadata.name, helper.metadata.namespace, helper.metadata.uid)
            return
        plan = plan_delete(volume, helper, self.nodes.get(volume_node(volume)) is not None)
        if plan.event is not None:
            self.recorder.record(volume, WARNING, plan.event.reason, plan.event.message)
        if plan.create_helper:
            try:
                await self.api.create(helper_pod(volume, self.config))
            except Exception as err:
                if not is_already_exists(err):
                    self.recorder.record(volume, WARNING, "VolumeFailedDelete",
                                         f"failed to create the helper pod: {describe(err)}")
                    raise
        if plan.delete_volume:  # the volume first: while it exists, a missing helper would be made again
            await self._delete_object("PersistentVolume", name, "", volume.metadata.uid)
            log.info("volume deleted", volume=name, path=volume.spec.host_path.path)
        if plan.delete_helper and helper is not None:
            await self._delete_object("Pod", helper.metadata.name, helper.metadata.namespace, helper.metadata.uid)
        if plan.event is not None:
            raise RuntimeError(plan.event.message)  # retried with back-off: a new helper Pod

    async def _delete_object(self, kind: str, name: str, namespace: str, uid: str) -> None:
        try:
            await self.api.delete(kind, name, namespace, uid=uid)
        except Exception as err:
            if not (is_not_found(err) or is_conflict(err)):
                raise


__all__ = ["CLASS_NAME", "LocalPathConfig", "LocalPathProvisioner", "ROOT_ANNOTATION", "local_path_class",
           "helper_pod", "plan_delete", "plan_provision", "volume_for"]
