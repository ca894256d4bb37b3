"""The CronJob controller: create a Job at each scheduled time, as Kubernetes'
cronjob_controllerv2.go.

reconcile(key) reads the caches and asks a pure function, plan_cronjob(), what to do:

* status.active: the CronJob's Jobs (controller ownerReference; CronJobs adopt nothing)
  that have not finished; a Job that completed moves lastSuccessfulTime forward.
* schedule: the most recent scheduled time in (lastScheduleTime or creation, now],
  counted in spec.timeZone (UTC when unset; apimachinery/cron.py). With
  startingDeadlineSeconds, times older than now - deadline are not considered, and a
  time missed by more than the deadline is skipped (event MissSchedule). Only the most
  recent missed time runs: a controller that was down for an hour starts one Job, not
  sixty (more than 100 missed times: event TooManyMissedTimes).
* the Job is named <cronjob>-<scheduled time in minutes since the epoch>, so the same
  scheduled time never runs twice; it carries the jobTemplate's labels and annotations,
  the annotation batch.kubernetes.io/cronjob-scheduled-timestamp and a controller
  ownerReference to the CronJob.
* concurrencyPolicy: Allow runs Jobs side by side; Forbid skips a run while one is active
  (event JobAlreadyActive); Replace deletes the active Jobs first (Background propagation).
* spec.suspend: no new runs (active ones are left alone).
* history: finished Jobs beyond successfulJobsHistoryLimit (Complete) and
  failedJobsHistoryLimit (Failed) are deleted, oldest first.
* requeue: at the next scheduled time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import structlog
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.cron import CronError, next_after, parse, times_between
from apimachinery.objects import controller_ref, is_deleting
from client.api import AsyncAPI, describe, is_already_exists, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.job import finished
from protos import batch_pb2, meta_pb2

log = structlog.get_logger("cronjob-controller")

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def job_name(cronjob: batch_pb2.CronJob, scheduled: datetime) -> str:
    """Kubernetes' getJobName: the scheduled time in minutes since the epoch."""
    return f"{cronjob.metadata.name}-{int(scheduled.timestamp()) // 60}"


def job_reference(job: batch_pb2.Job) -> meta_pb2.ObjectReference:
    return meta_pb2.ObjectReference(kind="Job", namespace=job.metadata.namespace, name=job.metadata.name,
                                    uid=job.metadata.uid, api_version="batch/v1",
                                    resource_version=job.metadata.resource_version)


def owned_jobs(cronjob: batch_pb2.CronJob, jobs: Iterable[batch_pb2.Job]) -> list[batch_pb2.Job]:
    owned = []
    for job in jobs:
        ref = controller_ref(job)
        if (job.metadata.namespace == cronjob.metadata.namespace and ref is not None
                and ref.kind == "CronJob" and ref.uid == cronjob.metadata.uid):
            owned.append(job)
    return owned


