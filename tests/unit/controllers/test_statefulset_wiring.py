"""The StatefulSet controller against a real in-process apiserver (the test plays the kubelet)."""

from __future__ import annotations

from sets_testlib import IMAGE, change, make_running_and_ready
from test_controllers_manager_support import Cluster, eventually, in_cluster

from controllers.statefulset import POD_INDEX_LABEL, REVISION_LABEL, StatefulSetController
from protos import apps_pb2, meta_pb2


def statefulset(replicas: int, policy: str = "OrderedReady") -> apps_pb2.StatefulSet:
    sts = apps_pb2.StatefulSet(metadata=meta_pb2.ObjectMeta(name="db", namespace="default"))
    sts.spec.replicas = replicas
    sts.spec.service_name = "db"
    sts.spec.pod_management_policy = policy
    sts.spec.selector.match_labels["app"] = "db"
    sts.spec.template.metadata.labels["app"] = "db"
    sts.spec.template.spec.containers.add(name="main", image=IMAGE)
    sts.spec.template.spec.termination_grace_period_seconds = 0
    return sts


def names_are(cluster: Cluster, *names: str):
    async def check():
        pods = await cluster.pods(active_only=True)
        return pods if sorted(p.metadata.name for p in pods) == sorted(names) else None
    return check


def test_ordered_creation_scale_down_and_rolling_update():
    async def scenario(cluster: Cluster):
        cluster.add("statefulset", StatefulSetController, "statefulset-controller")
        await cluster.start()
        await cluster.api.create(statefulset(3))
        [pod0] = await eventually("db-0", names_are(cluster, "db-0"))
        assert (pod0.spec.hostname, pod0.spec.subdomain, pod0.metadata.labels[POD_INDEX_LABEL]) == ("db-0", "db", "0")
        await cluster.settled()
        assert len(await cluster.pods()) == 1  # db-1 waits for db-0 to be Ready
        await make_running_and_ready(cluster, pod0)
        pods = await eventually("db-1", names_are(cluster, "db-0", "db-1"))
        await make_running_and_ready(cluster, [p for p in pods if p.metadata.name == "db-1"][0])
        pods = await eventually("db-2", names_are(cluster, "db-0", "db-1", "db-2"))
        await make_running_and_ready(cluster, [p for p in pods if p.metadata.name == "db-2"][0])

        async def ready(n: int):
            status = (await cluster.api.get("StatefulSet", "db", "default")).status
            return status.ready_replicas == n and status.replicas == n
        await eventually("3 ready", lambda: ready(3))

        # The rolling update: db-2 first, then db-1, then db-0, each once its successor is Ready.
        await change(cluster, "StatefulSet", "db", "default",
                     lambda sts: setattr(sts.spec.template.spec.containers[0], "image", IMAGE + "-2"))
        order = []
        for name in ("db-2", "db-1", "db-0"):
            async def replaced(name=name):
                pods = {p.metadata.name: p for p in await cluster.pods(active_only=True)}
                pod = pods.get(name)
                return pod if pod is not None and pod.spec.containers[0].image == IMAGE + "-2" else None
            pod = await eventually(f"{name} at the new template", replaced)
            order.append(name)
            await make_running_and_ready(cluster, pod)
        assert order == ["db-2", "db-1", "db-0"]

        async def rolled():
            status = (await cluster.api.get("StatefulSet", "db", "default")).status
            return status.updated_replicas == 3 and status.current_revision == status.update_revision
        await eventually("current revision = update revision", rolled)

        await change(cluster, "StatefulSet", "db", "default", lambda sts: setattr(sts.spec, "replicas", 1))
        await eventually("scaled down to db-0", names_are(cluster, "db-0"))
        await eventually("1 ready", lambda: ready(1))
        pods = await cluster.pods(active_only=True)
        assert len({p.metadata.labels[REVISION_LABEL] for p in pods}) == 1
    in_cluster(scenario)


def test_parallel_creates_every_pod_at_once():
    async def scenario(cluster: Cluster):
        cluster.add("statefulset", StatefulSetController, "statefulset-controller")
        await cluster.start()
        await cluster.api.create(statefulset(3, "Parallel"))
        await eventually("3 Pods at once", names_are(cluster, "db-0", "db-1", "db-2"))
        events = await cluster.events("SuccessfulCreate")
        assert sorted(e.message for e in events) == [
            f"create Pod db-{i} in StatefulSet db successful" for i in range(3)]
    in_cluster(scenario)


def test_claims_are_created_before_the_pods_and_kept_when_a_pod_goes():
    async def scenario(cluster: Cluster):
        cluster.add("statefulset", StatefulSetController, "statefulset-controller")
        await cluster.start()
        sts = statefulset(2, policy="Parallel")
        template = sts.spec.volume_claim_templates.add(metadata=meta_pb2.ObjectMeta(name="data"))
        template.spec.access_modes.append("ReadWriteOnce")
        template.spec.resources.requests["storage"] = "1Gi"
        await cluster.api.create(sts)
        pods = await eventually("db-0 and db-1", names_are(cluster, "db-0", "db-1"))
        claims, _ = await cluster.api.list("PersistentVolumeClaim", "default")
        assert sorted(c.metadata.name for c in claims) == ["data-db-0", "data-db-1"]
        for pod in pods:
            assert pod.spec.volumes[0].persistent_volume_claim.claim_name == f"data-{pod.metadata.name}"
        first = {c.metadata.name: c.metadata.uid for c in claims}
        db0 = next(p for p in pods if p.metadata.name == "db-0")
        await cluster.api.delete("Pod", "db-0", "default", grace_period_seconds=0)

        async def recreated():
            pods = await cluster.pods(active_only=True)
            again = [p for p in pods if p.metadata.name == "db-0" and p.metadata.uid != db0.metadata.uid]
            return again or None
        await eventually("db-0 recreated", recreated)
        claims, _ = await cluster.api.list("PersistentVolumeClaim", "default")
        assert {c.metadata.name: c.metadata.uid for c in claims} == first  # the same claims
        assert await cluster.events("SuccessfulCreate")
    in_cluster(scenario)
