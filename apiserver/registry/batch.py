"""Jobs and CronJobs (batch/v1): defaults, validation and the generated selector, as
Kubernetes' job and cronjob strategies.

A Job without ``manualSelector: true`` gets its selector from the server:
``batch.kubernetes.io/controller-uid=<uid>``, and its template the labels
``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name`` and their legacy
twins ``controller-uid``, ``job-name``. Its template is immutable after create (and so are
its selector and completions). A CronJob's schedule must parse (apimachinery/cron.py) and
its timeZone must be a known IANA zone."""

from __future__ import annotations

from apimachinery.cron import CronError, parse, zone
from apimachinery.selectors import LabelSelector, SelectorError
from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from apiserver.registry.pod import default_pod_spec, validate_pod_spec
from apiserver.registry.workloads import validate_selector
from protos import batch_pb2

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
JOB_RESTART_POLICIES = ("OnFailure", "Never")
COMPLETION_MODES = ("NonIndexed",)  # Indexed is not implemented
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
DEFAULT_BACKOFF_LIMIT = 6
# A CronJob's name leaves room for the "-<minutes>" suffix of its Jobs (11 characters).
CRONJOB_NAME_MAX = 52


def default_job_spec(spec: batch_pb2.JobSpec) -> None:
    """Kubernetes' SetDefaults_Job (also applied to a CronJob's jobTemplate)."""
    if not spec.HasField("completions") and not spec.HasField("parallelism"):
        spec.completions = 1
        spec.parallelism = 1
    if not spec.HasField("parallelism"):
        spec.parallelism = 1
    if not spec.HasField("backoff_limit"):
        spec.backoff_limit = DEFAULT_BACKOFF_LIMIT
    if not spec.completion_mode:
        spec.completion_mode = "NonIndexed"
    if not spec.HasField("suspend"):
        spec.suspend = False
    default_pod_spec(spec.template.spec)


def generate_selector(job: batch_pb2.Job) -> None:
    """The selector and template labels of a Job whose selector the server picks; labels
    the user already set are kept (validation refuses a wrong one)."""
    labels = job.spec.template.metadata.labels
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, job.metadata.name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, job.metadata.uid)
    job.spec.selector.match_labels.setdefault(CONTROLLER_UID_LABEL, job.metadata.uid)


def validate_job_spec(spec: batch_pb2.JobSpec, path: str) -> list[v.FieldError]:
    """The rules a Job's spec and a CronJob's jobTemplate.spec share."""
    errs: list[v.FieldError] = []
    errs += v.non_negative(f"{path}.parallelism", spec.parallelism)
    errs += v.non_negative(f"{path}.completions", spec.completions)
    errs += v.non_negative(f"{path}.backoffLimit", spec.backoff_limit)
    if spec.HasField("active_deadline_seconds") and spec.active_deadline_seconds <= 0:
        errs.append(v.invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds,
                              "must be greater than 0"))
    errs += v.non_negative(f"{path}.ttlSecondsAfterFinished", spec.ttl_seconds_after_finished)
    if spec.completion_mode not in COMPLETION_MODES:
        errs.append(v.unsupported(f"{path}.completionMode", spec.completion_mode, COMPLETION_MODES))
    errs += v.labels(f"{path}.template.metadata.labels", spec.template.metadata.labels)
    errs += validate_pod_spec(spec.template.spec, f"{path}.template.spec")
    if spec.template.spec.restart_policy not in JOB_RESTART_POLICIES:
        errs.append(v.unsupported(f"{path}.template.spec.restartPolicy", spec.template.spec.restart_policy,
                                  JOB_RESTART_POLICIES))
    return errs


