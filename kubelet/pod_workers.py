"""Pod workers: one asyncio task per Pod, so a slow image pull or a long grace
period of one Pod never holds up another.

A worker sleeps until woken (the Pod changed in the apiserver, the runtime saw
one of its containers change, a probe result changed) or until its next deadline
(a back-off ends, the periodic resync), then syncs: observe, decide
(kubelet.reconcile.decide, a pure function), act through the runtime, and hand
the resulting status to the status manager.

A worker knows the kubelet only through two small things, so this module does
not import kubelet.kubelet (the Kubelet creates the workers, not the other way):

* :class:`NodeParts`, what every worker acts through: the runtime, the runtime
  cache, the crash-loop back-off, the prober, the image manager, the status
  manager's ``set`` and the event recorder. One instance, shared by a node's
  workers.
* :class:`PodWorkerHost`, the three calls back to the owner: look the Pod up by
  uid, confirm its deletion to the apiserver, and say the worker is done."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import structlog

from apimachinery.quantity import cpu_millis, to_bytes
from kubelet.backoff import BackOff, container_key
from kubelet.images import ImageManager, PullFailure, Recorder
from kubelet.pleg import RuntimeCache
from kubelet.prober import Prober
from kubelet.reconcile import PodActions, Waiting, decide, ran_for
from kubelet import volumes
from kubelet.claims import ClaimSource
from kubelet.config_source import ConfigSource
from kubelet.envvars import ConfigError
from kubelet.pod_config import container_config, prepare, writes_volumes
from kubelet.runtime import EXITED, RUNNING, ContainerSpec, DNSConfig, Mount, Runtime, SandboxSpec
from kubelet.volumes import VolumeError
from kubelet.status import compute_pod_status
from protos import core_pb2

log = structlog.get_logger("pod-worker")


def container_spec(pod: core_pb2.Pod, container: core_pb2.Container, attempt: int,
                   env: dict[str, str] | None = None, mounts: list[Mount] | None = None) -> ContainerSpec:
    """env: resolved by kubelet.envvars (default: the plain values only); mounts: the volumes'."""
    limits, requests = container.resources.limits, container.resources.requests
    return ContainerSpec(
        pod_uid=pod.metadata.uid, pod_name=pod.metadata.name, pod_namespace=pod.metadata.namespace,
        name=container.name, attempt=attempt, image=container.image,
        command=list(container.command), args=list(container.args),
        env=env if env is not None else {e.name: e.value for e in container.env if not e.HasField("value_from")},
        mounts=list(mounts or ()),
        working_dir=container.working_dir,
        memory_limit_bytes=to_bytes(limits["memory"]) if "memory" in limits else None,
        cpu_limit_millis=cpu_millis(limits["cpu"]) if "cpu" in limits else None,
        cpu_request_millis=cpu_millis(requests["cpu"]) if "cpu" in requests else None,
        ports=[(p.container_port, p.protocol or "TCP", p.host_port) for p in container.ports])


@dataclass(frozen=True)
class NodeParts:
    """What a pod worker acts through; the Kubelet builds one and shares it."""
    runtime: Runtime
    cache: RuntimeCache  # what the runtime last said, by Pod uid (kept fresh by the PLEG and the workers)
    backoff: BackOff  # crash-loop back-off, by container
    prober: Prober
    images: ImageManager
    set_status: Callable[[str, core_pb2.PodStatus], None]  # the status manager's set(uid, status)
    record: Recorder  # events about the Pod
    node_ip: str  # the hostIP in every Pod status
    resync_interval: float  # a worker syncs at least this often, even with nothing new
    # The resolv.conf of a Pod's sandbox (kubelet.dns.pod_dns with the kubelet's flags).
    dns: Callable[[core_pb2.Pod], DNSConfig] = field(default=lambda pod: DNSConfig())
    # The ConfigMaps and Secrets of Pods' env and volumes (None: none exist for this node).
    configs: ConfigSource | None = None
    # The kubelet's root directory: Pods' volumes under pods/<uid>/volumes ("" : no volumes).
    root_dir: str = ""
    # Where persistentVolumeClaim volumes are: claim -> bound PersistentVolume -> host directory.
    claims: ClaimSource | None = None
    # The node's allocatable cpu and memory (filled at start): a resourceFieldRef's value for
    # a container without that limit, as in Kubernetes.
    allocatable: dict[str, str] = field(default_factory=dict)


