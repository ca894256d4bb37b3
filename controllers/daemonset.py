"""The DaemonSet controller: one Pod of the template on every eligible node.

Level-triggered like the ReplicaSet controller: DaemonSet, Pod and Node events only
enqueue a DaemonSet key; reconcile(key) reads the caches and asks plan_daemonset():

* which nodes should run the Pod (node_should_run, Kubernetes' NodeShouldRunDaemonPod):
  the template's nodeSelector matches the node's labels, and every NoSchedule/NoExecute
  taint is tolerated by the template's tolerations plus the ones Kubernetes adds to
  every daemon Pod (DAEMON_TOLERATIONS: not-ready and unreachable NoExecute, the
  pressure, unschedulable and network-unavailable NoSchedule taints). A cordoned node
  (spec.unschedulable) still gets its daemon Pod. A node whose untolerated taint is
  NoExecute must not keep one either; an untolerated NoSchedule taint only stops new ones.
* Pods to create: one per eligible node without one. pykube's PodSpec has no affinity,
  so the Pod is placed with spec.nodeName (Kubernetes before 1.12 did the same; since
  then it sets a required nodeAffinity on metadata.name and lets the scheduler bind).
* Pods to delete: Pods on nodes that should not run them (misscheduled) or on nodes
  that are gone, Failed Pods (replaced on the next pass), and all but the oldest of
  duplicates on one node.
* RollingUpdate: Pods whose controller-revision-hash label is not the template's hash
  are old. With maxSurge 0 (the default): old Pods that are not available go at once,
  available ones only while at most maxUnavailable (rounded up from a percentage of
  desiredNumberScheduled) daemon Pods are unavailable; a deleted old Pod's node is
  then given a new one. With maxSurge > 0: a new Pod is started beside the old one on
  up to maxSurge nodes at a time, and the old one goes once the new one is available.
  OnDelete only replaces Pods the user deleted.
* status: Kubernetes' DaemonSetStatus counts, written only when changed.

The revision hash is controllers.hashing.template_hash of the template (no
ControllerRevision objects yet); expectations (controllers/expectations.py) keep the
burst of events one create causes from creating twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message

from apimachinery.objects import controller_ref, is_deleting, new_controller_ref
from apimachinery.taints import taint_of, toleration_of, untolerated_taint
from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.expectations import Expectations
from controllers.hashing import template_hash
from controllers.pod_template import pod_from_template
from controllers.replicaset import Claim, claim_pods, is_available, is_ready, next_availability_in
from controllers.rollout.util import scaled_value
from protos import apps_pb2, core_pb2

log = structlog.get_logger("daemonset-controller")

REVISION_LABEL = "controller-revision-hash"
# Kubernetes' util.AddOrUpdateDaemonPodTolerations (pkg/controller/daemon/util).
DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
# Added only to hostNetwork Pods in Kubernetes; pykube Pods have no hostNetwork field yet.
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


def daemon_tolerations(spec: core_pb2.PodSpec) -> list[core_pb2.Toleration]:
    """The template's tolerations plus the automatic ones it does not already have."""
    tolerations = list(spec.tolerations)
    have = {(t.key, t.operator, t.effect) for t in tolerations}
    for key, effect in DAEMON_TOLERATIONS:
        if (key, "Exists", effect) not in have:
            tolerations.append(core_pb2.Toleration(key=key, operator="Exists", effect=effect))
    return tolerations


@dataclass(frozen=True)
class Placement:
    should_run: bool  # a daemon Pod should be created here
    should_continue_running: bool  # an existing daemon Pod may stay


def node_should_run(ds: apps_pb2.DaemonSet, node: core_pb2.Node) -> Placement:
    """Kubernetes' NodeShouldRunDaemonPod, for what pykube Pods can say (nodeSelector, taints)."""
    spec = ds.spec.template.spec
    if is_deleting(node):
        return Placement(False, True)
    if spec.node_name and spec.node_name != node.metadata.name:
        return Placement(False, False)
    labels = node.metadata.labels
    if any(labels.get(k) != v for k, v in spec.node_selector.items()):
        return Placement(False, False)
    tolerations = [toleration_of(t) for t in daemon_tolerations(spec)]
    taints = [taint_of(t) for t in node.spec.taints]
    if untolerated_taint(tolerations, taints, ("NoExecute",)) is not None:
        return Placement(False, False)
    if untolerated_taint(tolerations, taints, ("NoSchedule",)) is not None:
        return Placement(False, True)
    return Placement(True, True)


def revision_of(ds: apps_pb2.DaemonSet) -> str:
    return template_hash(ds.spec.template, ds.status.collision_count if ds.status.HasField("collision_count") else None)