def job_from_template(cronjob: batch_pb2.CronJob, scheduled: datetime) -> batch_pb2.Job:
    template = cronjob.spec.job_template
    job = batch_pb2.Job()
    job.metadata.name = job_name(cronjob, scheduled)
    job.metadata.namespace = cronjob.metadata.namespace
    job.metadata.labels.update(template.metadata.labels)
    job.metadata.annotations.update(template.metadata.annotations)
    job.metadata.annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = scheduled.astimezone(
        timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    job.metadata.owner_references.add(api_version="batch/v1", kind="CronJob", name=cronjob.metadata.name,
                                      uid=cronjob.metadata.uid, controller=True, block_owner_deletion=True)
    job.spec.CopyFrom(template.spec)
    return job


@dataclass
class CronJobPlan:
    create: batch_pb2.Job | None = None
    scheduled: datetime | None = None
    delete_active: list[batch_pb2.Job] = field(default_factory=list)  # concurrencyPolicy Replace
    delete_history: list[batch_pb2.Job] = field(default_factory=list)
    status: batch_pb2.CronJobStatus = field(default_factory=batch_pb2.CronJobStatus)
    status_changed: bool = False
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    requeue_after: float | None = None


def plan_cronjob(cronjob: batch_pb2.CronJob, jobs: Iterable[batch_pb2.Job], now: float) -> CronJobPlan:
    """What reconcile does for one CronJob, given every Job in its namespace."""
    plan = CronJobPlan()
    status = plan.status
    status.CopyFrom(cronjob.status)
    mine = owned_jobs(cronjob, jobs)
    _sync_active(status, mine, plan)
    plan.delete_history = history_to_delete(cronjob, mine)
    _schedule(cronjob, mine, now, plan)
    plan.status_changed = status != cronjob.status
    return plan


def _sync_active(status: batch_pb2.CronJobStatus, mine: list[batch_pb2.Job], plan: CronJobPlan) -> None:
    by_uid = {j.metadata.uid: j for j in mine}
    keep = []
    for ref in status.active:
        job = by_uid.get(ref.uid)
        if job is None:
            continue  # deleted
        if finished(job):
            plan.events.append((NORMAL, "SawCompletedJob", f"Saw completed job: {job.metadata.name}, "
                                f"status: {finished(job)}"))
            continue
        keep.append(ref)
    listed = {ref.uid for ref in keep}
    for job in sorted(mine, key=lambda j: j.metadata.name):
        if not finished(job) and not is_deleting(job) and job.metadata.uid not in listed:
            keep.append(job_reference(job))
    for job in mine:
        if finished(job) == "Complete" and job.status.HasField("completion_time"):
            if _seconds(job.status.completion_time) > _seconds(status.last_successful_time):
                status.last_successful_time.CopyFrom(job.status.completion_time)
    if list(status.active) != keep:
        del status.active[:]
        status.active.extend(keep)


def history_to_delete(cronjob: batch_pb2.CronJob, mine: list[batch_pb2.Job]) -> list[batch_pb2.Job]:
    """Finished Jobs beyond the history limits, oldest first."""
    doomed: list[batch_pb2.Job] = []
    for kind, limit in (("Complete", cronjob.spec.successful_jobs_history_limit),
                        ("Failed", cronjob.spec.failed_jobs_history_limit)):
        done = [j for j in mine if finished(j) == kind and not is_deleting(j)]
        done.sort(key=lambda j: (_seconds(j.status.start_time) or _seconds(j.metadata.creation_timestamp),
                                 j.metadata.name))
        doomed += done[:max(len(done) - limit, 0)]
    return doomed


def _schedule(cronjob: batch_pb2.CronJob, mine: list[batch_pb2.Job], now: float, plan: CronJobPlan) -> None:
    spec, status = cronjob.spec, plan.status
    if is_deleting(cronjob):
        return
    try:
        schedule = parse(spec.schedule)
        tz = spec.time_zone
        now_dt = _utc(now)
        upcoming = next_after(schedule, now_dt, tz)
    except CronError as err:
        plan.events.append((WARNING, "UnparseableSchedule", f"unparseable schedule: {spec.schedule!r} : {err}"))
        return
    if upcoming is not None:
        plan.requeue_after = max(upcoming.timestamp() - now, 0.0) + 0.1
    if spec.suspend:
        return
    earliest = _seconds(status.last_schedule_time) if status.HasField("last_schedule_time") \
        else _seconds(cronjob.metadata.creation_timestamp)
    if spec.HasField("starting_deadline_seconds"):
        earliest = max(earliest, now - spec.starting_deadline_seconds)
    missed, too_many = times_between(schedule, _utc(earliest), now_dt, tz, MAX_MISSED)
    if not missed:
        return
    if too_many:
        plan.events.append((WARNING, "TooManyMissedTimes",
                            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                            "or check clock skew"))
    scheduled = missed[-1]
    if spec.HasField("starting_deadline_seconds") and scheduled.timestamp() + spec.starting_deadline_seconds < now:
        plan.events.append((WARNING, "MissSchedule", f"Missed scheduled time to start a job: "
                            f"{scheduled.strftime('%Y-%m-%dT%H:%M:%SZ')}"))
        return
    name = job_name(cronjob, scheduled)
    if any(j.metadata.name == name for j in mine):
        return  # this scheduled time already ran
    if spec.concurrency_policy == "Forbid" and status.active:
        plan.events.append((NORMAL, "JobAlreadyActive", "Not starting job because prior execution is running "
                            "and concurrency policy is Forbid"))
        return
    if spec.concurrency_policy == "Replace":
        active = {ref.uid for ref in status.active}
        plan.delete_active = [j for j in mine if j.metadata.uid in active]
        del status.active[:]
    plan.create = job_from_template(cronjob, scheduled)
    plan.scheduled = scheduled


# ------------------------------------------------------------------ the controller

class CronJobController(Controller):
    name = "cronjob-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(api, informers, recorder)
        self.clock = clock
        self.cronjobs = informers.get("CronJob")
        self.jobs = informers.get("Job")
        self.cronjobs.add_handler(self._on_cronjob)
        self.jobs.add_handler(self._on_job)

    def _on_cronjob(self, event: str, obj: Message, old: Message | None) -> None:
        if event != "DELETED":
            self.queue.add(object_key(obj))

    def _on_job(self, event: str, obj: Message, old: Message | None) -> None:
        ref = controller_ref(obj)
        if ref is not None and ref.kind == "CronJob":
            self.queue.add(f"{obj.metadata.namespace}/{ref.name}")  # type: ignore[attr-defined]

    async def reconcile(self, key: str) -> None:
        cronjob: batch_pb2.CronJob | None = self.cronjobs.get(key)  # type: ignore[assignment]
        if cronjob is None:
            return
        namespace = cronjob.metadata.namespace
        jobs = [j for j in self.jobs.items() if j.metadata.namespace == namespace]  # type: ignore[attr-defined]
        plan = plan_cronjob(cronjob, jobs, self.clock())  # type: ignore[arg-type]
        for kind, reason, message in plan.events:
            self.recorder.record(cronjob, kind, reason, message)
        for job in plan.delete_active + plan.delete_history:
            await self._delete_job(cronjob, job)
        status = plan.status
        if plan.create is not None and plan.scheduled is not None:
            created = await self._create_job(cronjob, plan.create)
            if created is not None:
                status.active.append(job_reference(created))
            status.last_schedule_time.CopyFrom(_timestamp(plan.scheduled))
        if status != cronjob.status:
            new = batch_pb2.CronJob()
            new.CopyFrom(cronjob)
            new.status.CopyFrom(status)
            try:
                await self.api.update_status(new)
            except Exception as err:
                if not is_not_found(err):
                    raise
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _create_job(self, cronjob: batch_pb2.CronJob, job: batch_pb2.Job) -> batch_pb2.Job | None:
        try:
            created: batch_pb2.Job = await self.api.create(job)  # type: ignore[assignment]
        except Exception as err:
            if is_already_exists(err):
                return None  # this scheduled time already ran (the informer had not shown it yet)
            self.recorder.record(cronjob, WARNING, "FailedCreate", f"Error creating job: {describe(err)}")
            raise
        self.recorder.record(cronjob, NORMAL, "SuccessfulCreate", f"Created job {created.metadata.name}")
        return created

    async def _delete_job(self, cronjob: batch_pb2.CronJob, job: batch_pb2.Job) -> None:
        try:
            await self.api.delete("Job", job.metadata.name, job.metadata.namespace, uid=job.metadata.uid,
                                  propagation_policy="Background")
        except Exception as err:
            if is_not_found(err) or is_conflict(err):
                return
            self.recorder.record(cronjob, WARNING, "FailedDelete", f"Deleted job: {describe(err)}")
            raise
        self.recorder.record(cronjob, NORMAL, "SuccessfulDelete", f"Deleted job {job.metadata.name}")
