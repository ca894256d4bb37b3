"""The Deployment controller against a real in-process apiserver: informers,
handlers, work queue, writes and events. First with a stand-in for the
ReplicaSet controller (status mirrors spec), then with the real ReplicaSet
controller and a hollow kubelet on the fake runtime (we bind Pods ourselves,
standing in for the scheduler)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI, is_conflict, is_not_found
from client.events import EventRecorder
from client.informer import SharedInformers
from controllers.deployment import DeploymentController
from controllers.hashing import POD_TEMPLATE_HASH_LABEL, template_hash
from controllers.rollout.progress import get_condition
from controllers.rollout.util import REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION
from protos import apps_pb2, meta_pb2

IMAGE_V1 = "docker.io/library/multi-worker:1.0"
IMAGE_V2 = "docker.io/library/multi-worker:2.0"


def make_deployment(replicas: int = 4, image: str = IMAGE_V1) -> apps_pb2.Deployment:
    d = apps_pb2.Deployment(metadata=meta_pb2.ObjectMeta(name="multi-worker", namespace="default"))
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = "multi-worker"
    d.spec.template.metadata.labels["app"] = "multi-worker"
    d.spec.template.spec.termination_grace_period_seconds = 1
    d.spec.template.spec.containers.add(name="main", image=image)
    return d


async def eventually(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def replica_sets(api: AsyncAPI) -> dict[str, apps_pb2.ReplicaSet]:
    items, _ = await api.list("ReplicaSet", "default")
    return {rs.metadata.name: rs for rs in items}  # type: ignore[attr-defined]


async def rollout_complete(api: AsyncAPI, replicas: int) -> apps_pb2.Deployment | None:
    """`kubectl rollout status`'s test: observed, all updated and available, no old Pods."""
    d: apps_pb2.Deployment = await api.get("Deployment", "multi-worker", "default")  # type: ignore[assignment]
    s = d.status
    progressing = get_condition(s, "Progressing")
    done = (s.observed_generation >= d.metadata.generation and s.updated_replicas == replicas
            and s.replicas == replicas and s.available_replicas == replicas
            and progressing is not None and progressing.reason == "NewReplicaSetAvailable")
    return d if done else None


def in_cluster(scenario: Callable[[AsyncAPI, SharedInformers, list[asyncio.Task]], Awaitable[None]]) -> None:
    async def main() -> None:
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        informers = SharedInformers(api)
        tasks: list[asyncio.Task] = []
        try:
            await asyncio.wait_for(scenario(api, informers, tasks), 60)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await informers.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


async def run(informers: SharedInformers, tasks: list[asyncio.Task], recorders: list[EventRecorder],
              controllers: list[Any]) -> None:
    for recorder in recorders:
        tasks.append(asyncio.create_task(recorder.run()))
    informers.start()
    await asyncio.wait_for(informers.wait_synced(), 10)
    for controller in controllers:
        tasks.append(asyncio.create_task(controller.run(2)))


async def mirror_replica_set_status(api: AsyncAPI) -> None:
    """A stand-in for the ReplicaSet controller and kubelets: every ReplicaSet's
    Pods exist and are available as soon as it asks for them."""
    while True:
        for rs in (await replica_sets(api)).values():
            want = rs.spec.replicas
            s = rs.status
            if (s.replicas, s.ready_replicas, s.available_replicas, s.observed_generation) != (
                    want, want, want, rs.metadata.generation):
                rs.status.replicas = rs.status.ready_replicas = rs.status.available_replicas = want
                rs.status.fully_labeled_replicas = want
                rs.status.observed_generation = rs.metadata.generation
                try:
                    await api.update_status(rs)
                except Exception as err:
                    if not (is_conflict(err) or is_not_found(err)):
                        raise
        await asyncio.sleep(0.02)


