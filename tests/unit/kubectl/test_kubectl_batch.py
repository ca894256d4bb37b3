"""pykubectl get and describe for Jobs and CronJobs, against the fake API."""

from __future__ import annotations

import pytest
from kubectl_cluster_fake import ClusterFake
from kubectl_testlib import Harness, meta, run_verb, timestamp

from kubectl.errors import CliError
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
                 "Pods Statuses:    0 Active / 2 Succeeded / 0 Failed", "Duration:         90s"):
        assert line.split() == next(l for l in out.splitlines() if l.startswith(line.split(":")[0] + ":")).split()
    ready = a_job()
    ready.metadata.name, ready.status.ready, ready.status.active = "ready", 1, 1
    cluster.add(ready)
    assert "Pods Statuses:    1 Active (1 Ready) / 2 Succeeded / 0 Failed" in run(cluster, "describe", "job", "ready")
    out = run(cluster, "describe", "cronjob", "tick")
    assert "Concurrency Policy:" in out and "Forbid" in out and "Last Schedule Time:" in out
    # kubectl's describeJobTemplate: <unset> for what the jobTemplate leaves out, no Job-only lines.
    for line in ("Time Zone:                     <unset>", "Starting Deadline Seconds:     <unset>",
                 "Selector:                      <unset>", "Parallelism:                   <unset>"):
        assert line in out
    assert "Backoff Limit" not in out and "Completion Mode" not in out


def test_create_job_and_cronjob_from_flags() -> None:
    import yaml
    cluster = ClusterFake()
    out = run(cluster, "create", "job", "pi", "--image=perl", "--dry-run=client", "-o", "yaml", "--",
              "perl", "-e", "print 1")
    job = yaml.safe_load(out)
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == ("batch/v1", "Job", "pi")
    assert job["spec"]["template"]["spec"] == {
        "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "print 1"]}],
        "restartPolicy": "Never"}
    out = run(cluster, "create", "cronjob", "hello", "--image=busybox", "--schedule=*/1 * * * *",
              "--dry-run=client", "-o", "yaml", "--", "date")
    cron_job = yaml.safe_load(out)
    assert cron_job["spec"]["schedule"] == "*/1 * * * *"
    assert cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert run(cluster, "create", "cronjob", "hello", "--image=busybox", "--schedule=*/1 * * * *").strip() == \
        "cronjob.batch/hello created"


def test_create_job_from_a_cronjob() -> None:
    cluster = ClusterFake()
    cron_job = a_cron_job()
    cron_job.metadata.uid = "uid-tick"
    cluster.add(cron_job)
    h = Harness(cluster)
    assert run_verb(h, "create", "job", "manual-1", "--from=cronjob/tick", "--dry-run=client", "-o", "json") == 0
    import json
    job = json.loads(h.stdout)
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"


def test_wait_for_a_job_to_complete() -> None:
    """`kubectl wait --for=condition=complete job/NAME`, the way a migration Job is awaited."""
    cluster = ClusterFake()
    cluster.add(a_job())
    h = Harness(cluster)
    assert run_verb(h, "wait", "--for=condition=complete", "job/pi", "--timeout=0") == 0
    assert h.stdout == "job.batch/pi condition met\n"
    running = a_job()
    running.metadata.name = "running"
    del running.status.conditions[:]
    cluster.add(running)
    with pytest.raises(CliError, match="^timed out waiting for the condition on jobs.batch/running$"):
        run_verb(Harness(cluster), "wait", "--for=condition=complete", "job/running", "--timeout=0")
