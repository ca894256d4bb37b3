"""The EndpointSlice controller: keep each Service's EndpointSlices equal to its Pods.

Every event only enqueues a Service key; reconcile(key) reads the caches, asks
plan_endpoint_slices() and writes the difference (creates, then updates, then
deletes, so a reader never sees an endpoint missing in between):

* Service added/changed → that Service; deleted → its managed slices are deleted
  at once (the garbage collector would also take them, by their ownerReference);
* Pod added/deleted, or changed in anything an endpoint shows (labels, IP,
  readiness, deletion, node, hostname, ports) → every Service of its namespace whose
  selector matches the Pod's old or new labels;
* a managed slice changed or deleted by someone else → its Service, so hand edits
  are repaired.

Kubernetes batches Pod-triggered syncs for a second (--endpointslice-updates-batch-period);
pykube's default is 0: a Pod turning Ready reaches the slices within one round
trip. A slice informer that has not yet shown this controller's own last writes
would make it plan from stale state (and create a duplicate slice), so, like
Kubernetes' EndpointSliceTracker, the controller remembers what it wrote and
waits for the cache to catch up before planning again for that Service.

Every slice written carries endpoints.kubernetes.io/last-change-trigger-time (see
trigger_time), from which a reader measures its network programming latency."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from google.protobuf.message import Message

from apimachinery.objects import is_deleting
from client.api import AsyncAPI, describe, is_not_found
from client.events import WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.replicaset import is_ready
from controllers.endpointslice.endpoints import is_managed, pod_ipv4, selects, service_of
from controllers.endpointslice.reconciler import MAX_ENDPOINTS_PER_SLICE, SlicePlan, plan_endpoint_slices
from controllers.endpointslice.trigger_time import TriggerTimeTracker, annotate
from protos import core_pb2, discovery_pb2

log = structlog.get_logger("endpointslice-controller")
GONE = -1  # the tracker's mark for a slice this controller deleted


@dataclass
class EndpointSliceConfig:
    max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE  # --max-endpoints-per-slice
    # --endpointslice-updates-batch-period: how long Pod-triggered syncs wait to be batched.
    updates_batch_period: float = 0.0


def pod_view(pod: core_pb2.Pod) -> tuple:
    """Everything of a Pod that an endpoint shows or that decides whether it is one."""
    ports = tuple((p.name, p.container_port, p.protocol) for c in pod.spec.containers for p in c.ports)
    return (tuple(sorted(pod.metadata.labels.items())), pod_ipv4(pod), is_ready(pod), is_deleting(pod),
            pod.status.phase in ("Succeeded", "Failed"), pod.spec.node_name, pod.spec.hostname,
            pod.spec.subdomain, ports, pod.metadata.uid)


class EndpointSliceController(Controller):
    name = "endpointslice-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
                 config: EndpointSliceConfig | None = None) -> None:
        super().__init__(api, informers, recorder)
        self.config = config or EndpointSliceConfig()
        self.services = informers.get("Service")
        self.pods = informers.get("Pod")
        self.slices = informers.get("EndpointSlice")
        # Service key -> slice name -> the resourceVersion this controller last wrote (GONE: deleted).
        self.written: dict[str, dict[str, int]] = {}
        self.trigger_times = TriggerTimeTracker()
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)
        self.slices.add_handler(self._on_slice)

    # -------------------------------------------------------------- handlers

    def _on_service(self, event: str, obj: Message, old: Message | None) -> None:
        self.queue.add(object_key(obj))

    def _services_selecting(self, pod: core_pb2.Pod) -> set[str]:
        return {object_key(s) for s in self.services.items()
                if s.metadata.namespace == pod.metadata.namespace  # type: ignore[attr-defined]
                and selects(s, pod.metadata.labels)}  # type: ignore[arg-type]

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        keys = self._services_selecting(pod)
        if event == "MODIFIED" and old is not None:
            keys |= self._services_selecting(old)  # type: ignore[arg-type]
            if keys and pod_view(old) == pod_view(pod):  # type: ignore[arg-type]
                return  # a status change no endpoint shows
        for key in keys:
            if self.config.updates_batch_period > 0:
                self.queue.add_after(key, self.config.updates_batch_period)
            else:
                self.queue.add(key)

    def _on_slice(self, event: str, obj: Message, old: Message | None) -> None:
        slice_: discovery_pb2.EndpointSlice = obj  # type: ignore[assignment]
        key = service_of(slice_)
        if not key or not (is_managed(slice_) or (old is not None and is_managed(old))):  # type: ignore[arg-type]
            return
        if event == "DELETED":  # gone, whatever this controller last wrote to it
            self.written.get(key, {}).pop(slice_.metadata.name, None)
        self.queue.add(key)

    # -------------------------------------------------------------- reconcile

    def _managed_slices(self, key: str) -> list[discovery_pb2.EndpointSlice]:
        return [s for s in self.slices.items() if is_managed(s) and service_of(s) == key]  # type: ignore[arg-type]

    def _stale(self, key: str, slices: list[discovery_pb2.EndpointSlice]) -> bool:
        """The cache does not yet show a write of ours (EndpointSliceTracker.StaleSlices)."""
        cached = {s.metadata.name: int(s.metadata.resource_version) for s in slices}
        written = self.written.get(key, {})
        for name, version in list(written.items()):
            if (name in cached) if version == GONE else cached.get(name, -1) < version:
                return True
            del written[name]  # seen (its event may have come before the write returned)
        self.written.pop(key, None)
        return False

    async def reconcile(self, key: str) -> None:
        slices = self._managed_slices(key)
        if self._stale(key, slices):
            return  # the slice events still to come enqueue the Service again
        service: core_pb2.Service | None = self.services.get(key)  # type: ignore[assignment]
        trigger_time = None
        if service is None:
            plan = SlicePlan(delete=slices)  # the Service is gone: so are its slices
            self.trigger_times.forget(key)
        else:
            namespace = service.metadata.namespace
            pods = [p for p in self.pods.items() if p.metadata.namespace == namespace]  # type: ignore[attr-defined]
            plan = plan_endpoint_slices(service, pods, slices,  # type: ignore[arg-type]
                                        self.config.max_endpoints_per_slice)
            if is_deleting(service):
                plan.create.clear()  # a Service on its way out gets no new slices
            trigger_time = self.trigger_times.compute(
                key, service, [p for p in pods if selects(service, p.metadata.labels)])  # type: ignore[attr-defined]
        if not plan.empty:
            await self._execute(key, service, plan, trigger_time)

    async def _execute(self, key: str, service: core_pb2.Service | None, plan: SlicePlan,
                       trigger_time: float | None) -> None:
        written = self.written.setdefault(key, {})
        for slice_ in plan.create + plan.update:
            annotate(slice_, trigger_time)
        try:
            for slice_ in plan.create:
                created = await self.api.create(slice_)
                written[created.metadata.name] = int(created.metadata.resource_version)  # type: ignore[attr-defined]
            for slice_ in plan.update:
                updated = await self.api.update(slice_)
                written[updated.metadata.name] = int(updated.metadata.resource_version)  # type: ignore[attr-defined]
            for slice_ in plan.delete:
                await self._delete(slice_)
                written[slice_.metadata.name] = GONE
        except Exception as err:
            if service is not None and not is_not_found(err):
                self.recorder.record(service, WARNING, "FailedToUpdateEndpointSlices",
                                     f"Error updating Endpoint Slices for Service {key}: {describe(err)}")
            raise
        finally:
            if not written:
                self.written.pop(key, None)
        log.debug("endpoint slices synced", service=key, created=len(plan.create), updated=len(plan.update),
                  deleted=len(plan.delete))

    async def _delete(self, slice_: discovery_pb2.EndpointSlice) -> None:
        try:
            await self.api.delete("EndpointSlice", slice_.metadata.name, slice_.metadata.namespace,
                                  uid=slice_.metadata.uid)
        except Exception as err:
            if not is_not_found(err):
                raise