def test_deployment_gets_its_replica_set_and_a_template_change_rolls_over():
    async def scenario(api: AsyncAPI, informers: SharedInformers, tasks: list[asyncio.Task]) -> None:
        recorder = EventRecorder(api, "deployment-controller")
        controller = DeploymentController(api, informers, recorder)
        await run(informers, tasks, [recorder], [controller])
        created: apps_pb2.Deployment = await api.create(make_deployment())  # type: ignore[assignment]
        pod_hash = template_hash(created.spec.template, None)
        first = f"multi-worker-{pod_hash}"

        async def first_rs():
            rs = (await replica_sets(api)).get(first)
            return rs if rs is not None and rs.spec.replicas == 4 else None
        rs = await eventually("the first ReplicaSet with 4 replicas", first_rs)
        assert rs.metadata.labels[POD_TEMPLATE_HASH_LABEL] == pod_hash
        assert rs.spec.selector.match_labels == {"app": "multi-worker", POD_TEMPLATE_HASH_LABEL: pod_hash}
        ref = rs.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
            "Deployment", "multi-worker", created.metadata.uid, True, True)
        assert rs.metadata.annotations[REVISION_ANNOTATION] == "1"

        tasks.append(asyncio.create_task(mirror_replica_set_status(api)))
        d = await eventually("rollout of revision 1", lambda: rollout_complete(api, 4))
        assert d.metadata.annotations[REVISION_ANNOTATION] == "1"
        conditions = {c.type: (c.status, c.reason, c.message) for c in d.status.conditions}
        assert conditions["Available"] == ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        assert conditions["Progressing"] == ("True", "NewReplicaSetAvailable",
                                             f'ReplicaSet "{first}" has successfully progressed.')

        # A new image: a second ReplicaSet takes over.
        d.spec.template.spec.containers[0].image = IMAGE_V2
        d = await api.update(d)  # type: ignore[assignment]
        second = f"multi-worker-{template_hash(d.spec.template, None)}"

        async def rolled_over():
            rss = await replica_sets(api)
            ok = second in rss and rss[second].spec.replicas == 4 and rss[first].spec.replicas == 0
            return rss if ok else None
        rss = await eventually("the second ReplicaSet to take over", rolled_over)
        assert rss[second].metadata.annotations[REVISION_ANNOTATION] == "2"
        d = await eventually("rollout of revision 2", lambda: rollout_complete(api, 4))
        assert d.metadata.annotations[REVISION_ANNOTATION] == "2"

        # `rollout undo`: the client puts revision 1's template back; its ReplicaSet
        # becomes the new one again, as revision 3.
        d.spec.template.spec.containers[0].image = IMAGE_V1
        d = await api.update(d)  # type: ignore[assignment]

        async def rolled_back():
            rss = await replica_sets(api)
            ok = rss[first].spec.replicas == 4 and rss[second].spec.replicas == 0
            return rss if ok else None
        rss = await eventually("the first ReplicaSet to come back", rolled_back)
        assert set(rss) == {first, second}
        assert rss[first].metadata.annotations[REVISION_ANNOTATION] == "3"
        assert rss[first].metadata.annotations[REVISION_HISTORY_ANNOTATION] == "1"
        d = await eventually("rollout of revision 3", lambda: rollout_complete(api, 4))
        assert d.metadata.annotations[REVISION_ANNOTATION] == "3"

        await recorder.flush()
        events, _ = await api.list("Event", "default", field_selector="reason=ScalingReplicaSet")
        messages = {e.message for e in events}
        assert f"Scaled up replica set {first} to 4" in messages
        assert f"Scaled down replica set {first} to 0" in messages
        assert any(m.startswith(f"Scaled up replica set {second} to ") for m in messages)
        assert all(e.involved_object.kind == "Deployment" and e.source.component == "deployment-controller"
                   for e in events)
    in_cluster(scenario)


def test_deployment_with_replicaset_controller_and_hollow_kubelet():
    from controllers.replicaset import ReplicaSetController
    from kubelet.config import KubeletConfig
    from kubelet.kubelet import Kubelet
    from kubelet.runtime.fake import FakeRuntime

    async def scenario(api: AsyncAPI, informers: SharedInformers, tasks: list[asyncio.Task]) -> None:
        recorders = [EventRecorder(api, "deployment-controller"), EventRecorder(api, "replicaset-controller")]
        controllers = [DeploymentController(api, informers, recorders[0]),
                       ReplicaSetController(api, informers, recorders[1])]
        await run(informers, tasks, recorders, controllers)
        runtime = FakeRuntime("n1", registry=[IMAGE_V1, IMAGE_V2])
        kubelet = Kubelet(api, runtime, KubeletConfig(node_name="n1", backoff_initial=0.2, backoff_max=1,
                                                      relist_interval=0.5, lease_interval=0.5))
        await kubelet.start(port=10250)

        async def bind_loop() -> None:  # the scheduler's stand-in
            while True:
                pods, _ = await api.list("Pod", "default")
                for pod in pods:
                    if not pod.spec.node_name and not pod.metadata.HasField("deletion_timestamp"):
                        try:
                            await api.bind("default", pod.metadata.name, "n1", pod.metadata.uid)
                        except Exception as err:
                            if not (is_conflict(err) or is_not_found(err)):
                                raise
                await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(bind_loop()))
        try:
            created = await api.create(make_deployment())
            first = f"multi-worker-{template_hash(created.spec.template, None)}"
            await eventually("4 available replicas", lambda: rollout_complete(api, 4), timeout=30)
            pods, _ = await api.list("Pod", "default")
            assert len(pods) == 4
            assert all(p.metadata.name.startswith(f"{first}-") and p.status.phase == "Running" for p in pods)

            d = await api.get("Deployment", "multi-worker", "default")
            d.spec.template.spec.containers[0].image = IMAGE_V2
            d = await api.update(d)
            second = f"multi-worker-{template_hash(d.spec.template, None)}"

            async def all_new_pods():
                if not await rollout_complete(api, 4):
                    return None
                pods, _ = await api.list("Pod", "default")
                live = [p for p in pods if not p.metadata.HasField("deletion_timestamp")]
                ok = len(live) == 4 and all(p.metadata.name.startswith(f"{second}-")
                                            and p.spec.containers[0].image == IMAGE_V2 for p in live)
                return live if ok else None
            await eventually("the rollout to the new image", all_new_pods, timeout=30)
            rss = await replica_sets(api)
            assert (rss[first].spec.replicas, rss[second].spec.replicas) == (0, 4)
        finally:
            await kubelet.stop()
    in_cluster(scenario)
