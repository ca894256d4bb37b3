"""The Job controller: run a Job's Pods until enough of them succeed, or the Job fails.

As Kubernetes' job_controller.go (NonIndexed completion mode), reconcile(key) reads the
caches and asks a pure function, plan_job(), what to do:

* claim: the Job's own Pods (controller ownerReference), and orphans matching its
  selector (adopted), as the ReplicaSet controller claims (controllers/replicaset.py).
* count: active (not finished, not being deleted), succeeded and failed Pods. The counts
  never go down: a finished Pod that is deleted stays counted (Kubernetes keeps them
  with its tracking finalizer; pykube keeps the larger of the status and the Pods).
* fail: more failures than spec.backoffLimit (with restartPolicy OnFailure, container
  restarts of active Pods count as failures too) → condition Failed, reason
  BackoffLimitExceeded; running longer than spec.activeDeadlineSeconds from startTime →
  Failed, reason DeadlineExceeded. The active Pods are deleted (and counted failed).
* complete: spec.completions Pods succeeded (completions unset: one succeeded and none
  active) → condition Complete, completionTime; surplus active Pods are deleted.
* suspend: spec.suspend deletes the active Pods (condition Suspended, JobSuspended);
  resuming resets startTime (JobResumed).
* run: keep min(parallelism, completions - succeeded) Pods active (completions unset:
  parallelism until one succeeds). After failures, new Pods wait a back-off of
  10 s · 2^(failures-1), at most 6 minutes, from the last failure.
* ttlSecondsAfterFinished: a finished Job is deleted that many seconds after it
  finished, with Background propagation (the garbage collector removes its Pods).

Not implemented: Indexed completion mode, podFailurePolicy, successPolicy,
podReplacementPolicy, maxFailedIndexes, and the FailureTarget/SuccessCriteriaMet
interim conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.objects import controller_ref, is_deleting, new_controller_ref
from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.expectations import Expectations
from controllers.pod_template import pod_from_template
from controllers.replicaset import claim_pods, is_active, is_ready, pods_to_delete
from protos import batch_pb2, core_pb2, meta_pb2

log = structlog.get_logger("job-controller")

BACKOFF_BASE_SECONDS = 10.0  # Kubernetes' DefaultJobPodFailureBackOff
BACKOFF_MAX_SECONDS = 360.0  # MaxJobPodFailureBackOff
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
COMPLETE_MESSAGE = "Reached expected number of succeeded pods"


# ------------------------------------------------------------------ helpers

def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _timestamp(moment: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(moment * 1e9))
    return ts


def condition(job: batch_pb2.Job | batch_pb2.JobStatus, kind: str) -> meta_pb2.Condition | None:
    status = job.status if isinstance(job, batch_pb2.Job) else job
    return next((c for c in status.conditions if c.type == kind), None)


def finished(job: batch_pb2.Job | batch_pb2.JobStatus) -> str:
    """"Complete" or "Failed" when the Job finished, else ""."""
    for kind in ("Complete", "Failed"):
        found = condition(job, kind)
        if found is not None and found.status == "True":
            return kind
    return ""


def finish_time(job: batch_pb2.Job | batch_pb2.JobStatus) -> float | None:
    kind = finished(job)
    if not kind:
        return None
    return _seconds(condition(job, kind).last_transition_time)  # type: ignore[union-attr]


def backoff_delay(failures: int) -> float:
    """How long a new Pod waits after the failures-th failure: 10 s, 20 s, 40 s, ... 6 min."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_BASE_SECONDS * 2 ** min(failures - 1, 16), BACKOFF_MAX_SECONDS)


def failed_at(pod: core_pb2.Pod) -> float:
    """When a failed Pod finished: its containers' latest finishedAt, else its creation."""
    ends = [_seconds(s.state.terminated.finished_at) for s in pod.status.container_statuses
            if s.state.HasField("terminated") and s.state.terminated.HasField("finished_at")]
    return max(ends) if ends else _seconds(pod.metadata.creation_timestamp)


def _set_condition(status: batch_pb2.JobStatus, kind: str, value: str, reason: str, message: str,
                   now: float) -> None:
    """Set a condition; its lastTransitionTime changes only when its status does."""
    found = condition(status, kind)
    if found is None:
        found = status.conditions.add(type=kind)
    elif found.status == value and found.reason == reason:
        return
    if found.status != value:
        found.last_transition_time.CopyFrom(_timestamp(now))
    found.status, found.reason, found.message = value, reason, message
    found.last_probe_time.CopyFrom(_timestamp(now))


# ------------------------------------------------------------------ deciding

@dataclass
class JobPlan:
    adopt: list[core_pb2.Pod] = field(default_factory=list)
    release: list[core_pb2.Pod] = field(default_factory=list)
    create: int = 0
    delete: list[core_pb2.Pod] = field(default_factory=list)
    status: batch_pb2.JobStatus = field(default_factory=batch_pb2.JobStatus)
    status_changed: bool = False
    # Why the Job finished in this reconcile, for the Event: ("Completed" | reason, message).
    finished_now: tuple[str, str] | None = None
    delete_job: bool = False  # ttlSecondsAfterFinished has passed
    requeue_after: float | None = None


