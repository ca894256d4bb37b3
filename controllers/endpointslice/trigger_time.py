"""When the change a slice write carries began: the annotation
``endpoints.kubernetes.io/last-change-trigger-time`` (Kubernetes' TriggerTimeTracker).

A reader that programs the network from the slices (kube-proxy, pykube-proxy) measures
its network programming latency from this moment: the oldest change not yet written
when the sync ran. A Pod's change is its Ready condition's lastTransitionTime (when
it turned Ready or unready), a Service's is its creation. The tracker remembers what
each Service's last sync saw; a Service's first sync after a controller start has no
trigger time (whatever changed may have been written before)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from protos import core_pb2, discovery_pb2

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


def _seconds(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


def pod_trigger_time(pod: core_pb2.Pod) -> float:
    """getPodTriggerTime: the Ready condition's lastTransitionTime (0: none)."""
    ready = next((c for c in pod.status.conditions if c.type == "Ready"), None)
    return _seconds(ready.last_transition_time) if ready is not None else 0.0


def format_trigger_time(seconds: float) -> str:
    """RFC 3339 with nanoseconds, UTC (Go's time.RFC3339Nano, trailing zeros dropped)."""
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    stamp = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{stamp}{fraction}Z"


@dataclass
class _ServiceState:
    service_time: float = 0.0
    pod_times: dict[str, float] = field(default_factory=dict)


@dataclass
class TriggerTimeTracker:
    states: dict[str, _ServiceState] = field(default_factory=dict)

    def compute(self, key: str, service: core_pb2.Service, pods: list[core_pb2.Pod]) -> float | None:
        """The oldest trigger time that changed since this Service's last sync (None: none).
        `pods` are the Pods the Service selects."""
        state = self.states.get(key)
        known = state is not None
        state = state or _ServiceState()
        changed: list[float] = []
        pod_times = {}
        for pod in pods:
            when = pod_trigger_time(pod)
            if when:
                pod_times[pod.metadata.name] = when
                if when > state.pod_times.get(pod.metadata.name, 0.0):
                    changed.append(when)
        service_time = _seconds(service.metadata.creation_timestamp)
        if service_time > state.service_time:
            changed.append(service_time)
        self.states[key] = _ServiceState(service_time, pod_times)
        return min(changed) if known and changed else None

    def forget(self, key: str) -> None:
        self.states.pop(key, None)


def annotate(slice_: discovery_pb2.EndpointSlice, trigger_time: float | None) -> None:
    """addTriggerTimeAnnotation: on every slice written; without a trigger time, none."""
    if trigger_time is None:
        slice_.metadata.annotations.pop(TRIGGER_TIME_ANNOTATION, None)
    else:
        slice_.metadata.annotations[TRIGGER_TIME_ANNOTATION] = format_trigger_time(trigger_time)
