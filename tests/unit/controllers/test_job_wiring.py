"""The Job and CronJob controllers against a real in-process apiserver (no kubelet: the
tests finish Pods themselves by writing their status)."""

from __future__ import annotations

import asyncio

from test_controllers_manager_support import Cluster, eventually, in_cluster

from apimachinery.convert import from_dict
from controllers.cronjob import CronJobController
from controllers.garbage_collector import GarbageCollector
from controllers.job import JobController
from protos import batch_pb2, core_pb2


def job_manifest(name: str = "pi", **spec) -> batch_pb2.Job:
    spec.setdefault("template", {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "main", "image": "busybox"}]}})
    return from_dict({"apiVersion": "batch/v1", "kind": "Job",
                      "metadata": {"name": name, "namespace": "default"}, "spec": spec})  # type: ignore[return-value]


async def live_pods(cluster: Cluster) -> list[core_pb2.Pod]:
    return [p for p in await cluster.pods(active_only=True) if p.status.phase not in ("Succeeded", "Failed")]


async def finish(cluster: Cluster, pod: core_pb2.Pod, phase: str) -> None:
    fresh = await cluster.api.get("Pod", pod.metadata.name, "default")
    fresh.status.phase = phase  # type: ignore[attr-defined]
    await cluster.api.update_status(fresh)


async def succeeded(cluster: Cluster, count: int) -> bool:
    job = await cluster.api.get("Job", "pi", "default")
    return job.status.succeeded >= count  # type: ignore[attr-defined]


async def job_condition(cluster: Cluster, name: str, kind: str):
    job = await cluster.api.get("Job", name, "default")
    return next((c for c in job.status.conditions if c.type == kind and c.status == "True"), None)  # type: ignore[attr-defined]


def test_a_job_runs_its_completions_one_at_a_time_and_completes():
    async def scenario(cluster: Cluster):
        cluster.add("job", JobController, "job-controller")
        await cluster.start()
        job = await cluster.api.create(job_manifest(completions=2, parallelism=1))
        for done_so_far in (1, 2):
            pods = await eventually("one running pod", lambda: live_pods(cluster))
            assert len(pods) == 1
            pod = pods[0]
            assert pod.metadata.owner_references[0].uid == job.metadata.uid  # type: ignore[attr-defined]
            assert pod.metadata.labels["batch.kubernetes.io/job-name"] == "pi"
            await finish(cluster, pod, "Succeeded")
            await eventually("the success counted", lambda: succeeded(cluster, done_so_far))
        done = await eventually("Complete", lambda: job_condition(cluster, "pi", "Complete"))
        assert done is not None
        fresh = await cluster.api.get("Job", "pi", "default")
        assert fresh.status.succeeded == 2 and fresh.status.HasField("completion_time")  # type: ignore[attr-defined]
        await cluster.settled()
        assert len(await cluster.pods()) == 2  # no third Pod
        reasons = {e.reason for e in await cluster.events("Completed")}
        assert reasons == {"Completed"}

    in_cluster(scenario)


def test_backoff_limit_zero_fails_on_the_first_failure():
    async def scenario(cluster: Cluster):
        cluster.add("job", JobController, "job-controller")
        await cluster.start()
        await cluster.api.create(job_manifest(backoffLimit=0))
        pods = await eventually("a pod", lambda: live_pods(cluster))
        await finish(cluster, pods[0], "Failed")
        failed = await eventually("Failed", lambda: job_condition(cluster, "pi", "Failed"))
        assert failed.reason == "BackoffLimitExceeded"
        await cluster.settled()
        assert len(await cluster.pods()) == 1

    in_cluster(scenario)


def test_ttl_after_finished_deletes_the_job_and_the_gc_its_pods():
    async def scenario(cluster: Cluster):
        cluster.add("job", JobController, "job-controller")
        cluster.add("gc", GarbageCollector, "garbage-collector")
        await cluster.start()
        await cluster.api.create(job_manifest(ttlSecondsAfterFinished=0))
        pods = await eventually("a pod", lambda: live_pods(cluster))
        await finish(cluster, pods[0], "Succeeded")

        async def gone():
            jobs, _ = await cluster.api.list("Job", "default")
            return not jobs and not await cluster.pods()
        await eventually("the Job and its Pod deleted", gone)

    in_cluster(scenario)


def test_a_cronjob_creates_a_job_for_a_missed_schedule():
    async def scenario(cluster: Cluster):
        cluster.add("cronjob", CronJobController, "cronjob-controller")
        await cluster.start()
        cj = from_dict({"apiVersion": "batch/v1", "kind": "CronJob",
                        "metadata": {"name": "tick", "namespace": "default"},
                        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                            "restartPolicy": "OnFailure", "containers": [{"name": "t", "image": "busybox"}]}}}}}})
        created = await cluster.api.create(cj)
        # Pretend it was created two minutes ago: the controller runs the latest missed minute.
        controller: CronJobController = cluster.controllers["cronjob"]  # type: ignore[assignment]
        base = created.metadata.creation_timestamp.seconds  # type: ignore[attr-defined]
        controller.clock = lambda: base + 125
        controller.queue.add("default/tick")

        async def one_job():
            jobs, _ = await cluster.api.list("Job", "default")
            return jobs if len(jobs) == 1 else None
        jobs = await eventually("one Job", one_job)
        expected_minute = (base + 125) // 60
        assert jobs[0].metadata.name == f"tick-{expected_minute}"
        fresh = await cluster.api.get("CronJob", "tick", "default")
        assert [r.name for r in fresh.status.active] == [jobs[0].metadata.name]  # type: ignore[attr-defined]
        assert fresh.status.last_schedule_time.seconds == expected_minute * 60  # type: ignore[attr-defined]
        controller.queue.add("default/tick")
        await asyncio.sleep(0.2)
        assert len((await cluster.api.list("Job", "default"))[0]) == 1  # the same minute never runs twice

    in_cluster(scenario)