def _created(pod: core_pb2.Pod) -> tuple:
    ts = pod.metadata.creation_timestamp
    return (ts.seconds, ts.nanos, pod.metadata.name)


@dataclass
class DaemonSetPlan:
    adopt: list[core_pb2.Pod] = field(default_factory=list)
    release: list[core_pb2.Pod] = field(default_factory=list)
    create_on: list[str] = field(default_factory=list)  # node names
    delete: list[core_pb2.Pod] = field(default_factory=list)
    status: apps_pb2.DaemonSetStatus = field(default_factory=apps_pb2.DaemonSetStatus)
    status_changed: bool = False
    requeue_after: float | None = None
    revision: str = ""


def max_unavailable(ds: apps_pb2.DaemonSet, desired: int) -> int:
    value = ds.spec.update_strategy.rolling_update.max_unavailable
    if value.WhichOneof("value") is None:
        return 1
    return scaled_value(value, desired, True)


def max_surge(ds: apps_pb2.DaemonSet, desired: int) -> int:
    """maxSurge against desiredNumberScheduled (rounded up); 0 unless RollingUpdate."""
    if ds.spec.update_strategy.type not in ("", "RollingUpdate"):
        return 0
    value = ds.spec.update_strategy.rolling_update.max_surge
    if value.WhichOneof("value") is None:
        return 0
    return scaled_value(value, desired, True)


def _keep_on_node(alive: list[core_pb2.Pod], revision: str, surge: bool,
                  min_ready: int) -> tuple[list[core_pb2.Pod], list[core_pb2.Pod]]:
    """(kept, deleted) of one node's live Pods, oldest first. Without surge only the
    oldest stays. With surge (Kubernetes' podsShouldBeOnNode) the oldest new and the
    oldest old Pod may both stay while the new one is not yet Ready (Ready and
    minReadySeconds 0: the old one goes now; else the rolling update removes it once
    the new one is available); an old Pod that is not Ready goes at once."""
    if not surge or len(alive) < 2:
        return alive[:1], alive[1:]
    newest: core_pb2.Pod | None = None
    oldest: core_pb2.Pod | None = None
    deleted = []
    for pod in alive:
        if pod.metadata.labels.get(REVISION_LABEL) == revision:
            if newest is None:
                newest = pod
                continue
        elif oldest is None:
            oldest = pod
            continue
        deleted.append(pod)
    if newest is not None and oldest is not None:
        if not is_ready(oldest) or (is_ready(newest) and min_ready == 0):
            deleted.append(oldest)
            oldest = None
    kept = sorted((p for p in (newest, oldest) if p is not None), key=_created)
    return kept, deleted


def plan_daemonset(ds: apps_pb2.DaemonSet, nodes: Iterable[core_pb2.Node], pods: Iterable[core_pb2.Pod],
                   expectations_satisfied: bool, now: float) -> DaemonSetPlan:
    """What reconcile does for one DaemonSet, given every Node and every Pod in its namespace."""
    claim: Claim = claim_pods(ds, pods)  # type: ignore[arg-type]
    plan = DaemonSetPlan(adopt=claim.adopt, release=claim.release, revision=revision_of(ds))
    by_node: dict[str, list[core_pb2.Pod]] = {}
    terminating: set[str] = set()  # nodes whose old Pod is still going: the new one waits for it
    for pod in claim.owned + claim.adopt:
        if is_deleting(pod):
            terminating.add(pod.spec.node_name)
        else:
            by_node.setdefault(pod.spec.node_name, []).append(pod)
    min_ready = ds.spec.min_ready_seconds
    status = apps_pb2.DaemonSetStatus()
    status.CopyFrom(ds.status)
    for name in ("desired_number_scheduled", "current_number_scheduled", "number_misscheduled", "number_ready",
                 "updated_number_scheduled", "number_available", "number_unavailable"):
        setattr(status, name, 0)
    kept: list[list[core_pb2.Pod]] = []  # the kept Pods of each eligible node, oldest first (two while surging)
    surge = max_surge(ds, 1) > 0
    create: list[str] = []
    delete: list[core_pb2.Pod] = []
    seen: set[str] = set()
    for node in sorted(nodes, key=lambda n: n.metadata.name):
        name = node.metadata.name
        seen.add(name)
        placement = node_should_run(ds, node)
        here = sorted(by_node.get(name, []), key=_created)
        if placement.should_run:
            status.desired_number_scheduled += 1
        if placement.should_continue_running:
            failed = [p for p in here if p.status.phase == "Failed"]
            delete += failed
            alive = [p for p in here if p.status.phase != "Failed"]
            if not alive:
                if placement.should_run and not failed and name not in terminating:
                    create.append(name)
            else:
                keep, duplicates = _keep_on_node(alive, plan.revision, surge, min_ready)
                delete += duplicates
                if placement.should_run:
                    kept.append(keep)
                else:
                    status.number_misscheduled += 1
        elif here:
            status.number_misscheduled += 1
            delete += here
    for node_name, here in by_node.items():
        if node_name not in seen:  # the node is gone (or the Pod was never placed)
            delete += here
    for here in kept:
        pod = here[0]
        status.current_number_scheduled += 1
        if is_ready(pod):
            status.number_ready += 1
        if is_available(pod, min_ready, now):
            status.number_available += 1
        if any(p.metadata.labels.get(REVISION_LABEL) == plan.revision for p in here):
            status.updated_number_scheduled += 1
    status.number_unavailable = status.desired_number_scheduled - status.number_available
    status.observed_generation = ds.metadata.generation

    if expectations_satisfied and not is_deleting(ds):
        plan.create_on = create
        plan.delete = delete
        surge_budget = max_surge(ds, status.desired_number_scheduled)
        if surge_budget > 0:
            more, old = surge_update(ds, kept, surge_budget, plan.revision, now)
            plan.create_on += more
            plan.delete += old
        elif ds.spec.update_strategy.type in ("", "RollingUpdate"):
            plan.delete += rolling_update_deletions(ds, [here[0] for here in kept],
                                                    status.desired_number_scheduled, plan.revision, len(create), now)
    plan.status = status
    plan.status_changed = status != ds.status
    plan.requeue_after = next_availability_in(ds, [p for here in kept for p in here], now)  # type: ignore[arg-type]
    return plan


