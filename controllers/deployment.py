"""The Deployment controller: a Deployment's Pod template and replica count
become ReplicaSets, rolled over by its strategy.

    Deployment / ReplicaSet / Pod informers ─> handlers enqueue the Deployment's key
        ─> reconcile(key): claim ReplicaSets (adopt orphans, release strays)
                           → controllers.rollout.plan_sync (pure: what to write)
                           → write it: ReplicaSets, the revision annotation, status

Each template gets its own ReplicaSet, named `<deployment>-<pod-template-hash>`;
a template change (a new image, `rollout restart`, `rollout undo`) is a new (or
an older, revived) ReplicaSet that the strategy scales up while the others are
scaled down: RollingUpdate within maxSurge/maxUnavailable, Recreate all old Pods
gone first. The ReplicaSet controller then makes Pods match each ReplicaSet and
reports their counts, which this controller reads back to decide the next step
and to compute the Deployment's status and conditions.

As in Kubernetes, the decisions live in one pure package (controllers/rollout/)
that is tested without processes; this module only gathers inputs from the
caches and carries the plan out. A write that loses a race (the cache lagged
our own earlier write) ends the sync quietly and the key comes back shortly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from google.protobuf.message import Message

from apimachinery.objects import controller_ref, is_deleting
from apimachinery.selectors import LabelSelector
from client.api import AsyncAPI, describe, is_already_exists, is_conflict, is_not_found
from client.events import EventRecorder
from client.informer import SharedInformers, object_key
from controllers import rollout
from controllers.base import Controller
from protos import apps_pb2, core_pb2

log = structlog.get_logger("deployment-controller")

# How soon a sync that lost an optimistic-concurrency race is retried: long
# enough for the informer to deliver our own previous write.
CONFLICT_RETRY = 0.05


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(api, informers, recorder)
        self.clock = clock
        self.deployments = informers.get("Deployment")
        self.replica_sets = informers.get("ReplicaSet")
        self.pods = informers.get("Pod")
        self.deployments.add_handler(self._on_deployment)
        self.replica_sets.add_handler(self._on_replica_set)
        self.pods.add_handler(self._on_pod)

    # ---------------------------------------------------------------- handlers

    def _on_deployment(self, event: str, obj: Message, old: Message | None) -> None:
        self.enqueue(obj)

    def _resolve(self, namespace: str, ref) -> apps_pb2.Deployment | None:  # type: ignore[no-untyped-def]
        """The cached Deployment a controller reference points at (same uid), if any."""
        if ref is None or ref.kind != "Deployment":
            return None
        d = self.deployments.get(f"{namespace}/{ref.name}")
        if d is None or d.metadata.uid != ref.uid:  # type: ignore[attr-defined]
            return None
        return d  # type: ignore[return-value]

    def _matching_deployments(self, rs: apps_pb2.ReplicaSet) -> list[apps_pb2.Deployment]:
        """Deployments that could adopt an orphaned ReplicaSet."""
        out = []
        for d in self.deployments.items():
            if d.metadata.namespace != rs.metadata.namespace:  # type: ignore[attr-defined]
                continue
            selector = d.spec.selector  # type: ignore[attr-defined]
            if not selector.match_labels and not selector.match_expressions:
                continue
            if LabelSelector.from_proto(selector).matches(rs.metadata.labels):
                out.append(d)
        return out  # type: ignore[return-value]

    def _on_replica_set(self, event: str, rs: apps_pb2.ReplicaSet, old: apps_pb2.ReplicaSet | None) -> None:  # type: ignore[override]
        ns = rs.metadata.namespace
        ref = controller_ref(rs)
        if event == "DELETED" or (event == "ADDED" and is_deleting(rs)):
            if (d := self._resolve(ns, ref)) is not None:
                self.enqueue(d)
            return
        if event == "MODIFIED" and old is not None:
            old_ref = controller_ref(old)
            ref_changed = (old_ref.uid if old_ref else "") != (ref.uid if ref else "")
            if ref_changed and (d := self._resolve(ns, old_ref)) is not None:
                self.enqueue(d)  # its former owner lost it
            if ref is not None:
                if (d := self._resolve(ns, ref)) is not None:
                    self.enqueue(d)
                return
            if ref_changed or rs.metadata.labels != old.metadata.labels:
                for d in self._matching_deployments(rs):
                    self.enqueue(d)
            return
        if ref is not None:
            if (d := self._resolve(ns, ref)) is not None:
                self.enqueue(d)
            return
        for d in self._matching_deployments(rs):  # an orphan: whoever may adopt it
            self.enqueue(d)

    def _on_pod(self, event: str, pod: core_pb2.Pod, old: core_pb2.Pod | None) -> None:  # type: ignore[override]
        """A Pod going away matters to Recreate (new Pods wait for the old ones to be
        gone); other Pod changes reach us through the ReplicaSet's status."""
        if event == "ADDED":
            return
        if event == "MODIFIED" and old is not None and pod.status.phase == old.status.phase \
                and is_deleting(pod) == is_deleting(old):
            return
        ref = controller_ref(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return
        rs = self.replica_sets.get(f"{pod.metadata.namespace}/{ref.name}")
        if rs is None or rs.metadata.uid != ref.uid:  # type: ignore[attr-defined]
            return
        if (d := self._resolve(pod.metadata.namespace, controller_ref(rs))) is not None:
            self.enqueue(d)

    # --------------------------------------------------------------- reconcile

    async def reconcile(self, key: str) -> None:
        d: apps_pb2.Deployment | None = self.deployments.get(key)  # type: ignore[assignment]
        if d is None:
            return  # deleted; the garbage collector removes its ReplicaSets
        ns = d.metadata.namespace
        in_namespace: list[apps_pb2.ReplicaSet] = [rs for rs in self.replica_sets.items()  # type: ignore[misc]
                                                   if rs.metadata.namespace == ns]  # type: ignore[attr-defined]
        owned, adopt, release = rollout.claim_replica_sets(d, in_namespace)
        try:
            owned += await self._adopt(d, adopt)
            await self._release(d, release)
        except Exception as err:
            if is_conflict(err) or is_not_found(err):
                self.queue.add_after(key, CONFLICT_RETRY)
                return
            raise
        pods_by_rs = {}
        if d.spec.strategy.type == rollout.RECREATE:
            pods = [p for p in self.pods.items() if p.metadata.namespace == ns]  # type: ignore[attr-defined]
            pods_by_rs = rollout.pod_map(owned, pods)  # type: ignore[arg-type]
        now = self.clock()
        plan = rollout.plan_sync(d, owned, pods_by_rs, now, {rs.metadata.name: rs for rs in in_namespace})
        await self._execute(key, d, plan, now)

    async def _adopt(self, d: apps_pb2.Deployment, candidates: list[apps_pb2.ReplicaSet]
                     ) -> list[apps_pb2.ReplicaSet]:
        if not candidates:
            return []
        # Adopt only if the Deployment is still the one we cached and not going away
        # (client-go's RecheckDeletionTimestamp): a quorum read, not the cache.
        fresh = await self.api.get("Deployment", d.metadata.name, d.metadata.namespace)
        if fresh.metadata.uid != d.metadata.uid or is_deleting(fresh):  # type: ignore[attr-defined]
            return []
        out = []
        for rs in candidates:
            updated = await self.api.update(rollout.adopted(rs, d))
            log.info("adopted replica set", deployment=object_key(d), replicaset=rs.metadata.name)
            out.append(updated)  # type: ignore[arg-type]
        return out  # type: ignore[return-value]

    async def _release(self, d: apps_pb2.Deployment, strays: list[apps_pb2.ReplicaSet]) -> None:
        for rs in strays:
            try:
                await self.api.update(rollout.released(rs, d))
                log.info("released replica set", deployment=object_key(d), replicaset=rs.metadata.name)
            except Exception as err:
                if not is_not_found(err):
                    raise

    async def _execute(self, key: str, d: apps_pb2.Deployment, plan: rollout.Plan, now: float) -> None:
        """Carry a plan out in order; record each write's events once it succeeded."""
        for write in plan.writes:
            rs = write.rs
            try:
                if write.op == "create":
                    await self.api.create(rs)
                    log.info("created replica set", deployment=key, replicaset=rs.metadata.name,
                             replicas=rs.spec.replicas)
                elif write.op == "update":
                    await self.api.update(rs)
                else:
                    await self.api.delete("ReplicaSet", rs.metadata.name, rs.metadata.namespace,
                                          uid=rs.metadata.uid)
                    log.info("deleted old replica set", deployment=key, replicaset=rs.metadata.name)
            except Exception as err:
                if write.op == "delete" and is_not_found(err):
                    continue
                if is_conflict(err) or is_already_exists(err) or is_not_found(err):
                    # Decided on a stale cache (typically our own last write not seen yet).
                    log.debug("stale cache, retrying", deployment=key, replicaset=rs.metadata.name,
                              op=write.op, error=describe(err))
                    self.queue.add_after(key, CONFLICT_RETRY)
                    return
                if write.op == "create":
                    await self._report_failed_create(d, rs.metadata.name, describe(err), now)
                raise
            for event_type, reason, message in write.events:
                self.recorder.record(d, event_type, reason, message)
        current = d
        try:
            if plan.deployment_update is not None:
                current = await self.api.update(plan.deployment_update)  # type: ignore[assignment]
            if plan.status is not None:
                status_update = rollout.copy(current)
                status_update.status.CopyFrom(plan.status)
                await self.api.update_status(status_update)
        except Exception as err:
            if is_conflict(err) or is_not_found(err):
                log.debug("stale cache, retrying", deployment=key, error=describe(err))
                self.queue.add_after(key, CONFLICT_RETRY)
                return
            raise
        for event_type, reason, message in plan.events:
            self.recorder.record(d, event_type, reason, message)
        if plan.error:
            raise RuntimeError(plan.error)  # retried with back-off, as Kubernetes does
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _report_failed_create(self, d: apps_pb2.Deployment, name: str, error: str, now: float) -> None:
        status, message = rollout.failed_create_status(d, name, error, now)
        self.recorder.record(d, "Warning", rollout.FAILED_RS_CREATE_REASON, message)
        if status is not None:
            update = rollout.copy(d)
            update.status.CopyFrom(status)
            try:
                await self.api.update_status(update)
            except Exception as err:  # the create error is the one to report
                log.warning("could not report failed create", deployment=object_key(d), error=describe(err))
