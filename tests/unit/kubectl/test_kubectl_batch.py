"""pykubectl get and describe for Jobs and CronJobs, against the fake API."""

from __future__ import annotations

import pytest
from kubectl_cluster_fake import ClusterFake
from kubectl_testlib import Harness, meta, run_verb, timestamp

from protos import batch_pb2

pytestmark = pytest.mark.usefixtures("utc")


def a_job() -> batch_pb2.Job:
    job = batch_pb2.Job(metadata=meta("pi", "default", 300))
    job.metadata.uid = "uid-pi"
    job.spec.parallelism, job.spec.completions, job.spec.backoff_limit = 1, 2, 6
    job.spec.completion_mode, job.spec.suspend = "NonIndexed", False
    job.spec.selector.match_labels["batch.kubernetes.io/controller-uid"] = "uid-pi"
    job.spec.template.spec.containers.add(name="pi", image="perl")
    job.status.start_time.CopyFrom(timestamp(290))
    job.status.completion_time.CopyFrom(timestamp(200))
    job.status.succeeded = 2
    job.status.conditions.add(type="Complete", status="True")
    return job


def a_cron_job() -> batch_pb2.CronJob:
    cj = batch_pb2.CronJob(metadata=meta("tick", "default", 7200))
    cj.spec.schedule, cj.spec.concurrency_policy, cj.spec.suspend = "*/5 * * * *", "Forbid", False
    cj.spec.successful_jobs_history_limit, cj.spec.failed_jobs_history_limit = 3, 1
    cj.spec.job_template.spec.template.spec.containers.add(name="t", image="busybox")
    cj.status.last_schedule_time.CopyFrom(timestamp(90))
    return cj


def run(cluster: ClusterFake, *args: str) -> str:
    h = Harness(cluster)
    assert run_verb(h, *args) == 0
    return h.stdout


def test_get_jobs_and_cronjobs_print_kubectls_columns() -> None:
    cluster = ClusterFake()
    cluster.add(a_job())
    cluster.add(a_cron_job())
    out = run(cluster, "get", "jobs")
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert out.splitlines()[1].split() == ["pi", "Complete", "2/2", "90s", "5m"]
    out = run(cluster, "get", "cj")
    assert out.splitlines()[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE",
                                           "AGE"]
    assert out.splitlines()[1].split() == ["tick", "*/5", "*", "*", "*", "*", "<none>", "False", "0", "90s", "120m"]


def test_describe_job_and_cronjob() -> None:
    cluster = ClusterFake()
    cluster.add(a_job())
    cluster.add(a_cron_job())
    out = run(cluster, "describe", "job", "pi")
    for line in ("Completions:      2", "Completion Mode:  NonIndexed", "Backoff Limit:    6",
                 "Pods Statuses:    0 Active (0 Ready) / 2 Succeeded / 0 Failed", "Duration:         90s"):
        assert line.split() == next(l for l in out.splitlines() if l.startswith(line.split(":")[0] + ":")).split()
    out = run(cluster, "describe", "cronjob", "tick")
    assert "Concurrency Policy:" in out and "Forbid" in out and "Last Schedule Time:" in out
