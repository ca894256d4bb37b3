"""The ReplicaSet controller: keep `spec.replicas` Pods matching the selector alive.

Level-triggered, as Kubernetes' replica_set.go: every Pod or ReplicaSet event only
enqueues a ReplicaSet key; reconcile(key) reads the informer caches and asks a pure
function, plan_replicaset(), what to do:

* claim: Pods whose controller ownerReference is this ReplicaSet are its own; an
  orphan (no controller reference) that matches the selector is adopted (ownerReference
  added by an Update); an owned Pod that no longer matches is released (reference
  removed). Pods controlled by someone else are never touched.
* count: only active Pods count (no deletionTimestamp, not Succeeded/Failed), so a Pod
  that is Terminating on a lost node is already replaced.
* create the shortfall from the template, in slow-start batches of 1, 2, 4, ... (a
  quota or a broken template fails fast after one Pod instead of five hundred), or
  delete the surplus, least valuable Pod first (see deletion_rank()).
* status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas and
  observedGeneration, written by UpdateStatus only when they changed.

Expectations (controllers/expectations.py) make the burst of events a create causes
harmless: until the informer has shown the Pods this controller asked for, it neither
creates nor deletes again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message

from apimachinery.kinds import wrap
from apimachinery.objects import controller_ref, is_deleting, new_controller_ref
from apimachinery.selectors import LabelSelector, SelectorError
from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.expectations import Expectations
from controllers.pod_template import pod_from_template
from protos import api_pb2, apps_pb2, core_pb2, meta_pb2

log = structlog.get_logger("replicaset-controller")

# Kubernetes' burstReplicas: at most this many creates or deletes per reconcile.
BURST_REPLICAS = 500
# slowStartBatch's first batch; each successful batch doubles the next.
SLOW_START_INITIAL_BATCH = 1
_PHASE_RANK = {"Pending": 0, "": 0, "Unknown": 1, "Running": 2}


# ------------------------------------------------------------------ Pod helpers

def is_active(pod: core_pb2.Pod) -> bool:
    """Counts toward replicas: not being deleted and not finished (Kubernetes' IsPodActive)."""
    return not is_deleting(pod) and pod.status.phase not in ("Succeeded", "Failed")


def ready_condition(pod: core_pb2.Pod) -> meta_pb2.Condition | None:
    return next((c for c in pod.status.conditions if c.type == "Ready"), None)


def is_ready(pod: core_pb2.Pod) -> bool:
    condition = ready_condition(pod)
    return condition is not None and condition.status == "True"


def ready_since(pod: core_pb2.Pod) -> float | None:
    """When the Pod last became Ready (epoch seconds), or None when it is not Ready."""
    condition = ready_condition(pod)
    if condition is None or condition.status != "True":
        return None
    return condition.last_transition_time.seconds + condition.last_transition_time.nanos / 1e9


def is_available(pod: core_pb2.Pod, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (Kubernetes' IsPodAvailable)."""
    since = ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def max_restarts(pod: core_pb2.Pod) -> int:
    return max((s.restart_count for s in pod.status.container_statuses), default=0)


def _seconds(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


# ------------------------------------------------------------------ claiming

def selector_of(rs: apps_pb2.ReplicaSet) -> LabelSelector | None:
    """The parsed selector; None for an empty or broken one, which matches nothing
    (Kubernetes: an empty ReplicaSet selector must not adopt every Pod)."""
    try:
        selector = LabelSelector.from_proto(rs.spec.selector)
    except SelectorError:
        return None
    return None if selector.empty else selector


@dataclass
class Claim:
    owned: list[core_pb2.Pod] = field(default_factory=list)  # already ours and matching
    adopt: list[core_pb2.Pod] = field(default_factory=list)  # orphans to take
    release: list[core_pb2.Pod] = field(default_factory=list)  # ours, but no longer matching


def claim_pods(rs: apps_pb2.ReplicaSet, pods: Iterable[core_pb2.Pod]) -> Claim:
    """Which Pods the ReplicaSet owns, adopts and releases (client-go's ClaimPods).

    A ReplicaSet being deleted adopts and releases nothing: its Pods are the garbage
    collector's business then."""
    claim = Claim()
    selector = selector_of(rs)
    rs_deleting = is_deleting(rs)
    for pod in pods:
        if pod.metadata.namespace != rs.metadata.namespace:
            continue
        matches = selector is not None and selector.matches(pod.metadata.labels)
        ref = controller_ref(pod)
        if ref is not None:
            if ref.uid != rs.metadata.uid:
                continue  # someone else's
            if matches:
                claim.owned.append(pod)
            elif not rs_deleting and not is_deleting(pod):
                claim.release.append(pod)
            continue
        if matches and not rs_deleting and not is_deleting(pod):
            claim.adopt.append(pod)
    return claim


# ------------------------------------------------------------------ deciding

def deletion_rank(pod: core_pb2.Pod) -> tuple:
    """Sort key: the Pod to delete first sorts first (Kubernetes' ActivePods order,
    without the co-location rank): unassigned before assigned; Pending before Unknown
    before Running; not ready before ready; ready for a shorter time before longer;
    more restarts before fewer; newer before older."""
    since = ready_since(pod)
    return (
        1 if pod.spec.node_name else 0,
        _PHASE_RANK.get(pod.status.phase, 0),
        1 if since is not None else 0,
        -(since or 0.0),
        -max_restarts(pod),
        -_seconds(pod.metadata.creation_timestamp),
        pod.metadata.name,
    )


def pods_to_delete(pods: Iterable[core_pb2.Pod], count: int) -> list[core_pb2.Pod]:
    return sorted(pods, key=deletion_rank)[:max(count, 0)]


def calculate_status(rs: apps_pb2.ReplicaSet, active: list[core_pb2.Pod], now: float) -> apps_pb2.ReplicaSetStatus:
    template_labels = dict(rs.spec.template.metadata.labels)
    status = apps_pb2.ReplicaSetStatus()
    status.CopyFrom(rs.status)
    status.replicas = len(active)
    status.fully_labeled_replicas = sum(
        1 for p in active if all(p.metadata.labels.get(k) == v for k, v in template_labels.items()))
    status.ready_replicas = sum(1 for p in active if is_ready(p))
    status.available_replicas = sum(1 for p in active if is_available(p, rs.spec.min_ready_seconds, now))
    status.observed_generation = rs.metadata.generation
    return status


def next_availability_in(rs: apps_pb2.ReplicaSet, active: list[core_pb2.Pod], now: float) -> float | None:
    """Seconds until the next ready Pod becomes available (minReadySeconds), if any:
    nothing else would wake the controller then."""
    waits = [since + rs.spec.min_ready_seconds - now for p in active
             if (since := ready_since(p)) is not None and not is_available(p, rs.spec.min_ready_seconds, now)]
    return max(min(waits), 0.0) + 0.05 if waits else None


@dataclass
class ReplicaSetPlan:
    adopt: list[core_pb2.Pod] = field(default_factory=list)
    release: list[core_pb2.Pod] = field(default_factory=list)
    create: int = 0
    delete: list[core_pb2.Pod] = field(default_factory=list)
    status: apps_pb2.ReplicaSetStatus = field(default_factory=apps_pb2.ReplicaSetStatus)
    status_changed: bool = False
    requeue_after: float | None = None


def plan_replicaset(rs: apps_pb2.ReplicaSet, pods: Iterable[core_pb2.Pod], expectations_satisfied: bool,
                    now: float, burst_replicas: int = BURST_REPLICAS) -> ReplicaSetPlan:
    """What reconcile does for one ReplicaSet, given every Pod in its namespace.

    Adopted Pods count as owned (reconcile stops if an adoption fails). While
    expectations are pending, or the ReplicaSet is being deleted, nothing is created
    or deleted: only ownership and status are brought up to date."""
    claim = claim_pods(rs, pods)
    active = [p for p in claim.owned + claim.adopt if is_active(p)]
    plan = ReplicaSetPlan(adopt=claim.adopt, release=claim.release)
    if expectations_satisfied and not is_deleting(rs):
        diff = len(active) - rs.spec.replicas
        if diff < 0:
            plan.create = min(-diff, burst_replicas)
        elif diff > 0:
            plan.delete = pods_to_delete(active, min(diff, burst_replicas))
    plan.status = calculate_status(rs, active, now)
    plan.status_changed = plan.status != rs.status
    plan.requeue_after = next_availability_in(rs, active, now)
    return plan


# ------------------------------------------------------------------ the controller

class ReplicaSetController(Controller):
    name = "replicaset-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder, *,
                 expectations: Expectations | None = None, clock: Callable[[], float] = time.time,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(api, informers, recorder)
        self.expectations = expectations or Expectations()
        self.clock = clock
        self.burst_replicas = burst_replicas
        self.replicasets = informers.get("ReplicaSet")
        self.pods = informers.get("Pod")
        self.replicasets.add_handler(self._on_replicaset)
        self.pods.add_handler(self._on_pod)

    # -------------------------------------------------------------- handlers

    def _on_replicaset(self, event: str, obj: Message, old: Message | None) -> None:
        key = object_key(obj)
        if event == "DELETED":
            self.expectations.delete(key)
            return
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: meta_pb2.OwnerReference | None) -> apps_pb2.ReplicaSet | None:
        """The ReplicaSet a controller reference names, if it is the one in the cache."""
        if ref is None or ref.kind != "ReplicaSet":
            return None
        rs = self.replicasets.get(f"{namespace}/{ref.name}")
        if rs is None or rs.metadata.uid != ref.uid:  # type: ignore[attr-defined]
            return None
        return rs  # type: ignore[return-value]

    def _matching(self, pod: core_pb2.Pod) -> list[apps_pb2.ReplicaSet]:
        found = []
        for rs in self.replicasets.items():
            if rs.metadata.namespace != pod.metadata.namespace:  # type: ignore[attr-defined]
                continue
            selector = selector_of(rs)  # type: ignore[arg-type]
            if selector is not None and selector.matches(pod.metadata.labels):
                found.append(rs)
        return found  # type: ignore[return-value]

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        if event == "ADDED":
            self._pod_added(pod)
        elif event == "MODIFIED":
            self._pod_updated(old, pod)  # type: ignore[arg-type]
        elif event == "DELETED":
            self._pod_deleted(pod)

    def _pod_added(self, pod: core_pb2.Pod) -> None:
        rs = self._resolve(pod.metadata.namespace, controller_ref(pod))
        if rs is not None:
            key = object_key(rs)
            self.expectations.creation_observed(key)
            if is_deleting(pod):  # created and already going: both are observed
                self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)
            return
        if controller_ref(pod) is None and not is_deleting(pod):
            for rs in self._matching(pod):
                self.queue.add(object_key(rs))

    def _pod_updated(self, old: core_pb2.Pod | None, pod: core_pb2.Pod) -> None:
        if old is None:
            self._pod_added(pod)
            return
        if old.metadata.resource_version == pod.metadata.resource_version:
            return
        labels_changed = old.metadata.labels != pod.metadata.labels
        if is_deleting(pod):
            # A graceful delete shows first as a deletionTimestamp: for counting, the
            # Pod is gone now (and it is the observation deletion expectations await).
            self._pod_deleted(pod)
            if labels_changed:
                self._pod_deleted(old)
            return
        ref, old_ref = controller_ref(pod), controller_ref(old)
        if old_ref is not None and (ref is None or old_ref.uid != ref.uid):
            previous = self._resolve(old.metadata.namespace, old_ref)
            if previous is not None:
                self.queue.add(object_key(previous))
        if ref is not None:
            rs = self._resolve(pod.metadata.namespace, ref)
            if rs is not None:
                self.queue.add(object_key(rs))
            return
        if labels_changed or old_ref is not None:
            for rs in self._matching(pod):
                self.queue.add(object_key(rs))

    def _pod_deleted(self, pod: core_pb2.Pod) -> None:
        rs = self._resolve(pod.metadata.namespace, controller_ref(pod))
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # -------------------------------------------------------------- reconcile

    async def reconcile(self, key: str) -> None:
        rs: apps_pb2.ReplicaSet | None = self.replicasets.get(key)  # type: ignore[assignment]
        if rs is None:
            self.expectations.delete(key)
            return
        namespace = rs.metadata.namespace
        pods = [p for p in self.pods.items() if p.metadata.namespace == namespace]  # type: ignore[attr-defined]
        satisfied = self.expectations.satisfied(key)
        plan = plan_replicaset(rs, pods, satisfied, self.clock(), self.burst_replicas)  # type: ignore[arg-type]

        if plan.adopt or plan.release:
            if plan.adopt and not await self._can_adopt(rs):
                return  # the cached ReplicaSet is stale (deleted, or replaced): its events follow
            await self._claim(rs, plan)
        failure: BaseException | None = None
        try:
            if plan.create:
                await self._create(rs, key, plan.create)
            elif plan.delete:
                await self._delete(rs, key, plan.delete)
        except Exception as err:  # noqa: BLE001 -- status is still written; the key is retried
            failure = err
        if plan.status_changed:
            await self._write_status(rs, plan.status)
        if failure is not None:
            raise failure
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        if not satisfied:
            # A lost event must not stall the ReplicaSet: look again when it expires.
            self.queue.add_after(key, self.expectations.expires_in(key) + 0.1)

    async def _can_adopt(self, rs: apps_pb2.ReplicaSet) -> bool:
        """Re-read the ReplicaSet before adopting: a deleted one must not take Pods
        (client-go's RecheckDeletionTimestamp)."""
        try:
            fresh = await self.api.get("ReplicaSet", rs.metadata.name, rs.metadata.namespace)
        except Exception as err:
            if is_not_found(err):
                return False
            raise
        return fresh.metadata.uid == rs.metadata.uid and not is_deleting(fresh)  # type: ignore[attr-defined]

    async def _claim(self, rs: apps_pb2.ReplicaSet, plan: ReplicaSetPlan) -> None:
        async def adopt(pod: core_pb2.Pod) -> None:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            new.metadata.owner_references.append(new_controller_ref(rs))
            await self.api.update(new)
            log.info("adopted pod", replicaset=object_key(rs), pod=pod.metadata.name)

        async def release(pod: core_pb2.Pod) -> None:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            keep = [r for r in pod.metadata.owner_references if r.uid != rs.metadata.uid]
            del new.metadata.owner_references[:]
            new.metadata.owner_references.extend(keep)
            await self.api.update(new)
            log.info("released pod", replicaset=object_key(rs), pod=pod.metadata.name)

        results = await asyncio.gather(*(adopt(p) for p in plan.adopt), *(release(p) for p in plan.release),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException) and not is_not_found(r)]
        if errors:
            # A conflict means the Pod changed under us: decide again from a fresher cache.
            raise errors[0]

    async def _create(self, rs: apps_pb2.ReplicaSet, key: str, count: int) -> None:
        """Create `count` Pods in slow-start batches (1, 2, 4, ...; each batch one Batch
        call, its Creates answered one by one); expectations first, so that the informer
        events these creates cause cannot trigger more."""
        self.expectations.expect_creations(key, count)
        remaining, batch = count, SLOW_START_INITIAL_BATCH
        while remaining > 0:
            size = min(batch, remaining)
            results = await self._create_batch(rs, size)
            remaining -= size
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                # Neither the failed creates nor the skipped ones will ever be observed.
                for _ in range(len(failures) + remaining):
                    self.expectations.creation_observed(key)
                raise failures[0]
            batch *= 2

    async def _create_batch(self, rs: apps_pb2.ReplicaSet, size: int) -> list[Message | BaseException]:
        ops = [api_pb2.BatchOp(create=api_pb2.CreateRequest(object=wrap(pod_from_template(rs))))
               for _ in range(size)]
        try:
            results: list[Message | BaseException] = list(await self.api.batch(ops))
        except Exception as err:  # the call as a whole failed: so did every Create in it
            results = [err] * size
        for result in results:
            if isinstance(result, BaseException):
                self.recorder.record(rs, WARNING, "FailedCreate", f"Error creating: {describe(result)}")
            else:
                self.recorder.record(rs, NORMAL, "SuccessfulCreate", f"Created pod: {result.metadata.name}")  # type: ignore[attr-defined]
        return results

    async def _delete(self, rs: apps_pb2.ReplicaSet, key: str, pods: list[core_pb2.Pod]) -> None:
        self.expectations.expect_deletions(key, [object_key(p) for p in pods])
        results = await asyncio.gather(*(self._delete_one(rs, key, p) for p in pods), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def _delete_one(self, rs: apps_pb2.ReplicaSet, key: str, pod: core_pb2.Pod) -> None:
        try:
            await self.api.delete("Pod", pod.metadata.name, pod.metadata.namespace, uid=pod.metadata.uid)
        except Exception as err:
            self.expectations.deletion_observed(key, object_key(pod))
            if is_not_found(err) or is_conflict(err):
                return  # already gone (or replaced by a namesake): nothing to delete
            self.recorder.record(rs, WARNING, "FailedDelete", f"Error deleting: {describe(err)}")
            raise
        self.recorder.record(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")

    async def _write_status(self, rs: apps_pb2.ReplicaSet, status: apps_pb2.ReplicaSetStatus) -> None:
        """UpdateStatus; on a conflict (the spec changed meanwhile) once more on a fresh
        copy, as Kubernetes does: observedGeneration says which spec the status is about."""
        new = apps_pb2.ReplicaSet()
        new.CopyFrom(rs)
        for attempt in range(2):
            new.status.CopyFrom(status)
            try:
                await self.api.update_status(new)
                return
            except Exception as err:
                if is_not_found(err):
                    return
                if not is_conflict(err) or attempt == 1:
                    raise
            try:
                new = await self.api.get("ReplicaSet", rs.metadata.name, rs.metadata.namespace)  # type: ignore[assignment]
            except Exception as err:
                if is_not_found(err):
                    return
                raise
            if new.metadata.uid != rs.metadata.uid:
                return