def rolling_update_deletions(ds: apps_pb2.DaemonSet, running: list[core_pb2.Pod], desired: int, revision: str,
                             missing: int, now: float) -> list[core_pb2.Pod]:
    """Old Pods to delete now (Kubernetes' rollingUpdate without surge): every old Pod that
    is not available, and available ones while fewer than maxUnavailable daemon Pods are
    unavailable (a node still waiting for its Pod counts as unavailable)."""
    old = [p for p in running if p.metadata.labels.get(REVISION_LABEL) != revision]
    if not old:
        return []
    min_ready = ds.spec.min_ready_seconds
    budget = max_unavailable(ds, desired)
    unavailable = max(desired - len(running), missing) + sum(1 for p in running if not is_available(p, min_ready, now))
    chosen = [p for p in old if not is_available(p, min_ready, now)]
    for pod in sorted((p for p in old if is_available(p, min_ready, now)), key=lambda p: p.spec.node_name):
        if unavailable >= budget:
            break
        chosen.append(pod)
        unavailable += 1
    return chosen


def surge_update(ds: apps_pb2.DaemonSet, kept: list[list[core_pb2.Pod]], budget: int, revision: str,
                 now: float) -> tuple[list[str], list[core_pb2.Pod]]:
    """Kubernetes' rollingUpdate with maxSurge: (nodes to give a new Pod next to the old
    one, old Pods to delete). A node whose old Pod is unavailable gets its new Pod at
    once; others only while fewer than maxSurge new Pods are not yet available; an old
    Pod goes once the new Pod beside it is available."""
    min_ready = ds.spec.min_ready_seconds
    allowed: list[str] = []
    candidates: list[str] = []
    delete: list[core_pb2.Pod] = []
    surging = 0
    for here in kept:
        new = next((p for p in here if p.metadata.labels.get(REVISION_LABEL) == revision), None)
        old = next((p for p in here if p.metadata.labels.get(REVISION_LABEL) != revision), None)
        if old is None:
            continue
        node = old.spec.node_name
        if new is None:
            if not is_available(old, min_ready, now):
                allowed.append(node)
            elif surging < budget:
                candidates.append(node)
        elif not is_available(new, min_ready, now):
            surging += 1
        else:
            delete.append(old)
    room = min(max(budget - surging, 0), len(candidates))
    return allowed + sorted(candidates)[:room], delete


def pod_for_node(ds: apps_pb2.DaemonSet, node_name: str, revision: str) -> core_pb2.Pod:
    """A new daemon Pod: generateName "<ds>-", the template's labels plus the revision
    hash, the automatic tolerations, and spec.nodeName (see the module docstring)."""
    pod = pod_from_template(ds)
    pod.metadata.labels[REVISION_LABEL] = revision
    del pod.spec.tolerations[:]
    pod.spec.tolerations.extend(daemon_tolerations(ds.spec.template.spec))
    pod.spec.node_name = node_name
    return pod


# ------------------------------------------------------------------ the controller

