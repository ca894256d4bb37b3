"""PodStatus from what the runtime shows: a pure function, so the status manager
can compare what it computes with what the apiserver has and send only changes.

Follows Kubernetes' rules: restartCount is the attempt number of the current
container; a container waiting to be restarted shows state.waiting
(CrashLoopBackOff) with the death in lastState.terminated; phase is Pending until
every container has started once, Running while any runs or will be restarted,
and Succeeded/Failed once all have stopped for good."""

from __future__ import annotations

from typing import Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from kubelet.reconcile import PodObservation, Waiting, should_restart
from kubelet.runtime import CREATED, EXITED, RUNNING, ContainerStatus
from protos import core_pb2, meta_pb2

CONTAINER_ID_SCHEME = "podman://"
CONTAINER_CREATING = "ContainerCreating"


def timestamp(epoch: float) -> Timestamp:
    return Timestamp(seconds=int(epoch))


def _terminated(status: ContainerStatus) -> core_pb2.ContainerStateTerminated:
    terminated = core_pb2.ContainerStateTerminated(
        exit_code=status.exit_code, reason=status.reason or ("Completed" if status.exit_code == 0 else "Error"),
        message=status.message, container_id=CONTAINER_ID_SCHEME + status.id)
    if status.started_at is not None:
        terminated.started_at.CopyFrom(timestamp(status.started_at))
    if status.finished_at is not None:
        terminated.finished_at.CopyFrom(timestamp(status.finished_at))
    return terminated


def container_status(spec: core_pb2.Container, observed: PodObservation, waiting: Waiting | None,
                     ready: Mapping[str, bool]) -> core_pb2.ContainerStatus:
    out = core_pb2.ContainerStatus(name=spec.name, image=spec.image, started=False)
    latest = observed.latest(spec.name)
    previous = observed.previous(spec.name)
    if previous is not None and previous.state == EXITED:
        out.last_state.terminated.CopyFrom(_terminated(previous))
    if latest is None:
        out.state.waiting.reason = waiting.reason if waiting else CONTAINER_CREATING
        out.state.waiting.message = waiting.message if waiting else ""
        return out
    out.restart_count = latest.attempt
    out.image_id = latest.image_id
    out.container_id = CONTAINER_ID_SCHEME + latest.id
    if latest.state == RUNNING:
        out.started = True
        if latest.started_at is not None:
            out.state.running.started_at.CopyFrom(timestamp(latest.started_at))
        out.ready = ready.get(latest.id, not spec.HasField("readiness_probe"))
    elif latest.state == EXITED and waiting is not None:
        out.state.waiting.reason, out.state.waiting.message = waiting.reason, waiting.message
        out.last_state.terminated.CopyFrom(_terminated(latest))
    elif latest.state == EXITED:
        out.state.terminated.CopyFrom(_terminated(latest))
    else:  # CREATED or UNKNOWN: about to start
        out.state.waiting.reason = waiting.reason if waiting else CONTAINER_CREATING
        out.state.waiting.message = waiting.message if waiting else ""
    return out


def pod_phase(pod: core_pb2.Pod, observed: PodObservation) -> str:
    if pod.status.phase in ("Succeeded", "Failed"):
        return pod.status.phase  # terminal phases are final
    latest = [observed.latest(c.name) for c in pod.spec.containers]
    if any(s is None or s.state == CREATED for s in latest):
        return "Pending"
    if any(s.state == RUNNING for s in latest):  # type: ignore[union-attr]
        return "Running"
    restarting = [s for s in latest if should_restart(pod.spec.restart_policy, s.exit_code)]  # type: ignore[union-attr]
    if restarting:
        return "Running"
    return "Succeeded" if all(s.exit_code == 0 for s in latest) else "Failed"  # type: ignore[union-attr]


def _condition(previous: core_pb2.PodStatus, type_: str, value: bool, now: float,
               reason: str = "") -> meta_pb2.Condition:
    status = "True" if value else "False"
    condition = meta_pb2.Condition(type=type_, status=status, reason=reason)
    before = next((c for c in previous.conditions if c.type == type_), None)
    if before is not None and before.status == status:
        condition.last_transition_time.CopyFrom(before.last_transition_time)
    else:
        condition.last_transition_time.CopyFrom(timestamp(now))
    return condition


def compute_pod_status(pod: core_pb2.Pod, observed: PodObservation, waiting: Mapping[str, Waiting],
                       ready: Mapping[str, bool], host_ip: str, now: float) -> core_pb2.PodStatus:
    """waiting: why a container is not running (CrashLoopBackOff, ErrImagePull...);
    ready: readiness probe results by container id."""
    previous = pod.status
    status = core_pb2.PodStatus(phase=pod_phase(pod, observed), host_ip=host_ip)
    status.container_statuses.extend(
        container_status(c, observed, waiting.get(c.name), ready) for c in pod.spec.containers)
    all_ready = bool(status.container_statuses) and all(c.ready for c in status.container_statuses)
    terminal = status.phase in ("Succeeded", "Failed")
    not_ready_reason = "PodCompleted" if terminal else ("" if all_ready else "ContainersNotReady")
    scheduled = next((c for c in previous.conditions if c.type == "PodScheduled"), None)
    if scheduled is not None:
        status.conditions.append(scheduled)
    status.conditions.extend([
        _condition(previous, "Initialized", True, now),
        _condition(previous, "ContainersReady", all_ready and not terminal, now, not_ready_reason),
        _condition(previous, "Ready", all_ready and not terminal, now, not_ready_reason),
    ])
    if observed.sandbox is not None and observed.sandbox.ip:
        status.pod_ip = observed.sandbox.ip
        status.pod_ips.add(ip=observed.sandbox.ip)
    elif previous.pod_ip:
        status.pod_ip = previous.pod_ip
        status.pod_ips.extend(previous.pod_ips)
    if previous.HasField("start_time"):
        status.start_time.CopyFrom(previous.start_time)
    else:
        status.start_time.CopyFrom(timestamp(now))
    return status
