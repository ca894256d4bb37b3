"""bench.jobs' pure parts: the Job it creates, reading the Job's status, and its figures
(a Job not Complete is a failure with an infinite time, never a quiet figure); every record
is named as a hollow-node figure."""

from __future__ import annotations

import math

import pytest

from bench.jobs import IMAGE, QUICK, Results, Settings, build_records, finished, floor_seconds, make_job, note, \
    parse_args
from protos import batch_pb2, meta_pb2


def job_status(succeeded: int = 0, failed: int = 0, active: int = 0, condition: str = "") -> batch_pb2.Job:
    job = batch_pb2.Job()
    job.status.succeeded, job.status.failed, job.status.active = succeeded, failed, active
    if condition:
        job.status.conditions.append(meta_pb2.Condition(type=condition, status="True"))
    return job


def test_the_job_of_the_issue() -> None:
    job = make_job(Settings())
    assert (job.spec.completions, job.spec.parallelism) == (100, 10)
    assert job.spec.template.spec.restart_policy == "Never"
    assert [c.image for c in job.spec.template.spec.containers] == [IMAGE]


def test_reading_the_job_until_complete() -> None:
    results = Results(Settings(completions=3, parallelism=2), started=10.0)
    assert not note(results, job_status(active=2), 10.5)
    assert not note(results, job_status(succeeded=2, active=1), 11.0)
    assert finished(job_status(condition="Complete")) == "Complete"
    pending = job_status(succeeded=3)
    pending.status.conditions.append(meta_pb2.Condition(type="Complete", status="False"))
    assert finished(pending) == ""
    assert note(results, job_status(succeeded=3, condition="Complete"), 12.0)
    assert note(results, job_status(succeeded=3, condition="Complete"), 13.0)  # the first sighting counts
    assert (results.outcome, results.finished_at, results.max_active) == ("Complete", 12.0, 2)

    records = {r.name: r for r in build_records(results)}
    assert all(name.startswith("jobs.hollow.") for name in records)
    assert records["jobs.hollow.time_to_complete"].value == pytest.approx(2.0)
    assert records["jobs.hollow.completions_per_s"].value == pytest.approx(1.5)
    assert records["jobs.hollow.time_to_complete"].failures == 0
    assert records["jobs.hollow.max_active"].value == 2


def test_a_job_that_does_not_complete_is_a_failure() -> None:
    for outcome, succeeded in (("", 40), ("Failed", 99)):
        results = Results(Settings(), started=0.0, finished_at=5.0, outcome=outcome, succeeded=succeeded)
        records = {r.name: r for r in build_records(results)}
        assert records["jobs.hollow.time_to_complete"].value == math.inf
        assert records["jobs.hollow.time_to_complete"].failures == 100 - succeeded
        assert math.isnan(records["jobs.hollow.completions_per_s"].value)


def test_floor_and_overhead() -> None:
    settings = Settings(completions=100, parallelism=10, container_seconds=1.0)
    assert floor_seconds(settings) == 10.0
    assert floor_seconds(Settings(completions=25, parallelism=10, container_seconds=2.0)) == 6.0
    results = Results(settings, started=0.0, finished_at=12.0, outcome="Complete", succeeded=100)
    records = {r.name: r for r in build_records(results)}
    assert records["jobs.hollow.overhead_per_wave"].value == pytest.approx(0.2)


def test_args() -> None:
    settings, out = parse_args([])
    assert (settings.nodes, settings.completions, settings.parallelism, settings.quick, out) == (10, 100, 10, False, None)
    settings, _ = parse_args(["--quick", "--container-seconds", "0.5"])
    assert (settings.completions, settings.parallelism, settings.container_seconds) == (
        QUICK.completions, QUICK.parallelism, 0.5)
    with pytest.raises(SystemExit):
        parse_args(["--parallelism", "0"])