class DaemonSetController(Controller):
    name = "daemonset-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder, *,
                 expectations: Expectations | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(api, informers, recorder)
        self.expectations = expectations or Expectations()
        self.clock = clock
        self.daemonsets = informers.get("DaemonSet")
        self.pods = informers.get("Pod")
        self.nodes = informers.get("Node")
        self.daemonsets.add_handler(self._on_daemonset)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)

    def _on_daemonset(self, event: str, obj: Message, old: Message | None) -> None:
        key = object_key(obj)
        if event == "DELETED":
            self.expectations.delete(key)
            return
        self.queue.add(key)

    def _on_node(self, event: str, obj: Message, old: Message | None) -> None:
        node: core_pb2.Node = obj  # type: ignore[assignment]
        if event == "MODIFIED" and old is not None:
            before: core_pb2.Node = old  # type: ignore[assignment]
            if (before.metadata.labels == node.metadata.labels and before.spec.taints == node.spec.taints
                    and is_deleting(before) == is_deleting(node)):
                return  # heartbeats and status: nothing a DaemonSet decides on
        for ds in self.daemonsets.items():
            self.queue.add(object_key(ds))

    def _owner(self, pod: core_pb2.Pod) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.kind != "DaemonSet":
            return None
        key = f"{pod.metadata.namespace}/{ref.name}"
        ds = self.daemonsets.get(key)
        return key if ds is not None and ds.metadata.uid == ref.uid else None  # type: ignore[attr-defined]

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        key = self._owner(pod)
        if key is None:
            if controller_ref(pod) is None and not is_deleting(pod):
                for ds in self.daemonsets.items():  # an orphan: whoever might adopt it
                    if ds.metadata.namespace == pod.metadata.namespace:  # type: ignore[attr-defined]
                        self.queue.add(object_key(ds))
            return
        if event == "ADDED":
            self.expectations.creation_observed(key)
        if event == "DELETED" or is_deleting(pod):
            self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    async def reconcile(self, key: str) -> None:
        ds: apps_pb2.DaemonSet | None = self.daemonsets.get(key)  # type: ignore[assignment]
        if ds is None:
            self.expectations.delete(key)
            return
        pods = [p for p in self.pods.items() if p.metadata.namespace == ds.metadata.namespace]  # type: ignore[attr-defined]
        satisfied = self.expectations.satisfied(key)
        plan = plan_daemonset(ds, self.nodes.items(), pods, satisfied, self.clock())  # type: ignore[arg-type]
        for pod in plan.adopt:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            new.metadata.owner_references.append(new_controller_ref(ds))
            await self.api.update(new)
        for pod in plan.release:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            keep = [r for r in pod.metadata.owner_references if r.uid != ds.metadata.uid]
            del new.metadata.owner_references[:]
            new.metadata.owner_references.extend(keep)
            await self.api.update(new)
        failure: BaseException | None = None
        try:
            if plan.create_on or plan.delete:
                self.expectations.expect_creations(key, len(plan.create_on))
                self.expectations.expect_deletions(key, [object_key(p) for p in plan.delete])
                results = await asyncio.gather(*(self._create(ds, key, n, plan.revision) for n in plan.create_on),
                                               *(self._delete(ds, key, p) for p in plan.delete),
                                               return_exceptions=True)
                failure = next((r for r in results if isinstance(r, BaseException)), None)
        except Exception as err:  # noqa: BLE001 -- status is still written; the key is retried
            failure = err
        if plan.status_changed:
            await self.write_status(ds, plan.status)
        if failure is not None:
            raise failure
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        if not satisfied:
            self.queue.add_after(key, self.expectations.expires_in(key) + 0.1)

    async def _create(self, ds: apps_pb2.DaemonSet, key: str, node: str, revision: str) -> None:
        try:
            created = await self.api.create(pod_for_node(ds, node, revision))
        except Exception as err:
            self.expectations.creation_observed(key)  # never to be seen
            self.recorder.record(ds, WARNING, "FailedCreate", f"Error creating: {describe(err)}")
            raise
        self.recorder.record(ds, NORMAL, "SuccessfulCreate", f"Created pod: {created.metadata.name}")  # type: ignore[attr-defined]

    async def _delete(self, ds: apps_pb2.DaemonSet, key: str, pod: core_pb2.Pod) -> None:
        try:
            await self.api.delete("Pod", pod.metadata.name, pod.metadata.namespace, uid=pod.metadata.uid)
        except Exception as err:
            self.expectations.deletion_observed(key, object_key(pod))
            if is_not_found(err) or is_conflict(err):
                return
            self.recorder.record(ds, WARNING, "FailedDelete", f"Error deleting: {describe(err)}")
            raise
        self.recorder.record(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