def plan_job(job: batch_pb2.Job, pods: Iterable[core_pb2.Pod], expectations_satisfied: bool,
             now: float) -> JobPlan:
    """What reconcile does for one Job, given every Pod in its namespace."""
    claim = claim_pods(job, pods)  # type: ignore[arg-type] -- a Job has the same selector shape
    owned = claim.owned + claim.adopt
    plan = JobPlan(adopt=claim.adopt, release=claim.release)
    status = batch_pb2.JobStatus()
    status.CopyFrom(job.status)
    plan.status = status
    spec = job.spec
    active = [p for p in owned if is_active(p)]
    failed_pods = [p for p in owned if p.status.phase == "Failed"]
    succeeded = max(status.succeeded, sum(1 for p in owned if p.status.phase == "Succeeded"))
    failed = max(status.failed, len(failed_pods))
    waits: list[float] = []

    if finished(job):
        status.active, status.ready = len(active), sum(1 for p in active if is_ready(p))
        status.succeeded, status.failed = succeeded, failed
        plan.delete = active if expectations_satisfied else []
    elif not is_deleting(job):
        _decide(job, plan, active, failed_pods, succeeded, failed, expectations_satisfied, now, waits)

    ttl_wait = _ttl(job, status, now, plan)
    if ttl_wait is not None:
        waits.append(ttl_wait)
    plan.status_changed = status != job.status
    plan.requeue_after = max(min(waits), 0.0) + 0.05 if waits else None
    return plan


