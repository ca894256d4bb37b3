"""The StatefulSet controller: Pods with stable names <set>-<ordinal>, made, removed
and updated in order (Kubernetes' defaultStatefulSetControl, simplified).

plan_statefulset() is the pure decision; StatefulSetController is the executor.

* identity: the Pod of ordinal i is named <set>-<i>, with hostname <set>-<i> and
  subdomain spec.serviceName (so the headless Service gives it
  <set>-<i>.<serviceName>.<namespace>.svc), and the labels
  statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
  controller-revision-hash. Ordinals run from spec.ordinals.start.
* PVCs: one per volumeClaimTemplate per ordinal, named <template>-<set>-<i>
  (claims_for), created before the Pod that uses them (AlreadyExists is success: a
  claim outlives its Pod and is reused by the Pod's replacement). As Kubernetes' default
  persistentVolumeClaimRetentionPolicy (Retain/Retain) they have no owner: neither
  scaling down nor deleting the set deletes them. The Pod gets a persistentVolumeClaim
  volume per template, named as the template (replacing a template volume of that name).
* OrderedReady (default): ordinal i is created only when 0..i-1 are Running and
  Ready; a Pod that is not stops the pass; surplus Pods go from the highest ordinal
  down, one at a time, each only once the others are healthy. Parallel: every
  missing Pod is created and every surplus Pod deleted at once.
* Failed or Succeeded Pods are deleted, and come back under the same name.
* RollingUpdate: once every replica exists (and, for OrderedReady, is Running and
  Ready), the Pod with the highest ordinal >= partition whose
  controller-revision-hash is not the template's is deleted; one at a time, waiting
  for each replacement to be Running and Ready. OnDelete leaves old Pods alone.
* status: replicas, readyReplicas, availableReplicas, currentReplicas,
  updatedReplicas, currentRevision, updateRevision, observedGeneration.

The revision is controllers.hashing.template_hash of the template; there are no
ControllerRevision objects yet, so a missing Pod below the partition is created
from the current template (Kubernetes would use the old revision's)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message

from apimachinery.objects import controller_ref, is_deleting, new_controller_ref
from client.api import AsyncAPI, describe, is_already_exists, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.daemonset import REVISION_LABEL
from controllers.hashing import template_hash
from controllers.pod_template import pod_from_template
from controllers.replicaset import claim_pods, is_available, is_ready, next_availability_in
from protos import apps_pb2, core_pb2, meta_pb2

log = structlog.get_logger("statefulset-controller")

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> int | None:
    """The ordinal in the Pod's name, when it is one of this set's names (<set>-<i>)."""
    match = re.fullmatch(rf"{re.escape(sts.metadata.name)}-(0|[1-9][0-9]*)", pod.metadata.name)
    return int(match.group(1)) if match else None


def pod_name(sts: apps_pb2.StatefulSet, ordinal: int) -> str:
    return f"{sts.metadata.name}-{ordinal}"


def claim_names(sts: apps_pb2.StatefulSet, ordinal: int) -> list[str]:
    """The PersistentVolumeClaims of one ordinal: <template>-<set>-<i> per volumeClaimTemplate."""
    return [f"{t.metadata.name}-{pod_name(sts, ordinal)}" for t in sts.spec.volume_claim_templates]


def claims_for(sts: apps_pb2.StatefulSet, ordinal: int) -> list[core_pb2.PersistentVolumeClaim]:
    """The claims of one ordinal, from spec.volumeClaimTemplates (Kubernetes' getPersistentVolumeClaims):
    the template's metadata plus the set's selector labels, its spec."""
    claims = []
    for template, name in zip(sts.spec.volume_claim_templates, claim_names(sts, ordinal)):
        claim = core_pb2.PersistentVolumeClaim(metadata=meta_pb2.ObjectMeta(
            name=name, namespace=sts.metadata.namespace,
            labels={**template.metadata.labels, **sts.spec.selector.match_labels},
            annotations=dict(template.metadata.annotations)))
        claim.spec.access_modes.extend(template.spec.access_modes)
        claim.spec.resources.requests.update(template.spec.resources.requests)
        claim.spec.resources.limits.update(template.spec.resources.limits)
        if template.spec.HasField("storage_class_name"):
            claim.spec.storage_class_name = template.spec.storage_class_name
        claims.append(claim)
    return claims


def revision_of(sts: apps_pb2.StatefulSet) -> str:
    collision = sts.status.collision_count if sts.status.HasField("collision_count") else None
    return template_hash(sts.spec.template, collision)


def running_and_ready(pod: core_pb2.Pod) -> bool:
    return pod.status.phase == "Running" and is_ready(pod)


def _finished(pod: core_pb2.Pod) -> bool:
    return pod.status.phase in ("Failed", "Succeeded")


@dataclass
class StatefulSetPlan:
    adopt: list[core_pb2.Pod] = field(default_factory=list)
    release: list[core_pb2.Pod] = field(default_factory=list)
    create: list[int] = field(default_factory=list)  # ordinals
    delete: list[core_pb2.Pod] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)  # PVC names the created Pods need
    status: apps_pb2.StatefulSetStatus = field(default_factory=apps_pb2.StatefulSetStatus)
    status_changed: bool = False
    requeue_after: float | None = None
    revision: str = ""


def plan_statefulset(sts: apps_pb2.StatefulSet, pods: Iterable[core_pb2.Pod], now: float) -> StatefulSetPlan:
    """What reconcile does for one StatefulSet, given every Pod in its namespace."""
    claim = claim_pods(sts, pods)  # type: ignore[arg-type]
    update_revision = revision_of(sts)
    plan = StatefulSetPlan(adopt=claim.adopt, release=claim.release, revision=update_revision)
    start, replicas = sts.spec.ordinals.start, sts.spec.replicas
    members: dict[int, core_pb2.Pod] = {}
    for pod in claim.owned + claim.adopt:
        ordinal = ordinal_of(sts, pod)
        if ordinal is not None:
            members[ordinal] = pod
    wanted = range(start, start + replicas)
    condemned = sorted((i for i in members if i not in wanted), reverse=True)
    plan.status = _status(sts, members, update_revision, now)
    plan.status_changed = plan.status != sts.status
    plan.requeue_after = next_availability_in(sts, list(members.values()), now)  # type: ignore[arg-type]
    if is_deleting(sts):
        return plan
    ordered = sts.spec.pod_management_policy != "Parallel"

    # 1. the replicas, lowest ordinal first
    for ordinal in wanted:
        pod = members.get(ordinal)
        if pod is None:
            plan.create.append(ordinal)
            plan.claims += claim_names(sts, ordinal)
            if ordered:
                return plan
            continue
        if is_deleting(pod):
            if ordered:
                return plan  # wait until it is gone, then recreate it
            continue
        if _finished(pod):
            plan.delete.append(pod)
            if ordered:
                return plan
            continue
        if ordered and not running_and_ready(pod):
            return plan
    if plan.create or plan.delete:
        return plan  # Parallel: scale-down and updates wait for this pass

    # 2. the surplus, highest ordinal first
    if condemned:
        if not ordered:
            plan.delete = [members[i] for i in condemned if not is_deleting(members[i])]
            return plan
        if any(is_deleting(members[i]) for i in condemned):
            return plan
        highest = condemned[0]
        unhealthy = sorted(i for i in condemned if not running_and_ready(members[i]))
        if unhealthy and unhealthy[0] != highest and highest in unhealthy:
            return plan  # an unhealthy Pod goes only when it is the first unhealthy one (Kubernetes)
        plan.delete = [members[highest]]
        return plan

    # 3. the rolling update, highest ordinal first, down to the partition
    strategy = sts.spec.update_strategy
    if strategy.type not in ("", "RollingUpdate"):
        return plan
    partition = max(strategy.rolling_update.partition, start)
    for ordinal in reversed(wanted):
        if ordinal < partition:
            break
        pod = members[ordinal]
        if pod.metadata.labels.get(REVISION_LABEL) != update_revision and not is_deleting(pod):
            plan.delete = [pod]
            return plan
        if not running_and_ready(pod):
            return plan  # wait for the replacement
    return plan


def _status(sts: apps_pb2.StatefulSet, members: dict[int, core_pb2.Pod], update_revision: str,
            now: float) -> apps_pb2.StatefulSetStatus:
    status = apps_pb2.StatefulSetStatus()
    status.CopyFrom(sts.status)
    current_revision = sts.status.current_revision or update_revision
    live = [p for p in members.values() if not is_deleting(p)]
    status.replicas = len(live)
    status.ready_replicas = sum(1 for p in live if is_ready(p))
    status.available_replicas = sum(1 for p in live if is_available(p, sts.spec.min_ready_seconds, now))
    status.updated_replicas = sum(1 for p in live if p.metadata.labels.get(REVISION_LABEL) == update_revision)
    status.current_replicas = sum(1 for p in live if p.metadata.labels.get(REVISION_LABEL) == current_revision)
    status.update_revision = update_revision
    # The update is complete once every wanted replica is at the new revision.
    if status.updated_replicas == sts.spec.replicas and status.replicas == sts.spec.replicas:
        current_revision = update_revision
        status.current_replicas = status.updated_replicas
    status.current_revision = current_revision
    status.observed_generation = sts.metadata.generation
    return status


def pod_for_ordinal(sts: apps_pb2.StatefulSet, ordinal: int, revision: str) -> core_pb2.Pod:
    """The Pod of one ordinal, as Kubernetes' newStatefulSetPod makes it."""
    name = pod_name(sts, ordinal)
    pod = pod_from_template(sts)
    pod.metadata.ClearField("generate_name")
    pod.metadata.name = name
    pod.metadata.labels.update({REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)})
    pod.spec.hostname = name
    if sts.spec.service_name:
        pod.spec.subdomain = sts.spec.service_name
    if sts.spec.volume_claim_templates:  # Kubernetes' updateStorage
        templates = {t.metadata.name for t in sts.spec.volume_claim_templates}
        kept = [v for v in pod.spec.volumes if v.name not in templates]
        del pod.spec.volumes[:]
        for template, claim in zip(sts.spec.volume_claim_templates, claim_names(sts, ordinal)):
            volume = pod.spec.volumes.add(name=template.metadata.name)
            volume.persistent_volume_claim.claim_name = claim
        pod.spec.volumes.extend(kept)
    return pod


