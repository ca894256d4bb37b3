"""The columns of ``get`` for the workload kinds: Deployment, ReplicaSet, DaemonSet,
StatefulSet, Job and CronJob (Kubernetes' printers; see :mod:`.columns`)."""

from __future__ import annotations

import datetime

from apimachinery.duration import human_duration
from apimachinery.tables import cells
from apimachinery.tables.cells import NONE, age
from apimachinery.tables.spec import AGE_COLUMN, CONTAINERS, IMAGES, NAME_COLUMN, Cell, Column, wide_column
from protos import apps_pb2, batch_pb2


def _template_columns(selector: str) -> tuple[Column, ...]:
    return (wide_column("Containers", CONTAINERS), wide_column("Images", IMAGES), wide_column("Selector", selector))


DEPLOYMENT_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="Number of the pod with ready state"),
    Column("Up-to-date", description="Total number of non-terminating pods targeted by this deployment that have "
                                     "the desired template spec."),
    Column("Available", description="Total number of available non-terminating pods (ready for at least "
                                    "minReadySeconds) targeted by this deployment."),
    AGE_COLUMN,
    *_template_columns("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                       "ones affected by this deployment. It must match the pod template's labels."),
)


def deployment_row(deployment: apps_pb2.Deployment, now: datetime.datetime) -> list[Cell]:
    spec, status = deployment.spec, deployment.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    return [deployment.metadata.name, f"{status.ready_replicas}/{desired}", status.updated_replicas,
            status.available_replicas, age(deployment.metadata.creation_timestamp, now),
            cells.container_names(spec.template), cells.container_images(spec.template),
            cells.format_selector(spec.selector)]


REPLICA_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Desired", "integer", "Replicas is the number of desired pods. This is a pointer to distinguish between "
                                 "explicit zero and unspecified. Defaults to 1."),
    Column("Current", "integer", "Replicas is the most recently observed number of non-terminating pods."),
    Column("Ready", "integer", "The number of non-terminating pods targeted by this ReplicaSet with a Ready "
                               "Condition."),
    AGE_COLUMN,
    *_template_columns("Selector is a label query over pods that should match the replica count. Label keys and "
                       "values that must match in order to be controlled by this replica set. It must match the "
                       "pod template's labels."),
)


def replica_set_row(replica_set: apps_pb2.ReplicaSet, now: datetime.datetime) -> list[Cell]:
    spec, status = replica_set.spec, replica_set.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    return [replica_set.metadata.name, desired, status.replicas, status.ready_replicas,
            age(replica_set.metadata.creation_timestamp, now), cells.container_names(spec.template),
            cells.container_images(spec.template), cells.format_selector(spec.selector)]


DAEMON_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Desired", "integer", "The total number of nodes that should be running the daemon pod (including "
                                 "nodes correctly running the daemon pod)."),
    Column("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to "
                                 "run the daemon pod."),
    Column("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod and have "
                               "one or more of the daemon pod running with a Ready Condition."),
    Column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    Column("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more "
                                   "of the daemon pod running and available (ready for at least "
                                   "spec.minReadySeconds)"),
    Column("Node Selector", description="NodeSelector is a selector which must be true for the pod to fit on a "
                                        "node. Selector which must match a node's labels for the pod to be "
                                        "scheduled on that node."),
    AGE_COLUMN,
    *_template_columns("A label query over pods that are managed by the daemon set. Must match in order to be "
                       "controlled. It must match the pod template's labels."),
)


def daemon_set_row(daemon_set: apps_pb2.DaemonSet, now: datetime.datetime) -> list[Cell]:
    spec, status = daemon_set.spec, daemon_set.status
    node_selector = cells.format_labels(spec.template.spec.node_selector)
    return [daemon_set.metadata.name, status.desired_number_scheduled, status.current_number_scheduled,
            status.number_ready, status.updated_number_scheduled, status.number_available, node_selector,
            age(daemon_set.metadata.creation_timestamp, now), cells.container_names(spec.template),
            cells.container_images(spec.template), cells.format_selector(spec.selector)]


