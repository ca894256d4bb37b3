"""The EndpointSlice controller against a real in-process apiserver: a Service's slice
follows its Pods' IPs and readiness within a moment, hand edits are repaired, and the
slices go with the Service."""

from __future__ import annotations

import asyncio
import time

from test_controllers_manager_support import Cluster, eventually, in_cluster, ts

from client.api import is_conflict
from client.events import EventRecorder
from client.informer import SharedInformers
from controllers.endpointslice import EndpointSliceController
from controllers.endpointslice.endpoints import SERVICE_NAME_LABEL
from controllers.endpointslice.trigger_time import TRIGGER_TIME_ANNOTATION, format_trigger_time
from controllers.garbage_collector import GarbageCollector
from protos import core_pb2, discovery_pb2, meta_pb2


def with_controllers(cluster: Cluster, *, gc: bool = True) -> EndpointSliceController:
    if gc:
        cluster.add("gc", GarbageCollector, "garbage-collector")
    return cluster.add("endpointslice", EndpointSliceController,  # type: ignore[return-value]
                       "endpoint-slice-controller")


def make_service(name: str = "web") -> core_pb2.Service:
    svc = core_pb2.Service(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"))
    svc.spec.selector["app"] = name
    port = svc.spec.ports.add(name="http", port=80)
    port.target_port.str_val = "http"
    return svc


async def start_pod(cluster: Cluster, name: str, ip: str, *, ready: bool = True, app: str = "web") -> None:
    """A Pod as a kubelet would leave it: bound, Running, with an IP and a Ready condition."""
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", labels={"app": app}))
    pod.spec.node_name = "n1"
    pod.spec.termination_grace_period_seconds = 30
    pod.spec.containers.add(name="main", image="docker.io/library/web:1.0").ports.add(name="http",
                                                                                       container_port=8080)
    created = await cluster.api.create(pod)
    await set_ready(cluster, name, ready, ip=ip, pod=created)  # type: ignore[arg-type]


async def set_ready(cluster: Cluster, name: str, ready: bool, *, ip: str = "",
                    pod: core_pb2.Pod | None = None) -> float:
    """Set the Pod's Ready condition; returns its lastTransitionTime."""
    when = time.time()
    while True:
        current: core_pb2.Pod = pod or await cluster.api.get("Pod", name, "default")  # type: ignore[assignment]
        current.status.phase = "Running"
        if ip:
            current.status.pod_ip = ip
        del current.status.conditions[:]
        current.status.conditions.add(type="Ready", status="True" if ready else "False",
                                      last_transition_time=ts(when))
        try:
            await cluster.api.update_status(current)
            return when
        except Exception as err:
            if not is_conflict(err):
                raise
            pod = None


async def slices(cluster: Cluster, service: str = "web") -> list[discovery_pb2.EndpointSlice]:
    items, _ = await cluster.api.list("EndpointSlice", "default", label_selector=f"{SERVICE_NAME_LABEL}={service}")
    return items  # type: ignore[return-value]


def endpoint_states(found: list[discovery_pb2.EndpointSlice]) -> dict[str, tuple]:
    return {e.target_ref.name: (tuple(e.addresses), e.conditions.ready, e.conditions.serving, e.conditions.terminating)
            for s in found for e in s.endpoints}


def endpoints_are(cluster: Cluster, want: dict[str, tuple]):
    async def check():
        found = await slices(cluster)
        return found if endpoint_states(found) == want else None
    return check


def test_slice_follows_pods_and_goes_with_the_service():
    async def scenario(cluster: Cluster):
        with_controllers(cluster)
        await cluster.start()
        svc = await cluster.api.create(make_service())
        await start_pod(cluster, "web-a", "10.88.0.5")
        await start_pod(cluster, "web-b", "10.88.1.6", ready=False)
        await start_pod(cluster, "db", "10.88.0.9", app="db")
        [s] = await eventually("a slice with both web Pods", endpoints_are(cluster, {
            "web-a": (("10.88.0.5",), True, True, False), "web-b": (("10.88.1.6",), False, False, False)}))
        assert s.metadata.name.startswith("web-") and s.address_type == "IPv4"
        assert [(p.name, p.protocol, p.port) for p in s.ports] == [("http", "TCP", 8080)]
        assert s.metadata.owner_references[0].uid == svc.metadata.uid  # type: ignore[attr-defined]

        # Readiness flips reach the slice within a moment (no batching delay).
        delays = []
        for ready in (False, True, False, True):
            began = time.monotonic()
            changed = await set_ready(cluster, "web-a", ready)
            [now] = await eventually(f"web-a ready={ready}", endpoints_are(cluster, {
                "web-a": (("10.88.0.5",), ready, ready, False), "web-b": (("10.88.1.6",), False, False, False)}),
                interval=0.005)
            delays.append(time.monotonic() - began)
            # The write says which change it carries (the Ready condition's transition).
            assert now.metadata.annotations[TRIGGER_TIME_ANNOTATION] == format_trigger_time(
                ts(changed).seconds + ts(changed).nanos / 1e9)
        print(f"Pod Ready change -> EndpointSlice: {[round(d * 1000) for d in delays]} ms")
        assert max(delays) < 1.0

        # A graceful delete shows as terminating; the Pod's removal takes the endpoint away.
        await cluster.api.delete("Pod", "web-b", "default")
        await eventually("web-b terminating", endpoints_are(cluster, {
            "web-a": (("10.88.0.5",), True, True, False), "web-b": (("10.88.1.6",), False, False, True)}))
        await cluster.api.delete("Pod", "web-b", "default", grace_period_seconds=0)
        [after] = await eventually("web-b gone", endpoints_are(cluster, {"web-a": (("10.88.0.5",), True, True, False)}))
        assert after.metadata.name == s.metadata.name  # the same slice, updated

        await cluster.api.delete("Service", "web", "default")
        async def no_slices():
            return not await slices(cluster)
        await eventually("the Service's slices deleted", no_slices)
    in_cluster(scenario)


def test_hand_edits_are_repaired_and_the_garbage_collector_takes_orphaned_slices():
    async def scenario(cluster: Cluster):
        controller = with_controllers(cluster)
        await cluster.start()
        await cluster.api.create(make_service())
        await start_pod(cluster, "web-a", "10.88.0.5")
        want = {"web-a": (("10.88.0.5",), True, True, False)}
        [s] = await eventually("a slice", endpoints_are(cluster, want))
        s.endpoints.add(addresses=["10.88.9.9"]).target_ref.name = "intruder"
        await cluster.api.update(s)
        await eventually("the intruder removed", endpoints_are(cluster, want))
        await cluster.api.delete("EndpointSlice", s.metadata.name, "default")
        [again] = await eventually("a slice again", endpoints_are(cluster, want))
        assert again.metadata.name != s.metadata.name
        await cluster.settled("EndpointSlice")
        assert len(await slices(cluster)) == 1  # no duplicate from a stale cache

        # Without the controller's own clean-up, the ownerReference still takes the slice.
        controller.queue.shut_down()
        await cluster.api.delete("Service", "web", "default")
        async def collected():
            return not await slices(cluster)
        await eventually("the garbage collector deletes the orphaned slice", collected)
    in_cluster(scenario)


def test_a_service_without_pods_has_a_placeholder_and_without_selector_none():
    async def scenario(cluster: Cluster):
        with_controllers(cluster, gc=False)
        await cluster.start()
        await cluster.api.create(make_service())
        async def placeholder():
            found = await slices(cluster)
            return found if len(found) == 1 and not found[0].endpoints and not found[0].ports else None
        await eventually("a placeholder slice", placeholder)
        svc = await cluster.api.get("Service", "web", "default")
        svc.spec.selector.clear()  # type: ignore[attr-defined]
        await cluster.api.update(svc)
        async def none():
            return not await slices(cluster)
        await eventually("managed slices of a selector-less Service deleted", none)
    in_cluster(scenario)


def test_a_restarted_controller_writes_nothing_when_nothing_changed():
    async def scenario(cluster: Cluster):
        first = with_controllers(cluster, gc=False)
        await cluster.start()
        await cluster.api.create(make_service())
        await start_pod(cluster, "web-a", "10.88.0.5")
        await start_pod(cluster, "web-b", "10.88.0.6", ready=False)
        [s] = await eventually("a slice", endpoints_are(cluster, {
            "web-a": (("10.88.0.5",), True, True, False), "web-b": (("10.88.0.6",), False, False, False)}))
        await cluster.settled("EndpointSlice")
        first.queue.shut_down()
        informers = SharedInformers(cluster.api)
        restarted = EndpointSliceController(cluster.api, informers, EventRecorder(cluster.api, "endpoint-slice"))
        informers.start()
        await informers.wait_synced()
        task = asyncio.create_task(restarted.run(2))
        try:
            restarted.queue.add("default/web")  # queued: not idle until a worker has synced it
            await eventually("the restarted controller idle", lambda: _idle(restarted))
            [after] = await slices(cluster)
            assert after.metadata.resource_version == s.metadata.resource_version  # no rewrite
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await informers.stop()
    in_cluster(scenario)


async def _idle(controller: EndpointSliceController) -> bool:
    return controller.queue.idle
