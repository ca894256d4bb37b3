"""Probes: liveness (failing → the container is restarted) and readiness (the
Pod's Ready condition), by exec, httpGet or tcpSocket, on Kubernetes' schedule:
initialDelaySeconds, then every periodSeconds, each try bounded by timeoutSeconds,
a result changes after failureThreshold / successThreshold tries in a row.

httpGet and tcpSocket dial the Pod's IP. On a pykube node that IP lives in the
node's sealed network namespace, so those probes run on threads that entered it
(``probe_executor``); exec probes run inside the container through the runtime."""

from __future__ import annotations

import asyncio
import http.client
import socket
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable

import structlog

from kubelet.runtime import Runtime
from protos import core_pb2

log = structlog.get_logger("prober")
LIVENESS, READINESS = "liveness", "readiness"


def resolve_port(port, container: core_pb2.Container) -> int:
    """An IntOrString probe port: a number, or the name of one of the container's ports."""
    if port.WhichOneof("value") == "int_val":
        return port.int_val
    for p in container.ports:
        if p.name == port.str_val:
            return p.container_port
    raise ValueError(f'port "{port.str_val}" is not a named port of container {container.name}')


def http_get(host: str, port: int, path: str, headers: dict[str, str], timeout: float) -> bool:
    """Kubernetes' rule: any status from 200 to 399 is a success."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "pykube-probe/1.0", **headers})
        return 200 <= conn.getresponse().status < 400
    finally:
        conn.close()


def tcp_connect(host: str, port: int, timeout: float) -> bool:
    with socket.create_connection((host, port), timeout=timeout):
        return True


@dataclass
class Prober:
    runtime: Runtime
    on_change: Callable[[str], None]  # called with the Pod uid when a result changes
    executor: Executor | None = None  # threads in the node's netns; None: the default executor
    ready: dict[str, bool] = field(default_factory=dict)  # container id -> readiness
    liveness_failed: set[str] = field(default_factory=set)  # container ids to restart
    _tasks: dict[str, list[asyncio.Task]] = field(default_factory=dict)  # container id -> probe loops

    def start(self, pod: core_pb2.Pod, container: core_pb2.Container, container_id: str, pod_ip: str) -> None:
        """Begin probing a freshly started container (no-op without probes)."""
        tasks = []
        for kind, field_name in ((LIVENESS, "liveness_probe"), (READINESS, "readiness_probe")):
            if container.HasField(field_name):
                probe = getattr(container, field_name)
                tasks.append(asyncio.create_task(
                    self._loop(kind, probe, pod, container, container_id, pod_ip),
                    name=f"probe-{kind}-{container_id[:12]}"))
        if tasks:
            self._tasks[container_id] = tasks

    def stop(self, container_id: str) -> None:
        for task in self._tasks.pop(container_id, []):
            task.cancel()
        self.ready.pop(container_id, None)
        self.liveness_failed.discard(container_id)

    def stop_all(self) -> None:
        for container_id in list(self._tasks):
            self.stop(container_id)

    async def _loop(self, kind: str, probe: core_pb2.Probe, pod: core_pb2.Pod, container: core_pb2.Container,
                    container_id: str, pod_ip: str) -> None:
        uid = pod.metadata.uid
        if kind == READINESS:
            self.ready[container_id] = False
        await asyncio.sleep(probe.initial_delay_seconds)
        successes = failures = 0
        while True:
            ok = await self.run_once(probe, container, container_id, pod_ip)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if kind == READINESS:
                if ok and successes >= max(1, probe.success_threshold) and not self.ready.get(container_id):
                    self.ready[container_id] = True
                    self.on_change(uid)
                elif not ok and failures >= max(1, probe.failure_threshold) and self.ready.get(container_id):
                    self.ready[container_id] = False
                    self.on_change(uid)
            elif not ok and failures >= max(1, probe.failure_threshold):
                log.info("liveness probe failed", pod=pod.metadata.name, container=container.name,
                         failures=failures)
                self.liveness_failed.add(container_id)
                self.on_change(uid)
                return  # the container is about to be killed; its successor gets new probes
            await asyncio.sleep(max(1, probe.period_seconds))

    async def run_once(self, probe: core_pb2.Probe, container: core_pb2.Container, container_id: str,
                       pod_ip: str) -> bool:
        timeout = max(1, probe.timeout_seconds)
        loop = asyncio.get_running_loop()
        try:
            if probe.HasField("exec"):
                code, _ = await self.runtime.exec(container_id, list(probe.exec.command), timeout)
                return code == 0
            if probe.HasField("http_get"):
                action = probe.http_get
                headers = {h.name: h.value for h in action.http_headers}
                return await asyncio.wait_for(loop.run_in_executor(
                    self.executor, http_get, action.host or pod_ip, resolve_port(action.port, container),
                    action.path, headers, timeout), timeout + 1)
            if probe.HasField("tcp_socket"):
                action = probe.tcp_socket
                return await asyncio.wait_for(loop.run_in_executor(
                    self.executor, tcp_connect, action.host or pod_ip, resolve_port(action.port, container),
                    timeout), timeout + 1)
        except (OSError, ValueError, asyncio.TimeoutError, http.client.HTTPException) as err:
            log.debug("probe failed", container=container.name, error=str(err))
            return False
        return False
