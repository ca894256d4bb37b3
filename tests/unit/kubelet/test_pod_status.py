"""PodStatus computed from observations: phase, container states, restart count,
conditions; and the status manager's change detection."""

from __future__ import annotations

import asyncio

from kubelet.reconcile import PodObservation, Waiting
from kubelet.runtime import CREATED, EXITED, RUNNING, ContainerStatus, Sandbox
from kubelet.status import compute_pod_status
from kubelet.status_manager import StatusManager
from protos import core_pb2, meta_pb2

NOW = 2_000_000.0
SANDBOX = Sandbox("sb1", "uid-1", "web", "default", "10.88.0.7", True)


def pod(restart_policy: str = "Always", readiness: bool = False) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name="web", namespace="default", uid="uid-1"),
                     spec=core_pb2.PodSpec(restart_policy=restart_policy, node_name="n1"))
    c = p.spec.containers.add(name="app", image="docker.io/library/multi-worker:1.0")
    if readiness:
        c.readiness_probe.tcp_socket.port.int_val = 8080
    p.status.phase = "Pending"
    p.status.conditions.add(type="PodScheduled", status="True")
    return p


def c(attempt: int = 0, state: str = RUNNING, exit_code: int = 0, cid: str = "") -> ContainerStatus:
    return ContainerStatus(id=cid or f"id{attempt}", pod_uid="uid-1", pod_name="web", pod_namespace="default",
                           name="app", attempt=attempt, image="img", image_id="sha256:abc", state=state,
                           exit_code=exit_code, started_at=NOW - 10, finished_at=NOW - 1 if state == EXITED else None,
                           reason="" if state != EXITED else ("Completed" if exit_code == 0 else "Error"))


def status(p, *containers, waiting=None, ready=None, sandbox=SANDBOX):
    return compute_pod_status(p, PodObservation(sandbox, tuple(containers)), waiting or {}, ready or {},
                              "127.0.0.1", NOW)


def test_pending_until_the_container_starts():
    s = status(pod(), sandbox=None)
    assert s.phase == "Pending"
    assert s.container_statuses[0].state.waiting.reason == "ContainerCreating"
    s = status(pod(), waiting={"app": Waiting("ErrImagePull", "manifest unknown")})
    assert s.container_statuses[0].state.waiting.reason == "ErrImagePull"
    assert s.container_statuses[0].state.waiting.message == "manifest unknown"


def test_running_container_reports_ids_ip_and_ready():
    s = status(pod(), c())
    assert s.phase == "Running" and s.pod_ip == "10.88.0.7" and s.host_ip == "127.0.0.1"
    cs = s.container_statuses[0]
    assert cs.ready and cs.started and cs.restart_count == 0
    assert cs.container_id == "podman://id0" and cs.image_id == "sha256:abc"
    assert cs.state.running.started_at.seconds == int(NOW - 10)
    assert {x.type: x.status for x in s.conditions} == {
        "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}


def test_readiness_probe_gates_ready():
    s = status(pod(readiness=True), c())
    assert not s.container_statuses[0].ready
    assert {x.type: x.status for x in s.conditions}["Ready"] == "False"
    s = status(pod(readiness=True), c(), ready={"id0": True})
    assert {x.type: x.status for x in s.conditions}["Ready"] == "True"


def test_restarted_container_shows_restart_count_and_last_state():
    s = status(pod(), c(0, EXITED, 137), c(1))
    cs = s.container_statuses[0]
    assert cs.restart_count == 1
    assert cs.state.HasField("running")
    assert cs.last_state.terminated.exit_code == 137 and cs.last_state.terminated.reason == "Error"


def test_crash_loop_shows_waiting_with_last_termination():
    s = status(pod(), c(0, EXITED, 1), c(1, EXITED, 1),
               waiting={"app": Waiting("CrashLoopBackOff", "back-off 10s restarting failed container")})
    cs = s.container_statuses[0]
    assert s.phase == "Running"
    assert cs.state.waiting.reason == "CrashLoopBackOff"
    assert cs.last_state.terminated.exit_code == 1 and cs.restart_count == 1


def test_terminal_phases():
    assert status(pod("Never"), c(0, EXITED, 0)).phase == "Succeeded"
    assert status(pod("Never"), c(0, EXITED, 3)).phase == "Failed"
    assert status(pod("OnFailure"), c(0, EXITED, 0)).phase == "Succeeded"
    assert status(pod("OnFailure"), c(0, EXITED, 3)).phase == "Running"  # will be restarted
    assert status(pod(), c(0, CREATED)).phase == "Pending"


def test_transition_times_are_kept_while_a_condition_holds():
    p = pod()
    first = status(p, c())
    p.status.CopyFrom(first)
    later = compute_pod_status(p, PodObservation(SANDBOX, (c(),)), {}, {}, "127.0.0.1", NOW + 50)
    assert later == first  # nothing changed: identical status, so nothing is sent


class FakeAPI:
    def __init__(self) -> None:
        self.sent: list[core_pb2.Pod] = []

    async def update_status(self, obj):
        self.sent.append(obj)
        return obj


def test_status_manager_sends_only_changes():
    async def scenario():
        p = pod()
        api = FakeAPI()
        manager = StatusManager(api, lambda uid: p if uid == "uid-1" else None)  # type: ignore[arg-type]
        task = asyncio.create_task(manager.run())
        manager.set("uid-1", p.status)  # same as the apiserver's: nothing to send
        await asyncio.sleep(0)
        new = status(p, c())
        manager.set("uid-1", new)
        manager.set("uid-1", new)  # coalesced with the first
        for _ in range(50):
            await asyncio.sleep(0)
        task.cancel()
        return api.sent

    sent = asyncio.run(scenario())
    assert len(sent) == 1
    assert sent[0].status.phase == "Running"
    assert sent[0].metadata.resource_version == ""  # status is the kubelet's: no CAS needed
