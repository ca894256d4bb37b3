"""The CronJob controller's pure decisions: which Job at which scheduled time, missed
schedules and startingDeadlineSeconds, concurrencyPolicy, suspend and history limits."""

from __future__ import annotations

from datetime import datetime, timezone

from test_controllers_manager_support import ts

from controllers.cronjob import SCHEDULED_TIMESTAMP_ANNOTATION, job_name, plan_cronjob
from protos import batch_pb2, meta_pb2

# 2026-12-04 10:02:30 UTC
NOW = datetime(2026, 12, 4, 10, 2, 30, tzinfo=timezone.utc).timestamp()


def make_cronjob(schedule: str = "*/5 * * * *", *, created: float = NOW - 3600, last: float | None = None,
                 policy: str = "Allow", deadline: int | None = None, suspend: bool = False,
                 time_zone: str | None = None) -> batch_pb2.CronJob:
    cj = batch_pb2.CronJob(metadata=meta_pb2.ObjectMeta(name="tick", namespace="default", uid="uid-cj",
                                                        creation_timestamp=ts(created)))
    spec = cj.spec
    spec.schedule, spec.concurrency_policy, spec.suspend = schedule, policy, suspend
    spec.successful_jobs_history_limit, spec.failed_jobs_history_limit = 3, 1
    if deadline is not None:
        spec.starting_deadline_seconds = deadline
    if time_zone is not None:
        spec.time_zone = time_zone
    spec.job_template.metadata.labels["team"] = "a"
    spec.job_template.spec.template.spec.restart_policy = "OnFailure"
    spec.job_template.spec.template.spec.containers.add(name="main", image="busybox")
    if last is not None:
        cj.status.last_schedule_time.CopyFrom(ts(last))
    return cj


def make_job(cj: batch_pb2.CronJob, minute: int, state: str = "", started: float | None = None,
             uid: str = "") -> batch_pb2.Job:
    job = batch_pb2.Job(metadata=meta_pb2.ObjectMeta(name=f"tick-{minute}", namespace="default",
                                                     uid=uid or f"uid-{minute}"))
    job.metadata.owner_references.add(api_version="batch/v1", kind="CronJob", name="tick", uid=cj.metadata.uid,
                                      controller=True)
    job.status.start_time.CopyFrom(ts(started if started is not None else minute * 60))
    if state:
        job.status.conditions.add(type=state, status="True")
        if state == "Complete":
            job.status.completion_time.CopyFrom(ts(minute * 60 + 30))
    return job


def minutes(dt: datetime) -> int:
    return int(dt.timestamp()) // 60


def test_runs_the_most_recent_missed_time_once_named_by_its_minute():
    cj = make_cronjob(last=NOW - 3600)
    plan = plan_cronjob(cj, [], NOW)
    expected = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)
    assert plan.scheduled == expected
    assert plan.create.metadata.name == f"tick-{minutes(expected)}" == job_name(cj, expected)
    assert plan.create.metadata.labels["team"] == "a"
    assert plan.create.metadata.annotations[SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-12-04T10:00:00Z"
    ref = plan.create.metadata.owner_references[0]
    assert (ref.kind, ref.uid, ref.controller) == ("CronJob", "uid-cj", True)
    assert plan.create.spec.template.spec.restart_policy == "OnFailure"
    # Next run at 10:05: requeue in 150 s.
    assert 150 <= plan.requeue_after < 151


def test_nothing_before_the_first_scheduled_time():
    cj = make_cronjob(created=NOW - 60)  # created 10:01:30; the next time is 10:05
    plan = plan_cronjob(cj, [], NOW)
    assert plan.create is None and 150 <= plan.requeue_after < 151


def test_a_scheduled_time_that_already_ran_is_not_run_again():
    cj = make_cronjob(last=NOW - 3600)
    done = make_job(cj, minutes(datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)))
    assert plan_cronjob(cj, [done], NOW).create is None


def test_starting_deadline_skips_a_run_missed_by_too_much():
    cj = make_cronjob(last=NOW - 3600, deadline=60)  # 10:00 is 150 s ago
    plan = plan_cronjob(cj, [], NOW)
    assert plan.create is None
    cj = make_cronjob(last=NOW - 3600, deadline=200)
    assert plan_cronjob(cj, [], NOW).create is not None


def test_many_missed_times_run_once_with_a_warning():
    cj = make_cronjob("* * * * *", created=NOW - 86400)
    plan = plan_cronjob(cj, [], NOW)
    assert plan.create is not None
    assert any(reason == "TooManyMissedTimes" for _, reason, _ in plan.events)


def test_forbid_skips_while_a_job_is_active():
    cj = make_cronjob(last=NOW - 600, policy="Forbid")
    running = make_job(cj, minutes(datetime(2026, 12, 4, 9, 55, tzinfo=timezone.utc)))
    plan = plan_cronjob(cj, [running], NOW)
    assert plan.create is None and [r.name for r in plan.status.active] == [running.metadata.name]
    assert any(reason == "JobAlreadyActive" for _, reason, _ in plan.events)


def test_allow_runs_side_by_side_and_replace_deletes_the_active_job():
    cj = make_cronjob(last=NOW - 600)
    running = make_job(cj, minutes(datetime(2026, 12, 4, 9, 55, tzinfo=timezone.utc)))
    plan = plan_cronjob(cj, [running], NOW)
    assert plan.create is not None and plan.delete_active == []
    cj.spec.concurrency_policy = "Replace"
    plan = plan_cronjob(cj, [running], NOW)
    assert plan.create is not None and plan.delete_active == [running] and list(plan.status.active) == []


def test_suspended_cronjob_creates_nothing():
    assert plan_cronjob(make_cronjob(last=NOW - 3600, suspend=True), [], NOW).create is None


def test_finished_jobs_leave_active_and_set_last_successful_time():
    cj = make_cronjob(last=NOW - 150)
    done = make_job(cj, 100, "Complete")
    cj.status.active.add(kind="Job", name=done.metadata.name, uid=done.metadata.uid)
    plan = plan_cronjob(cj, [done], NOW)
    assert list(plan.status.active) == [] and plan.status.last_successful_time.seconds == 100 * 60 + 30
    assert plan.status_changed


def test_history_limits_delete_the_oldest_finished_jobs():
    cj = make_cronjob(last=NOW - 150)
    complete = [make_job(cj, m, "Complete") for m in (1, 2, 3, 4, 5)]
    failed = [make_job(cj, m, "Failed") for m in (6, 7)]
    running = make_job(cj, 8)
    plan = plan_cronjob(cj, complete + failed + [running], NOW)
    assert sorted(j.metadata.name for j in plan.delete_history) == ["tick-1", "tick-2", "tick-6"]


def test_jobs_of_others_are_ignored():
    cj = make_cronjob(last=NOW - 150)
    stranger = make_job(cj, 9)
    stranger.metadata.owner_references[0].uid = "someone-else"
    plan = plan_cronjob(cj, [stranger], NOW)
    assert list(plan.status.active) == [] and plan.delete_history == []


def test_time_zone_moves_the_schedule():
    # 11:00 in Berlin is 10:00 UTC in December.
    cj = make_cronjob("0 11 * * *", last=NOW - 7200, time_zone="Europe/Berlin")
    plan = plan_cronjob(cj, [], NOW)
    assert plan.scheduled == datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)


def test_unparseable_schedule_is_an_event_not_a_crash():
    plan = plan_cronjob(make_cronjob("nope"), [], NOW)
    assert plan.create is None and plan.events[0][1] == "UnparseableSchedule"
