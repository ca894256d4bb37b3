"""Deleting the issue-14 workloads takes what they own with them, as `kubectl delete` does:
the garbage collector follows the controller references (StatefulSet → Pods, CronJob → Jobs →
Pods), and `--cascade=orphan` (propagation Orphan) leaves them, released from their owner.
Real in-process apiserver, the controllers and the garbage collector; no kubelet (unbound
Pods go at once)."""

from __future__ import annotations

from test_controllers_manager_support import Cluster, eventually, in_cluster
from test_job_wiring import live_pods
from test_statefulset_wiring import names_are, statefulset

from apimachinery.convert import from_dict
from controllers.cronjob import CronJobController
from controllers.garbage_collector import GarbageCollector
from controllers.job import JobController
from controllers.statefulset import StatefulSetController


def test_deleting_a_statefulset_takes_its_pods_unless_orphaned():
    async def scenario(cluster: Cluster):
        cluster.add("statefulset", StatefulSetController, "statefulset-controller")
        cluster.add("garbagecollector", GarbageCollector, "garbage-collector")
        await cluster.start()
        await cluster.api.create(statefulset(2, policy="Parallel"))
        await eventually("db-0 and db-1", names_are(cluster, "db-0", "db-1"))
        await cluster.api.delete("StatefulSet", "db", "default", propagation_policy="Background")

        async def no_pods():
            return not await cluster.pods()
        await eventually("its Pods collected", no_pods)

        kept = statefulset(2, policy="Parallel")
        kept.metadata.name = "kept"
        kept.spec.selector.match_labels["app"] = kept.spec.template.metadata.labels["app"] = "kept"
        await cluster.api.create(kept)
        await eventually("kept-0 and kept-1", names_are(cluster, "kept-0", "kept-1"))
        await cluster.api.delete("StatefulSet", "kept", "default", propagation_policy="Orphan")

        async def orphans():
            sets, _ = await cluster.api.list("StatefulSet", "default")
            pods = await cluster.pods(active_only=True)
            released = not sets and len(pods) == 2 and all(not p.metadata.owner_references for p in pods)
            return pods if released else None
        pods = await eventually("the set gone, its Pods kept without an owner", orphans)
        assert sorted(p.metadata.name for p in pods) == ["kept-0", "kept-1"]
    in_cluster(scenario)


def test_deleting_a_cronjob_takes_its_jobs_and_their_pods():
    async def scenario(cluster: Cluster):
        cluster.add("cronjob", CronJobController, "cronjob-controller")
        cluster.add("job", JobController, "job-controller")
        cluster.add("garbagecollector", GarbageCollector, "garbage-collector")
        await cluster.start()
        cron_job = from_dict({"apiVersion": "batch/v1", "kind": "CronJob",
                              "metadata": {"name": "tick", "namespace": "default"},
                              "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                                  "restartPolicy": "Never", "containers": [{"name": "t", "image": "busybox"}]}}}}}})
        created = await cluster.api.create(cron_job)
        controller: CronJobController = cluster.controllers["cronjob"]  # type: ignore[assignment]
        base = created.metadata.creation_timestamp.seconds  # type: ignore[attr-defined]
        controller.clock = lambda: base + 65  # a minute has passed: one run
        controller.queue.add("default/tick")
        await eventually("the run's Pod", lambda: live_pods(cluster))

        await cluster.api.delete("CronJob", "tick", "default", propagation_policy="Background")

        async def all_gone():
            jobs, _ = await cluster.api.list("Job", "default")
            return not jobs and not await cluster.pods()
        await eventually("the Job and its Pod collected", all_gone)
    in_cluster(scenario)
