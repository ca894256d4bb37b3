"""The pod worker's decision: given what a Pod should be (its spec) and what the
runtime shows (its sandbox and containers), what to do next.

A pure function, like Kubernetes' computePodActions: no I/O, no clock of its own,
so every rule below is unit-tested without processes:

* a Pod being deleted: stop everything (the worker then confirms the deletion);
* no ready sandbox: make one (and restart containers that lived in a lost one);
* a container never started: start attempt 0;
* a container that died: restart it as restartPolicy says (Always; OnFailure only
  after a failure; Never not at all), as a new container with the next attempt
  number, but not before its crash-loop back-off allows (CrashLoopBackOff meanwhile);
* a running container whose liveness probe failed: kill it (the rule above then
  restarts it);
* containers that no spec names, and attempts older than the previous one: remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from kubelet.backoff import BackOffPolicy
from kubelet.runtime import CREATED, EXITED, RUNNING, ContainerStatus, Sandbox
from protos import core_pb2

CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"


@dataclass(frozen=True)
class PodObservation:
    """What the runtime has for one Pod: its sandbox and every container attempt."""

    sandbox: Sandbox | None
    containers: tuple[ContainerStatus, ...] = ()

    def attempts(self, name: str) -> list[ContainerStatus]:
        """The attempts of one container, newest first."""
        return sorted((c for c in self.containers if c.name == name), key=lambda c: c.attempt, reverse=True)

    def latest(self, name: str) -> ContainerStatus | None:
        attempts = self.attempts(name)
        return attempts[0] if attempts else None

    def previous(self, name: str) -> ContainerStatus | None:
        attempts = self.attempts(name)
        return attempts[1] if len(attempts) > 1 else None


@dataclass(frozen=True)
class StartContainer:
    name: str
    attempt: int


@dataclass(frozen=True)
class KillContainer:
    container_id: str
    name: str
    reason: str  # for the Killing event: why


@dataclass(frozen=True)
class Waiting:
    reason: str  # CrashLoopBackOff
    message: str


@dataclass
class PodActions:
    kill_pod: bool = False
    create_sandbox: bool = False
    start: list[StartContainer] = field(default_factory=list)
    kill: list[KillContainer] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    waiting: dict[str, Waiting] = field(default_factory=dict)
    # Decide again at this time (when a back-off ends), even if nothing else happens.
    requeue_at: float | None = None

    @property
    def idle(self) -> bool:
        return not (self.kill_pod or self.create_sandbox or self.start or self.kill or self.remove)


def should_restart(restart_policy: str, exit_code: int) -> bool:
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def ran_for(status: ContainerStatus) -> float:
    if status.started_at is None or status.finished_at is None:
        return 0.0
    return max(0.0, status.finished_at - status.started_at)


def pod_full_name(pod: core_pb2.Pod) -> str:
    return f"{pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid})"


def decide(pod: core_pb2.Pod, observed: PodObservation, restarts: Mapping[str, int],
           liveness_failed: frozenset[str], backoff: BackOffPolicy, now: float) -> PodActions:
    """restarts: restarts so far per container name (the back-off state);
    liveness_failed: ids of running containers whose liveness probe gave up."""
    actions = PodActions()
    if pod.metadata.HasField("deletion_timestamp"):
        actions.kill_pod = True
        return actions

    spec_names = [c.name for c in pod.spec.containers]
    for status in observed.containers:
        if status.name not in spec_names:
            if status.state in (RUNNING, CREATED):
                actions.kill.append(KillContainer(status.id, status.name, "not in the Pod's spec"))
            actions.remove.append(status.id)

    sandbox_lost = observed.sandbox is None or not observed.sandbox.ready
    if sandbox_lost:
        actions.create_sandbox = True
        for status in observed.containers:
            if status.name in spec_names and status.state in (RUNNING, CREATED):
                actions.kill.append(KillContainer(status.id, status.name, "its Pod sandbox is gone"))

    for name in spec_names:
        attempts = observed.attempts(name)
        for old in attempts[2:]:  # keep the current and the previous attempt (logs --previous)
            if old.state == EXITED:
                actions.remove.append(old.id)
        latest = attempts[0] if attempts else None
        if latest is None:
            actions.start.append(StartContainer(name, 0))
            continue
        if sandbox_lost:
            # New sandbox, new containers: they count as restarts, without back-off.
            actions.start.append(StartContainer(name, latest.attempt + 1))
            continue
        if latest.state == RUNNING:
            if latest.id in liveness_failed:
                actions.kill.append(KillContainer(latest.id, name, "failed liveness probe, will be restarted"))
            continue
        if latest.state == CREATED:
            # Created but never started (the kubelet died in between): replace it.
            actions.remove.append(latest.id)
            actions.start.append(StartContainer(name, latest.attempt + 1))
            continue
        if latest.state != EXITED or not should_restart(pod.spec.restart_policy, latest.exit_code):
            continue
        finished = latest.finished_at if latest.finished_at is not None else now
        allowed_at = backoff.next_allowed(restarts.get(name, 0), finished, ran_for(latest))
        if now >= allowed_at:
            actions.start.append(StartContainer(name, latest.attempt + 1))
        else:
            delay = allowed_at - finished
            actions.waiting[name] = Waiting(
                CRASH_LOOP_BACK_OFF,
                f"back-off {delay:g}s restarting failed container={name} pod={pod_full_name(pod)}")
            actions.requeue_at = allowed_at if actions.requeue_at is None else min(actions.requeue_at, allowed_at)
    return actions
