"""Pod workers: one asyncio task per Pod, so a slow image pull or a long grace
period of one Pod never holds up another.

A worker sleeps until woken (the Pod changed in the apiserver, the runtime saw
one of its containers change, a probe result changed) or until its next deadline
(a back-off ends, the periodic resync), then syncs: observe, decide
(kubelet.reconcile.decide, a pure function), act through the runtime, and hand
the resulting status to the status manager."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from apimachinery.quantity import cpu_millis, to_bytes
from kubelet.backoff import container_key
from kubelet.images import PullFailure
from kubelet.reconcile import PodActions, Waiting, decide, ran_for
from kubelet.runtime import EXITED, RUNNING, ContainerSpec, SandboxSpec
from kubelet.status import compute_pod_status
from protos import core_pb2

if TYPE_CHECKING:
    from kubelet.kubelet import Kubelet

log = structlog.get_logger("pod-worker")


def container_spec(pod: core_pb2.Pod, container: core_pb2.Container, attempt: int) -> ContainerSpec:
    limits, requests = container.resources.limits, container.resources.requests
    return ContainerSpec(
        pod_uid=pod.metadata.uid, pod_name=pod.metadata.name, pod_namespace=pod.metadata.namespace,
        name=container.name, attempt=attempt, image=container.image,
        command=list(container.command), args=list(container.args),
        env={e.name: e.value for e in container.env if not e.HasField("value_from")},
        working_dir=container.working_dir,
        memory_limit_bytes=to_bytes(limits["memory"]) if "memory" in limits else None,
        cpu_limit_millis=cpu_millis(limits["cpu"]) if "cpu" in limits else None,
        cpu_request_millis=cpu_millis(requests["cpu"]) if "cpu" in requests else None,
        ports=[(p.container_port, p.protocol or "TCP", p.host_port) for p in container.ports])


class PodWorker:
    def __init__(self, kubelet: "Kubelet", uid: str) -> None:
        self.kubelet = kubelet
        self.uid = uid
        self.wake = asyncio.Event()
        self.waiting: dict[str, Waiting] = {}  # container name -> why it is not running
        self.retry_at: float | None = None
        self.finished = False
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"pod-worker-{self.uid[:8]}")

    async def run(self) -> None:
        config = self.kubelet.config
        while not self.finished:
            timeout = config.resync_interval
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
        self.kubelet.worker_finished(self.uid)

    async def sync(self) -> None:
        kubelet = self.kubelet
        pod = kubelet.pod_by_uid(self.uid)
        if pod is None:
            # Gone from the apiserver (deleted at once, or never ours): clean up what runs.
            await self.terminate(None, grace=0)
            return
        observed = kubelet.runtime_cache.observation(self.uid)
        restarts = {c.name: kubelet.backoff.restarts(container_key(self.uid, c.name)) for c in pod.spec.containers}
        now = time.time()
        actions = decide(pod, observed, restarts, frozenset(kubelet.prober.liveness_failed),
                         kubelet.backoff.policy, now)
        if actions.kill_pod:
            grace = pod.metadata.deletion_grace_period_seconds if pod.metadata.HasField(
                "deletion_grace_period_seconds") else pod.spec.termination_grace_period_seconds
            await self.terminate(pod, grace)
            return
        await self.act(pod, actions)
        self.retry_at = actions.requeue_at
        for name, why in actions.waiting.items():
            if self.waiting.get(name) != why:
                kubelet.record(pod, "Warning", "BackOff", "Back-off restarting failed container")
        self.waiting = {**{n: w for n, w in self.waiting.items() if w.reason != "CrashLoopBackOff"},
                        **actions.waiting}
        status = compute_pod_status(pod, kubelet.runtime_cache.observation(self.uid), self.waiting,
                                    kubelet.prober.ready, kubelet.config.node_ip, time.time())
        kubelet.status_manager.set(self.uid, status)

    async def act(self, pod: core_pb2.Pod, actions: PodActions) -> None:
        kubelet = self.kubelet
        runtime, cache = kubelet.runtime, kubelet.runtime_cache
        grace = pod.spec.termination_grace_period_seconds
        for kill in actions.kill:
            kubelet.record(pod, "Normal", "Killing", f"Stopping container {kill.name}" if "liveness" not in kill.reason
                           else f"Container {kill.name} {kill.reason}")
            kubelet.prober.stop(kill.container_id)
            await runtime.stop_container(kill.container_id, grace)
            await self._refresh(kill.container_id)
        for container_id in actions.remove:
            kubelet.prober.stop(container_id)
            await runtime.remove_container(container_id)
            cache.drop_container(container_id)
        if actions.create_sandbox:
            stale = cache.sandboxes.get(self.uid)
            if stale is not None:
                await runtime.remove_sandbox(stale.id)
            sandbox = await runtime.create_sandbox(SandboxSpec(
                pod_uid=pod.metadata.uid, pod_name=pod.metadata.name, pod_namespace=pod.metadata.namespace,
                hostname=pod.spec.hostname or pod.metadata.name))
            cache.set_sandbox(sandbox)
        sandbox = cache.sandboxes.get(self.uid)
        by_name = {c.name: c for c in pod.spec.containers}
        for start in actions.start:
            container = by_name[start.name]
            try:
                await kubelet.images.ensure(pod, container)
            except PullFailure as failure:
                self.waiting[start.name] = Waiting(failure.reason, failure.message)
                if failure.retry_at is not None:
                    actions.requeue_at = min(filter(None, (actions.requeue_at, failure.retry_at)))
                continue
            self.waiting.pop(start.name, None)
            previous = kubelet.runtime_cache.observation(self.uid).latest(start.name)
            assert sandbox is not None
            try:
                container_id = await runtime.create_container(sandbox.id, container_spec(pod, container, start.attempt))
            except Exception as err:
                kubelet.record(pod, "Warning", "Failed", f"Error: {err}")
                self.waiting[start.name] = Waiting("CreateContainerError", str(err))
                actions.requeue_at = time.time() + 1.0
                continue
            kubelet.record(pod, "Normal", "Created", f"Created container {start.name}")
            try:
                await runtime.start_container(container_id)
            except Exception as err:
                kubelet.record(pod, "Warning", "Failed", f"Error: {err}")
                await self._refresh(container_id)
                continue
            kubelet.record(pod, "Normal", "Started", f"Started container {start.name}")
            if previous is not None and previous.state == EXITED:
                kubelet.backoff.record_restart(container_key(self.uid, start.name), ran_for(previous))
            status = await self._refresh(container_id)
            if status is not None and status.state == RUNNING:
                kubelet.prober.start(pod, container, container_id, sandbox.ip)

    async def _refresh(self, container_id: str):
        status = await self.kubelet.runtime.container_status(container_id)
        if status is None:
            self.kubelet.runtime_cache.drop_container(container_id)
        else:
            self.kubelet.runtime_cache.set_container(status)
        return status

    async def terminate(self, pod: core_pb2.Pod | None, grace: int) -> None:
        """Stop every container of the Pod (SIGTERM, SIGKILL after grace), remove them and
        the sandbox, then confirm the deletion to the apiserver."""
        kubelet = self.kubelet
        observed = kubelet.runtime_cache.observation(self.uid)
        running = [c for c in observed.containers if c.state in (RUNNING, "created")]
        if pod is not None:
            for c in running:
                kubelet.record(pod, "Normal", "Killing", f"Stopping container {c.name}")
        await asyncio.gather(*(kubelet.runtime.stop_container(c.id, grace) for c in running))
        for c in observed.containers:
            kubelet.prober.stop(c.id)
            await kubelet.runtime.remove_container(c.id)
            kubelet.runtime_cache.drop_container(c.id)
        if observed.sandbox is not None:
            await kubelet.runtime.remove_sandbox(observed.sandbox.id)
            kubelet.runtime_cache.drop_sandbox(self.uid)
        kubelet.backoff.forget(self.uid)
        kubelet.images.forget(self.uid)
        if pod is not None:
            await kubelet.confirm_deletion(pod)
        self.finished = True