class JobStrategy(Strategy):
    kind = "Job"

    def default(self, obj: batch_pb2.Job) -> None:
        default_job_spec(obj.spec)
        if not obj.spec.manual_selector:
            generate_selector(obj)

    def validate(self, obj: batch_pb2.Job) -> list[v.FieldError]:
        spec = obj.spec
        errs = validate_job_spec(spec, "spec")
        selector = spec.selector
        if not selector.match_labels and not selector.match_expressions:
            errs.append(v.required("spec.selector"))
            return errs
        errs += validate_selector(selector, "spec.selector")
        if not spec.manual_selector:
            labels = spec.template.metadata.labels
            if labels.get(CONTROLLER_UID_LABEL) != obj.metadata.uid:
                errs.append(v.invalid(f"spec.template.metadata.labels[{CONTROLLER_UID_LABEL}]",
                                      labels.get(CONTROLLER_UID_LABEL, ""), f"must be '{obj.metadata.uid}'"))
            if selector.match_labels.get(CONTROLLER_UID_LABEL) != obj.metadata.uid:
                errs.append(v.invalid("spec.selector", str(_selector(selector)), "`selector` not auto-generated"))
        if not errs:
            try:
                matches = LabelSelector.from_proto(selector).matches(spec.template.metadata.labels)
            except SelectorError as err:
                errs.append(v.invalid("spec.selector", "", str(err)))
            else:
                if not matches:
                    errs.append(v.invalid("spec.template.metadata.labels", dict(spec.template.metadata.labels),
                                          "`selector` does not match template `labels`"))
        return errs

    def validate_update(self, new: batch_pb2.Job, old: batch_pb2.Job) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        if new.spec.selector != old.spec.selector:
            errs.append(v.immutable("spec.selector", str(_selector(new.spec.selector))))
        if new.spec.template != old.spec.template:
            errs.append(v.immutable("spec.template", "core.PodTemplateSpec{...}"))
        if new.spec.completions != old.spec.completions:
            errs.append(v.immutable("spec.completions", new.spec.completions))
        if new.spec.completion_mode != old.spec.completion_mode:
            errs.append(v.immutable("spec.completionMode", new.spec.completion_mode))
        return errs


class CronJobStrategy(Strategy):
    kind = "CronJob"

    def default(self, obj: batch_pb2.CronJob) -> None:
        spec = obj.spec
        if not spec.concurrency_policy:
            spec.concurrency_policy = "Allow"
        if not spec.HasField("suspend"):
            spec.suspend = False
        if not spec.HasField("successful_jobs_history_limit"):
            spec.successful_jobs_history_limit = 3
        if not spec.HasField("failed_jobs_history_limit"):
            spec.failed_jobs_history_limit = 1
        default_job_spec(spec.job_template.spec)

    def validate_name(self, name: str) -> list[v.FieldError]:
        errs = super().validate_name(name)
        if len(name) > CRONJOB_NAME_MAX:
            errs.append(v.invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters"))
        return errs

    def validate(self, obj: batch_pb2.CronJob) -> list[v.FieldError]:
        spec = obj.spec
        errs: list[v.FieldError] = []
        if not spec.schedule:
            errs.append(v.required("spec.schedule"))
        elif "TZ=" in spec.schedule:
            errs.append(v.invalid("spec.schedule", spec.schedule,
                                  "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
        else:
            try:
                parse(spec.schedule)
            except CronError as err:
                errs.append(v.invalid("spec.schedule", spec.schedule, str(err)))
        if spec.HasField("time_zone"):
            try:
                zone(spec.time_zone)
                if not spec.time_zone:
                    raise CronError("unknown time zone")
            except CronError as err:
                errs.append(v.invalid("spec.timeZone", spec.time_zone, str(err)))
        if spec.concurrency_policy not in CONCURRENCY_POLICIES:
            errs.append(v.unsupported("spec.concurrencyPolicy", spec.concurrency_policy, CONCURRENCY_POLICIES))
        errs += v.non_negative("spec.startingDeadlineSeconds", spec.starting_deadline_seconds)
        errs += v.non_negative("spec.successfulJobsHistoryLimit", spec.successful_jobs_history_limit)
        errs += v.non_negative("spec.failedJobsHistoryLimit", spec.failed_jobs_history_limit)
        job_spec = spec.job_template.spec
        errs += validate_job_spec(job_spec, "spec.jobTemplate.spec")
        if not job_spec.manual_selector and (job_spec.selector.match_labels or job_spec.selector.match_expressions):
            errs.append(v.invalid("spec.jobTemplate.spec.selector", str(_selector(job_spec.selector)),
                                  "`selector` will be auto-generated"))
        errs += v.labels("spec.jobTemplate.metadata.labels", spec.job_template.metadata.labels)
        return errs


def _selector(selector) -> str:
    try:
        return str(LabelSelector.from_proto(selector))
    except SelectorError:
        return ""


STRATEGIES = (JobStrategy, CronJobStrategy)