STATEFUL_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="Number of the pod with ready state"),
    AGE_COLUMN,
    wide_column("Containers", CONTAINERS),
    wide_column("Images", IMAGES),
)


def stateful_set_row(stateful_set: apps_pb2.StatefulSet, now: datetime.datetime) -> list[Cell]:
    spec, status = stateful_set.spec, stateful_set.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    return [stateful_set.metadata.name, f"{status.ready_replicas}/{desired}",
            age(stateful_set.metadata.creation_timestamp, now), cells.container_names(spec.template),
            cells.container_images(spec.template)]


JOB_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="Status of the job."),
    Column("Completions", description="The number of pods which reached phase Succeeded. The value increases "
                                      "monotonically for a given spec. However, it may decrease in reaction to "
                                      "scale down of elastic indexed jobs."),
    Column("Duration", description="Time required to complete the job."),
    AGE_COLUMN,
    *_template_columns("A label query over pods that should match the pod count. Normally, the system sets this "
                       "field for you."),
)


def job_status(job: batch_pb2.Job) -> str:
    """printJob's STATUS: Complete, Failed, Terminating, Suspended, FailureTarget or Running."""
    conditions = job.status.conditions
    if cells.condition_true(conditions, "Complete"):
        return "Complete"
    if cells.condition_true(conditions, "Failed"):
        return "Failed"
    if job.metadata.HasField("deletion_timestamp"):
        return "Terminating"
    if cells.condition_true(conditions, "Suspended"):
        return "Suspended"
    if cells.condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_completions(spec: batch_pb2.JobSpec, succeeded: int) -> str:
    if spec.HasField("completions"):
        return f"{succeeded}/{spec.completions}"
    if spec.parallelism > 1:
        return f"{succeeded}/1 of {spec.parallelism}"
    return f"{succeeded}/1"


def job_duration(status: batch_pb2.JobStatus, now: datetime.datetime) -> str:
    if not status.HasField("start_time"):
        return ""
    start = status.start_time.ToDatetime(tzinfo=datetime.timezone.utc)
    end = status.completion_time.ToDatetime(tzinfo=datetime.timezone.utc) \
        if status.HasField("completion_time") else now
    return human_duration(end - start)


def job_row(job: batch_pb2.Job, now: datetime.datetime) -> list[Cell]:
    spec = job.spec
    return [job.metadata.name, job_status(job), job_completions(spec, job.status.succeeded),
            job_duration(job.status, now), age(job.metadata.creation_timestamp, now),
            cells.container_names(spec.template), cells.container_images(spec.template),
            cells.format_selector(spec.selector)]


CRON_JOB_COLUMNS = (
    NAME_COLUMN,
    Column("Schedule", description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    Column("Timezone", description="The time zone name for the given schedule, see "
                                   "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
    Column("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not "
                                 "apply to already started executions.  Defaults to false."),
    Column("Active", "integer", "A list of pointers to currently running jobs."),
    Column("Last Schedule", description="Information when was the last time the job was successfully scheduled."),
    AGE_COLUMN,
    *_template_columns("A label query over pods that should match the pod count. Normally, the system sets this "
                       "field for you."),
)


def cron_job_row(cron_job: batch_pb2.CronJob, now: datetime.datetime) -> list[Cell]:
    spec, status = cron_job.spec, cron_job.status
    template = spec.job_template.spec.template
    return [cron_job.metadata.name, spec.schedule, spec.time_zone if spec.HasField("time_zone") else NONE,
            ("True" if spec.suspend else "False") if spec.HasField("suspend") else cells.UNSET,
            len(status.active),
            age(status.last_schedule_time, now) if status.HasField("last_schedule_time") else NONE,
            age(cron_job.metadata.creation_timestamp, now), cells.container_names(template),
            cells.container_images(template), cells.format_selector(spec.job_template.spec.selector)]