def _decide(job: batch_pb2.Job, plan: JobPlan, active: list[core_pb2.Pod], failed_pods: list[core_pb2.Pod],
            succeeded: int, failed: int, satisfied: bool, now: float, waits: list[float]) -> None:
    spec, status = job.spec, plan.status
    suspended = spec.suspend
    if suspended:
        was = condition(status, "Suspended")
        if was is None or was.status != "True":
            _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now)
    else:
        was = condition(status, "Suspended")
        if was is not None and was.status == "True":
            _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
            status.start_time.CopyFrom(_timestamp(now))
        if not status.HasField("start_time"):
            status.start_time.CopyFrom(_timestamp(now))

    restarts = 0
    if spec.template.spec.restart_policy == "OnFailure":
        restarts = sum(s.restart_count for p in active for s in p.status.container_statuses)
    failure: tuple[str, str] | None = None
    if failed + restarts > spec.backoff_limit:
        failure = ("BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE)
    elif spec.HasField("active_deadline_seconds") and status.HasField("start_time") and not suspended:
        deadline = _seconds(status.start_time) + spec.active_deadline_seconds
        if now >= deadline:
            failure = ("DeadlineExceeded", DEADLINE_MESSAGE)
        else:
            waits.append(deadline - now)

    complete = False
    if failure is None:
        if spec.HasField("completions"):
            complete = succeeded >= spec.completions
        else:
            complete = succeeded > 0 and not active

    if failure is not None:
        plan.delete = active if satisfied else []
        failed += len(plan.delete)
        _set_condition(status, "Failed", "True", failure[0], failure[1], now)
        plan.finished_now = failure
    elif complete:
        plan.delete = active if satisfied else []
        _set_condition(status, "Complete", "True", "CompletionsReached", COMPLETE_MESSAGE, now)
        status.completion_time.CopyFrom(_timestamp(now))
        plan.finished_now = ("Completed", "Job completed")
    elif suspended:
        plan.delete = active if satisfied else []
    elif satisfied:
        want = spec.parallelism
        if spec.HasField("completions"):
            want = min(want, max(spec.completions - succeeded, 0))
        elif succeeded > 0:
            want = len(active)
        diff = len(active) - want
        if diff > 0:
            plan.delete = pods_to_delete(active, diff)
        elif diff < 0:
            last_failure = max((failed_at(p) for p in failed_pods), default=None)
            ready_at = last_failure + backoff_delay(failed) if last_failure is not None else now
            if now >= ready_at:
                plan.create = -diff
            else:
                waits.append(ready_at - now)
    remaining = [p for p in active if p not in plan.delete]
    status.active = len(remaining)  # Pods being created show up (and are counted) as they are added
    status.ready = sum(1 for p in remaining if is_ready(p))
    status.succeeded, status.failed = succeeded, failed


def _ttl(job: batch_pb2.Job, status: batch_pb2.JobStatus, now: float, plan: JobPlan) -> float | None:
    """Seconds until the finished Job's TTL runs out (plan.delete_job when it has)."""
    if not job.spec.HasField("ttl_seconds_after_finished") or is_deleting(job):
        return None
    done = finish_time(status)
    if done is None:
        return None
    expires = done + job.spec.ttl_seconds_after_finished
    if now >= expires:
        plan.delete_job = True
        return None
    return expires - now


# ------------------------------------------------------------------ the controller

class JobController(Controller):
    name = "job-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder, *,
                 expectations: Expectations | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(api, informers, recorder)
        self.expectations = expectations or Expectations()
        self.clock = clock
        self.jobs = informers.get("Job")
        self.pods = informers.get("Pod")
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_pod)

    def _on_job(self, event: str, obj: Message, old: Message | None) -> None:
        key = object_key(obj)
        if event == "DELETED":
            self.expectations.delete(key)
            return
        self.queue.add(key)

    def _owner_key(self, pod: core_pb2.Pod) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.kind != "Job":
            return None
        job = self.jobs.get(f"{pod.metadata.namespace}/{ref.name}")
        if job is None or job.metadata.uid != ref.uid:  # type: ignore[attr-defined]
            return None
        return object_key(job)

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        for candidate in (pod, old):
            if candidate is None:
                continue
            key = self._owner_key(candidate)  # type: ignore[arg-type]
            if key is None:
                continue
            if event == "ADDED":
                self.expectations.creation_observed(key)
            if event == "DELETED" or is_deleting(pod):
                self.expectations.deletion_observed(key, object_key(pod))
            self.queue.add(key)
            return
        if controller_ref(pod) is None and not is_deleting(pod):
            for job in self.jobs.items():
                if job.metadata.namespace == pod.metadata.namespace and claim_pods(job, [pod]).adopt:  # type: ignore[arg-type,attr-defined]
                    self.queue.add(object_key(job))

    async def reconcile(self, key: str) -> None:
        job: batch_pb2.Job | None = self.jobs.get(key)  # type: ignore[assignment]
        if job is None:
            self.expectations.delete(key)
            return
        namespace = job.metadata.namespace
        pods = [p for p in self.pods.items() if p.metadata.namespace == namespace]  # type: ignore[attr-defined]
        satisfied = self.expectations.satisfied(key)
        plan = plan_job(job, pods, satisfied, self.clock())  # type: ignore[arg-type]
        if plan.delete_job:
            await self._delete_job(job)
            return
        if plan.adopt or plan.release:
            await self._claim(job, plan)
        failure: BaseException | None = None
        try:
            if plan.create:
                await self._create(job, key, plan.create)
            if plan.delete:
                await self._delete(job, key, plan.delete)
        except Exception as err:  # noqa: BLE001 -- status is still written; the key is retried
            failure = err
        written = await self.write_status(job, plan.status) if plan.status_changed else True
        if plan.finished_now is not None and written:
            reason, message = plan.finished_now
            self.recorder.record(job, NORMAL if reason == "Completed" else WARNING, reason, message)
        if failure is not None:
            raise failure
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        if not satisfied:
            self.queue.add_after(key, self.expectations.expires_in(key) + 0.1)

    async def _claim(self, job: batch_pb2.Job, plan: JobPlan) -> None:
        async def change(pod: core_pb2.Pod, adopt: bool) -> None:
            new = core_pb2.Pod()
            new.CopyFrom(pod)
            keep = [r for r in pod.metadata.owner_references if r.uid != job.metadata.uid]
            del new.metadata.owner_references[:]
            new.metadata.owner_references.extend(keep + ([new_controller_ref(job)] if adopt else []))
            await self.api.update(new)

        results = await asyncio.gather(*(change(p, True) for p in plan.adopt),
                                       *(change(p, False) for p in plan.release), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException) and not is_not_found(r)]
        if errors:
            raise errors[0]

    async def _create(self, job: batch_pb2.Job, key: str, count: int) -> None:
        self.expectations.expect_creations(key, count)
        results = await asyncio.gather(*(self.api.create(pod_from_template(job)) for _ in range(count)),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for result in results:
            if isinstance(result, BaseException):
                self.expectations.creation_observed(key)
                self.recorder.record(job, WARNING, "FailedCreate", f"Error creating: {describe(result)}")
            else:
                self.recorder.record(job, NORMAL, "SuccessfulCreate",
                                     f"Created pod: {result.metadata.name}")  # type: ignore[attr-defined]
        if failures:
            raise failures[0]

    async def _delete(self, job: batch_pb2.Job, key: str, pods: list[core_pb2.Pod]) -> None:
        self.expectations.expect_deletions(key, [object_key(p) for p in pods])

        async def one(pod: core_pb2.Pod) -> None:
            try:
                await self.api.delete("Pod", pod.metadata.name, pod.metadata.namespace, uid=pod.metadata.uid)
            except Exception as err:
                self.expectations.deletion_observed(key, object_key(pod))
                if is_not_found(err) or is_conflict(err):
                    return
                self.recorder.record(job, WARNING, "FailedDelete", f"Error deleting: {describe(err)}")
                raise
            self.recorder.record(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def _delete_job(self, job: batch_pb2.Job) -> None:
        """ttlSecondsAfterFinished ran out: delete the Job; the garbage collector its Pods."""
        try:
            await self.api.delete("Job", job.metadata.name, job.metadata.namespace, uid=job.metadata.uid,
                                  propagation_policy="Background")
        except Exception as err:
            if is_not_found(err) or is_conflict(err):
                return
            raise
        log.info("deleted finished job (ttlSecondsAfterFinished)", job=object_key(job))
