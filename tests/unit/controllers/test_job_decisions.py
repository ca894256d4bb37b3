"""The Job controller's pure decisions: how many Pods, when the Job completes or fails,
the back-off after failures, suspension and ttlSecondsAfterFinished."""

from __future__ import annotations

from test_controllers_manager_support import NOW, make_pod, ts

from controllers.job import (BACKOFF_LIMIT_MESSAGE, DEADLINE_MESSAGE, backoff_delay, condition, finished,
                             plan_job, pod_from_template)
from protos import batch_pb2, meta_pb2

UID_LABEL = "batch.kubernetes.io/controller-uid"


def make_job(name: str = "pi", *, completions: int | None = 1, parallelism: int = 1, backoff_limit: int = 6,
             deadline: int | None = None, ttl: int | None = None, suspend: bool = False,
             restart_policy: str = "Never", started: float | None = None) -> batch_pb2.Job:
    uid = f"uid-{name}"
    job = batch_pb2.Job(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", uid=uid))
    spec = job.spec
    if completions is not None:
        spec.completions = completions
    spec.parallelism, spec.backoff_limit, spec.suspend = parallelism, backoff_limit, suspend
    if deadline is not None:
        spec.active_deadline_seconds = deadline
    if ttl is not None:
        spec.ttl_seconds_after_finished = ttl
    spec.selector.match_labels[UID_LABEL] = uid
    spec.template.metadata.labels[UID_LABEL] = uid
    spec.template.metadata.labels["batch.kubernetes.io/job-name"] = name
    spec.template.spec.restart_policy = restart_policy
    spec.template.spec.containers.add(name="main", image="busybox")
    if started is not None:
        job.status.start_time.CopyFrom(ts(started))
    return job


def pod(job: batch_pb2.Job, name: str, phase: str = "Running", **kw) -> object:
    p = make_pod(name, dict(job.spec.template.metadata.labels), phase=phase, **kw)
    p.metadata.owner_references.add(api_version="batch/v1", kind="Job", name=job.metadata.name,
                                    uid=job.metadata.uid, controller=True)
    return p


def failed_pod(job, name, at: float):
    p = pod(job, name, "Failed")
    p.status.container_statuses[0].state.terminated.finished_at.CopyFrom(ts(at))
    return p


def test_a_new_job_starts_one_pod_and_records_start_time():
    job = make_job()
    plan = plan_job(job, [], True, NOW)
    assert plan.create == 1 and plan.delete == []
    assert plan.status.start_time.seconds == int(NOW) and plan.status_changed


def test_creates_up_to_min_of_parallelism_and_remaining_completions():
    job = make_job(completions=5, parallelism=3, started=NOW - 10)
    assert plan_job(job, [], True, NOW).create == 3
    done = [pod(job, f"pi-{i}", "Succeeded") for i in range(3)]
    plan = plan_job(job, done, True, NOW)
    assert plan.create == 2 and plan.status.succeeded == 3
    running = [pod(job, "pi-r", "Running")]
    assert plan_job(job, done + running, True, NOW).create == 1


def test_nothing_is_created_while_expectations_are_pending():
    assert plan_job(make_job(started=NOW), [], False, NOW).create == 0


def test_completes_when_completions_succeeded():
    job = make_job(completions=2, parallelism=2, started=NOW - 60)
    pods = [pod(job, "pi-a", "Succeeded"), pod(job, "pi-b", "Succeeded")]
    plan = plan_job(job, pods, True, NOW)
    assert finished(plan.status) == "Complete"
    assert condition(plan.status, "Complete").reason == "CompletionsReached"
    assert plan.status.completion_time.seconds == int(NOW)
    assert plan.finished_now == ("Completed", "Job completed")
    assert plan.create == 0 and plan.status.succeeded == 2 and plan.status.active == 0


def test_work_queue_job_completes_when_one_succeeded_and_none_active():
    job = make_job(completions=None, parallelism=3, started=NOW - 60)
    assert plan_job(job, [], True, NOW).create == 3
    pods = [pod(job, "pi-a", "Succeeded"), pod(job, "pi-b", "Running")]
    plan = plan_job(job, pods, True, NOW)
    assert plan.create == 0 and not finished(plan.status)  # the running one may finish its work
    plan = plan_job(job, pods[:1], True, NOW)
    assert finished(plan.status) == "Complete"


def test_backoff_limit_exceeded_fails_the_job_and_deletes_active_pods():
    job = make_job(completions=3, parallelism=2, backoff_limit=1, started=NOW - 100)
    pods = [failed_pod(job, "pi-a", NOW - 50), failed_pod(job, "pi-b", NOW - 40), pod(job, "pi-c")]
    plan = plan_job(job, pods, True, NOW)
    failed = condition(plan.status, "Failed")
    assert failed is not None and failed.status == "True"
    assert (failed.reason, failed.message) == ("BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE)
    assert [p.metadata.name for p in plan.delete] == ["pi-c"]
    assert plan.status.failed == 3 and plan.status.active == 0 and plan.create == 0
    assert not plan.status.HasField("completion_time")


def test_on_failure_restarts_count_toward_the_backoff_limit():
    job = make_job(backoff_limit=2, restart_policy="OnFailure", started=NOW - 100)
    assert not finished(plan_job(job, [pod(job, "pi-a", restarts=2)], True, NOW).status)
    plan = plan_job(job, [pod(job, "pi-a", restarts=3)], True, NOW)
    assert condition(plan.status, "Failed").reason == "BackoffLimitExceeded"


def test_active_deadline_fails_the_job():
    job = make_job(deadline=30, started=NOW - 31)
    plan = plan_job(job, [pod(job, "pi-a")], True, NOW)
    failed = condition(plan.status, "Failed")
    assert (failed.reason, failed.message) == ("DeadlineExceeded", DEADLINE_MESSAGE)
    assert len(plan.delete) == 1
    # Before the deadline: wake up when it passes.
    plan = plan_job(make_job(deadline=30, started=NOW - 10), [pod(job, "pi-a")], True, NOW)
    assert not finished(plan.status) and 19.9 < plan.requeue_after < 20.2


def test_backoff_delay_doubles_and_caps_at_six_minutes():
    assert [backoff_delay(n) for n in (0, 1, 2, 3, 6, 7, 50)] == [0, 10, 20, 40, 320, 360, 360]


def test_a_failed_pod_is_replaced_only_after_the_backoff():
    job = make_job(completions=1, backoff_limit=6, started=NOW - 100)
    pods = [failed_pod(job, "pi-a", NOW - 15), failed_pod(job, "pi-b", NOW - 5)]  # 2 failures: 20 s
    plan = plan_job(job, pods, True, NOW)
    assert plan.create == 0 and 14.9 < plan.requeue_after < 15.2
    assert plan_job(job, pods, True, NOW + 15).create == 1


def test_suspend_deletes_active_pods_and_resume_resets_start_time():
    job = make_job(suspend=True, started=NOW - 100)
    plan = plan_job(job, [pod(job, "pi-a")], True, NOW)
    suspended = condition(plan.status, "Suspended")
    assert (suspended.status, suspended.reason) == ("True", "JobSuspended")
    assert len(plan.delete) == 1 and plan.create == 0
    job.status.CopyFrom(plan.status)
    job.spec.suspend = False
    plan = plan_job(job, [], True, NOW + 50)
    resumed = condition(plan.status, "Suspended")
    assert (resumed.status, resumed.reason) == ("False", "JobResumed")
    assert plan.status.start_time.seconds == int(NOW + 50) and plan.create == 1


def test_ttl_deletes_the_finished_job_when_it_runs_out():
    job = make_job(ttl=100, started=NOW - 300)
    job.status.conditions.add(type="Complete", status="True", last_transition_time=ts(NOW - 60))
    plan = plan_job(job, [], True, NOW)
    assert not plan.delete_job and 39.9 < plan.requeue_after < 40.2
    assert plan_job(job, [], True, NOW + 40).delete_job
    assert not plan_job(make_job(started=NOW), [], True, NOW + 1000).delete_job


def test_finished_job_creates_nothing_more():
    job = make_job(started=NOW - 300)
    job.status.conditions.add(type="Failed", status="True", reason="BackoffLimitExceeded",
                              last_transition_time=ts(NOW - 60))
    plan = plan_job(job, [], True, NOW)
    assert plan.create == 0 and plan.delete == [] and plan.finished_now is None
    job.status.CopyFrom(plan.status)
    assert not plan_job(job, [], True, NOW + 5).status_changed  # stable: no write per reconcile


def test_counts_never_go_down_when_finished_pods_are_removed():
    job = make_job(completions=3, parallelism=1, started=NOW - 300)
    job.status.succeeded = 2
    plan = plan_job(job, [], True, NOW)
    assert plan.status.succeeded == 2 and plan.create == 1


def test_other_pods_are_ignored_and_orphans_matching_are_adopted():
    job = make_job(started=NOW)
    stranger = make_pod("x", {"app": "x"})
    orphan = make_pod("o", dict(job.spec.template.metadata.labels))
    plan = plan_job(job, [stranger, orphan], True, NOW)
    assert plan.adopt == [orphan] and plan.create == 0 and plan.status.active == 1


def test_pod_from_template_is_owned_by_the_job():
    job = make_job()
    new = pod_from_template(job)
    assert new.metadata.generate_name == "pi-"
    ref = new.metadata.owner_references[0]
    assert (ref.kind, ref.api_version, ref.uid, ref.controller) == ("Job", "batch/v1", "uid-pi", True)
    assert new.metadata.labels[UID_LABEL] == "uid-pi" and new.spec.restart_policy == "Never"
