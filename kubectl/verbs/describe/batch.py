"""describe job and cronjob, as kubectl's describeJob and describeCronJob."""

from __future__ import annotations

from typing import Sequence

from apimachinery.duration import human_duration
from apimachinery.tables.cells import NONE, UNSET, format_selector
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter, rfc1123z
from kubectl.verbs.describe.common import (LEVEL_0, annotations_multiline, controlled_by, describe_events,
                                           go_bool, labels_multiline)
from kubectl.verbs.describe.pods import describe_pod_template
from protos import batch_pb2, core_pb2


def _job_spec(w: PrefixWriter, spec: batch_pb2.JobSpec) -> None:
    w.write(LEVEL_0, f"Parallelism:\t{spec.parallelism if spec.HasField('parallelism') else UNSET}\n")
    w.write(LEVEL_0, f"Completions:\t{spec.completions if spec.HasField('completions') else UNSET}\n")
    w.write(LEVEL_0, f"Completion Mode:\t{spec.completion_mode or 'NonIndexed'}\n")
    w.write(LEVEL_0, f"Suspend:\t{go_bool(spec.suspend)}\n")
    w.write(LEVEL_0, f"Backoff Limit:\t{spec.backoff_limit}\n")
    if spec.HasField("ttl_seconds_after_finished"):
        w.write(LEVEL_0, f"TTL Seconds After Finished:\t{spec.ttl_seconds_after_finished}\n")
    if spec.HasField("active_deadline_seconds"):
        w.write(LEVEL_0, f"Active Deadline Seconds:\t{spec.active_deadline_seconds}s\n")


def _job_template(w: PrefixWriter, spec: batch_pb2.JobSpec) -> None:
    """kubectl's describeJobTemplate: a CronJob's jobTemplate, fewer lines than a Job's spec."""
    selector = format_selector(spec.selector) if spec.HasField("selector") else UNSET
    w.write(LEVEL_0, f"Selector:\t{selector}\n")
    w.write(LEVEL_0, f"Parallelism:\t{spec.parallelism if spec.HasField('parallelism') else UNSET}\n")
    w.write(LEVEL_0, f"Completions:\t{spec.completions if spec.HasField('completions') else UNSET}\n")
    if spec.HasField("active_deadline_seconds"):
        w.write(LEVEL_0, f"Active Deadline Seconds:\t{spec.active_deadline_seconds}s\n")


def describe_job(ctx: Context, job: batch_pb2.Job, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = job.metadata, job.spec, job.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    owner = controlled_by(job)
    if owner:
        w.write(LEVEL_0, f"Controlled By:\t{owner}\n")
    _job_spec(w, spec)
    if status.HasField("start_time"):
        w.write(LEVEL_0, f"Start Time:\t{rfc1123z(status.start_time)}\n")
    if status.HasField("completion_time"):
        w.write(LEVEL_0, f"Completed At:\t{rfc1123z(status.completion_time)}\n")
    if status.HasField("start_time") and status.HasField("completion_time"):
        elapsed = status.completion_time.ToDatetime() - status.start_time.ToDatetime()
        w.write(LEVEL_0, f"Duration:\t{human_duration(elapsed)}\n")
    ready = f" ({status.ready} Ready)" if status.HasField("ready") else ""  # kubectl: only when set
    w.write(LEVEL_0, f"Pods Statuses:\t{status.active} Active{ready} / {status.succeeded} "
                     f"Succeeded / {status.failed} Failed\n")
    describe_pod_template(spec.template, w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def describe_cron_job(ctx: Context, cron_job: batch_pb2.CronJob, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = cron_job.metadata, cron_job.spec, cron_job.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Schedule:\t{spec.schedule}\n")
    w.write(LEVEL_0, f"Concurrency Policy:\t{spec.concurrency_policy}\n")
    w.write(LEVEL_0, f"Suspend:\t{'True' if spec.suspend else 'False'}\n")
    w.write(LEVEL_0, f"Time Zone:\t{spec.time_zone if spec.HasField('time_zone') else UNSET}\n")
    w.write(LEVEL_0, f"Successful Job History Limit:\t{spec.successful_jobs_history_limit}\n")
    w.write(LEVEL_0, f"Failed Job History Limit:\t{spec.failed_jobs_history_limit}\n")
    deadline = f"{spec.starting_deadline_seconds}s" if spec.HasField("starting_deadline_seconds") else UNSET
    w.write(LEVEL_0, f"Starting Deadline Seconds:\t{deadline}\n")
    _job_template(w, spec.job_template.spec)
    describe_pod_template(spec.job_template.spec.template, w)
    last = rfc1123z(status.last_schedule_time) if status.HasField("last_schedule_time") else UNSET
    w.write(LEVEL_0, f"Last Schedule Time:\t{last}\n")
    w.write(LEVEL_0, f"Active Jobs:\t{', '.join(ref.name for ref in status.active) or NONE}\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()