# ------------------------------------------------------------------ the controller

class StatefulSetController(Controller):
    """Pod names are fixed, so creates are idempotent (AlreadyExists is success) and
    deletes carry the Pod's uid as a precondition (a stale cache cannot delete the
    replacement): no expectations are needed, as in Kubernetes."""

    name = "statefulset-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(api, informers, recorder)
        self.clock = clock
        self.statefulsets = informers.get("StatefulSet")
        self.pods = informers.get("Pod")
        self.statefulsets.add_handler(self._on_statefulset)
        self.pods.add_handler(self._on_pod)

    def _on_statefulset(self, event: str, obj: Message, old: Message | None) -> None:
        if event != "DELETED":
            self.queue.add(object_key(obj))

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        for candidate in (pod, old):
            if candidate is None:
                continue
            ref = controller_ref(candidate)
            if ref is not None and ref.kind == "StatefulSet":
                self.queue.add(f"{pod.metadata.namespace}/{ref.name}")
            elif ref is None and not is_deleting(pod):
                for sts in self.statefulsets.items():  # an orphan: whoever might adopt it
                    if sts.metadata.namespace == pod.metadata.namespace:  # type: ignore[attr-defined]
                        self.queue.add(object_key(sts))

    async def reconcile(self, key: str) -> None:
        sts: apps_pb2.StatefulSet | None = self.statefulsets.get(key)  # type: ignore[assignment]
        if sts is None:
            return
        pods = [p for p in self.pods.items() if p.metadata.namespace == sts.metadata.namespace]  # type: ignore[attr-defined]
        plan = plan_statefulset(sts, pods, self.clock())  # type: ignore[arg-type]
        for pod in plan.adopt:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            new.metadata.owner_references.append(new_controller_ref(sts))
            await self.api.update(new)
        for pod in plan.release:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            keep = [r for r in pod.metadata.owner_references if r.uid != sts.metadata.uid]
            del new.metadata.owner_references[:]
            new.metadata.owner_references.extend(keep)
            await self.api.update(new)
        results = await asyncio.gather(*(self._create(sts, i, plan.revision) for i in plan.create),
                                       *(self._delete(sts, p) for p in plan.delete), return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if plan.status_changed:
            await self.write_status(sts, plan.status)
        if failure is not None:
            raise failure
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _create(self, sts: apps_pb2.StatefulSet, ordinal: int, revision: str) -> None:
        pod = pod_for_ordinal(sts, ordinal, revision)
        for claim in claims_for(sts, ordinal):  # before the Pod (Kubernetes' createPersistentVolumeClaims)
            try:
                await self.api.create(claim)
            except Exception as err:
                if is_already_exists(err):
                    continue  # kept from an earlier Pod of this ordinal
                self.recorder.record(sts, WARNING, "FailedCreate",
                                     f"create Claim {claim.metadata.name} for Pod {pod.metadata.name} in StatefulSet "
                                     f"{sts.metadata.name} failed error: {describe(err)}")
                raise
            self.recorder.record(sts, NORMAL, "SuccessfulCreate",
                                 f"create Claim {claim.metadata.name} Pod {pod.metadata.name} in StatefulSet "
                                 f"{sts.metadata.name} success")
        try:
            await self.api.create(pod)
        except Exception as err:
            if is_already_exists(err):
                return  # the cache lags our own create
            self.recorder.record(sts, WARNING, "FailedCreate",
                                 f"create Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} failed "
                                 f"error: {describe(err)}")
            raise
        self.recorder.record(sts, NORMAL, "SuccessfulCreate",
                             f"create Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} successful")

    async def _delete(self, sts: apps_pb2.StatefulSet, pod: core_pb2.Pod) -> None:
        try:
            await self.api.delete("Pod", pod.metadata.name, pod.metadata.namespace, uid=pod.metadata.uid)
        except Exception as err:
            if is_not_found(err) or is_conflict(err):
                return
            self.recorder.record(sts, WARNING, "FailedDelete",
                                 f"delete Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} failed "
                                 f"error: {describe(err)}")
            raise
        self.recorder.record(sts, NORMAL, "SuccessfulDelete",
                             f"delete Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} successful")