class PodWorkerHost(Protocol):
    """The calls a pod worker makes back to the kubelet that owns it."""

    def pod_by_uid(self, uid: str) -> core_pb2.Pod | None:
        """The apiserver's Pod (from the kubelet's informer), or None once it is gone."""

    async def confirm_deletion(self, pod: core_pb2.Pod) -> None:
        """Every container of the Pod has stopped: let the apiserver remove the object."""

    def worker_finished(self, uid: str) -> None:
        """The worker's loop has ended (its Pod is gone and cleaned up)."""


class PodWorker:
    def __init__(self, host: PodWorkerHost, parts: NodeParts, uid: str) -> None:
        self.host = host
        self.parts = parts
        self.uid = uid
        self.wake = asyncio.Event()
        self.waiting: dict[str, Waiting] = {}  # container name -> why it is not running
        self.retry_at: float | None = None
        self.finished = False
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"pod-worker-{self.uid[:8]}")

    async def run(self) -> None:
        while not self.finished:
            timeout = self.parts.resync_interval
            if self.retry_at is not None:
                timeout = max(0.0, min(timeout, self.retry_at - time.time()))
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.exception("pod sync failed", pod_uid=self.uid, error=str(err))
                self.retry_at = time.time() + 1.0
        self.host.worker_finished(self.uid)

    async def sync(self) -> None:
        parts = self.parts
        pod = self.host.pod_by_uid(self.uid)
        if pod is None:
            # Gone from the apiserver (deleted at once, or never ours): clean up what runs.
            await self.terminate(None, grace=0)
            return
        observed = parts.cache.observation(self.uid)
        restarts = {c.name: parts.backoff.restarts(container_key(self.uid, c.name)) for c in pod.spec.containers}
        now = time.time()
        actions = decide(pod, observed, restarts, frozenset(parts.prober.liveness_failed),
                         parts.backoff.policy, now)
        if actions.kill_pod:
            grace = pod.metadata.deletion_grace_period_seconds if pod.metadata.HasField(
                "deletion_grace_period_seconds") else pod.spec.termination_grace_period_seconds
            await self.terminate(pod, grace)
            return
        await self.act(pod, actions)
        self.retry_at = actions.requeue_at
        for name, why in actions.waiting.items():
            if self.waiting.get(name) != why:
                parts.record(pod, "Warning", "BackOff", "Back-off restarting failed container")
        self.waiting = {**{n: w for n, w in self.waiting.items() if w.reason != "CrashLoopBackOff"},
                        **actions.waiting}
        status = compute_pod_status(pod, parts.cache.observation(self.uid), self.waiting,
                                    parts.prober.ready, parts.node_ip, time.time())
        parts.set_status(self.uid, status)

    async def act(self, pod: core_pb2.Pod, actions: PodActions) -> None:
        parts = self.parts
        runtime, cache = parts.runtime, parts.cache
        grace = pod.spec.termination_grace_period_seconds
        for kill in actions.kill:
            parts.record(pod, "Normal", "Killing", f"Stopping container {kill.name}" if "liveness" not in kill.reason
                           else f"Container {kill.name} {kill.reason}")
            parts.prober.stop(kill.container_id)
            await runtime.stop_container(kill.container_id, grace)
            await self._refresh(kill.container_id)
        for container_id in actions.remove:
            parts.prober.stop(container_id)
            await runtime.remove_container(container_id)
            cache.drop_container(container_id)
        if actions.create_sandbox:
            stale = cache.sandboxes.get(self.uid)
            if stale is not None:
                await runtime.remove_sandbox(stale.id)
            sandbox = await runtime.create_sandbox(SandboxSpec(
                pod_uid=pod.metadata.uid, pod_name=pod.metadata.name, pod_namespace=pod.metadata.namespace,
                hostname=pod.spec.hostname or pod.metadata.name, dns=parts.dns(pod)))
            cache.set_sandbox(sandbox)
        sandbox = cache.sandboxes.get(self.uid)
        by_name = {c.name: c for c in pod.spec.containers}
        config = None
        if sandbox is not None and (actions.start or writes_volumes(pod)):
            config = await prepare(pod, parts.configs, parts.root_dir, pod_ip=sandbox.ip, host_ip=parts.node_ip,
                                   claims=parts.claims, node_allocatable=parts.allocatable)
            if config.volume_error is not None:
                parts.record(pod, "Warning", "FailedMount", str(config.volume_error))
                if actions.start:
                    retry = time.time() + 2.0
                    actions.requeue_at = min(filter(None, (actions.requeue_at, retry)))
                    for start in actions.start:
                        self.waiting[start.name] = Waiting("ContainerCreating", "")
                return
        for start in actions.start:
            container = by_name[start.name]
            try:
                await parts.images.ensure(pod, container)
            except PullFailure as failure:
                self.waiting[start.name] = Waiting(failure.reason, failure.message)
                if failure.retry_at is not None:
                    actions.requeue_at = min(filter(None, (actions.requeue_at, failure.retry_at)))
                continue
            self.waiting.pop(start.name, None)
            previous = cache.observation(self.uid).latest(start.name)
            assert sandbox is not None and config is not None
            try:
                env, mounts = container_config(pod, container, config, pod_ip=sandbox.ip, host_ip=parts.node_ip,
                                               node_allocatable=parts.allocatable)
            except (ConfigError, VolumeError) as err:
                parts.record(pod, "Warning", "Failed", f"Error: {err}")
                self.waiting[start.name] = Waiting(ConfigError.reason, str(err))
                actions.requeue_at = min(filter(None, (actions.requeue_at, time.time() + 2.0)))
                continue
            try:
                container_id = await runtime.create_container(
                    sandbox.id, container_spec(pod, container, start.attempt, env, mounts))
            except Exception as err:
                parts.record(pod, "Warning", "Failed", f"Error: {err}")
                self.waiting[start.name] = Waiting("CreateContainerError", str(err))
                actions.requeue_at = time.time() + 1.0
                continue
            parts.record(pod, "Normal", "Created", f"Created container {start.name}")
            try:
                await runtime.start_container(container_id)
            except Exception as err:
                parts.record(pod, "Warning", "Failed", f"Error: {err}")
                await self._refresh(container_id)
                continue
            parts.record(pod, "Normal", "Started", f"Started container {start.name}")
            if previous is not None and previous.state == EXITED:
                parts.backoff.record_restart(container_key(self.uid, start.name), ran_for(previous))
            status = await self._refresh(container_id)
            if status is not None and status.state == RUNNING:
                parts.prober.start(pod, container, container_id, sandbox.ip)

    async def _refresh(self, container_id: str):
        status = await self.parts.runtime.container_status(container_id)
        if status is None:
            self.parts.cache.drop_container(container_id)
        else:
            self.parts.cache.set_container(status)
        return status

    async def terminate(self, pod: core_pb2.Pod | None, grace: int) -> None:
        """Stop every container of the Pod (SIGTERM, SIGKILL after grace), remove them and
        the sandbox, then confirm the deletion to the apiserver."""
        parts = self.parts
        observed = parts.cache.observation(self.uid)
        running = [c for c in observed.containers if c.state in (RUNNING, "created")]
        if pod is not None:
            for c in running:
                parts.record(pod, "Normal", "Killing", f"Stopping container {c.name}")
        await asyncio.gather(*(parts.runtime.stop_container(c.id, grace) for c in running))
        for c in observed.containers:
            parts.prober.stop(c.id)
            await parts.runtime.remove_container(c.id)
            parts.cache.drop_container(c.id)
        if observed.sandbox is not None:
            await parts.runtime.remove_sandbox(observed.sandbox.id)
            parts.cache.drop_sandbox(self.uid)
        if parts.root_dir:
            await asyncio.to_thread(volumes.tear_down, parts.root_dir, self.uid)
        parts.backoff.forget(self.uid)
        parts.images.forget(self.uid)
        if pod is not None:
            await self.host.confirm_deletion(pod)
        self.finished = True
