"""One pod worker against a small fake host: no Kubelet, no apiserver, no informer.

The worker sees its owner only through PodWorkerHost (look the Pod up, confirm its
deletion, say it is done) and acts through NodeParts; here the host is a dict of
Pods and the parts are the real managers over the fake runtime."""

from __future__ import annotations

import asyncio

from kubelet.backoff import BackOff, BackOffPolicy
from kubelet.images import ImageManager
from kubelet.pleg import RuntimeCache
from kubelet.pod_workers import NodeParts, PodWorker
from kubelet.prober import Prober
from kubelet.runtime import RUNNING, ContainerSpec, SandboxSpec
from kubelet.runtime.fake import FakeRuntime
from protos import core_pb2, meta_pb2

IMAGE = "docker.io/library/multi-worker:1.0"
UID = "0b5c1e6e-0000-4000-8000-000000000001"


class FakeHost:
    """The kubelet as a worker sees it: the Pods it knows, and what the worker told it."""

    def __init__(self) -> None:
        self.pods: dict[str, core_pb2.Pod] = {}
        self.confirmed: list[str] = []
        self.finished: list[str] = []

    def pod_by_uid(self, uid: str) -> core_pb2.Pod | None:
        return self.pods.get(uid)

    async def confirm_deletion(self, pod: core_pb2.Pod) -> None:
        self.confirmed.append(pod.metadata.uid)

    def worker_finished(self, uid: str) -> None:
        self.finished.append(uid)


class Node:
    """A worker for UID with its host, its parts, and what they recorded."""

    def __init__(self, registry: tuple[str, ...] = (IMAGE,)) -> None:
        self.runtime = FakeRuntime("n1", registry=registry)
        self.cache = RuntimeCache()
        self.statuses: dict[str, core_pb2.PodStatus] = {}
        self.events: list[tuple[str, str]] = []  # (reason, message)
        self.host = FakeHost()
        self.parts = NodeParts(
            runtime=self.runtime, cache=self.cache, backoff=BackOff(BackOffPolicy()),
            prober=Prober(self.runtime, on_change=lambda uid: None),
            images=ImageManager(self.runtime, self.record), set_status=self.statuses.__setitem__,
            record=self.record, node_ip="10.0.0.7", resync_interval=30.0)
        self.worker = PodWorker(self.host, self.parts, UID)

    def record(self, obj: object, event_type: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


def pod(image: str = IMAGE) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name="web", namespace="default", uid=UID),
                     spec=core_pb2.PodSpec(node_name="n1", termination_grace_period_seconds=1))
    p.spec.containers.add(name="main", image=image)
    return p


async def leftover_container(node: Node) -> str:
    """A sandbox and a running container of UID, as a restarted kubelet finds them."""
    sandbox = await node.runtime.create_sandbox(SandboxSpec(pod_uid=UID, pod_name="web", pod_namespace="default",
                                                            hostname="web"))
    await node.runtime.pull_image(IMAGE)
    container_id = await node.runtime.create_container(sandbox.id, ContainerSpec(
        pod_uid=UID, pod_name="web", pod_namespace="default", name="main", attempt=0, image=IMAGE))
    await node.runtime.start_container(container_id)
    node.cache.set_sandbox(sandbox)
    status = await node.runtime.container_status(container_id)
    assert status is not None
    node.cache.set_container(status)
    return container_id


def test_first_sync_starts_the_pod_and_hands_its_status_in():
    async def scenario():
        node = Node()
        node.host.pods[UID] = pod()
        await node.worker.sync()
        running = [c for c in node.cache.observation(UID).containers if c.state == RUNNING]
        assert [c.name for c in running] == ["main"]
        status = node.statuses[UID]
        assert status.phase == "Running" and status.host_ip == "10.0.0.7"
        assert status.container_statuses[0].state.HasField("running")
        assert [reason for reason, _ in node.events] == ["Pulling", "Pulled", "Created", "Started"]
        assert not node.worker.finished and node.host.finished == []
    asyncio.run(scenario())


def test_a_missing_image_leaves_the_container_waiting():
    async def scenario():
        node = Node(registry=())
        node.host.pods[UID] = pod()
        await node.worker.sync()
        assert node.runtime.calls_to("create_container") == []
        waiting = node.statuses[UID].container_statuses[0].state.waiting
        assert waiting.reason == "ErrImagePull"
        assert node.worker.retry_at is not None  # the pull back-off ends at a deadline
    asyncio.run(scenario())


def test_a_pod_being_deleted_is_stopped_then_its_deletion_confirmed():
    async def scenario():
        node = Node()
        container_id = await leftover_container(node)
        deleting = pod()
        deleting.metadata.deletion_timestamp.GetCurrentTime()
        deleting.metadata.deletion_grace_period_seconds = 0
        node.host.pods[UID] = deleting
        await node.worker.sync()
        assert [args[0] for args in node.runtime.calls_to("stop_container")] == [container_id]
        assert node.runtime.containers == {} and node.runtime.sandboxes == {}
        assert node.cache.pod_uids() == set()
        assert node.host.confirmed == [UID] and node.worker.finished
        assert ("Killing", "Stopping container main") in node.events
    asyncio.run(scenario())


def test_a_uid_without_a_pod_is_cleaned_up_and_the_worker_ends():
    async def scenario():
        node = Node()
        await leftover_container(node)  # no Pod: an orphan (deleted while the kubelet was away)
        node.worker.start()
        node.worker.wake.set()
        assert node.worker.task is not None
        await asyncio.wait_for(node.worker.task, 5)
        assert node.runtime.containers == {} and node.runtime.sandboxes == {}
        assert node.host.confirmed == []  # nothing to confirm: the apiserver has no such Pod
        assert node.host.finished == [UID]
    asyncio.run(scenario())
