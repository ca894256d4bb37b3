"""Crash-loop back-off, with Kubernetes' curve: the first restart happens at once,
then each further restart waits 10 s, 20 s, 40 s ... up to 300 s, measured from
the moment the container died. A container that ran long enough (10 min) before
dying starts the curve over.

The state (restarts so far per key) lives in BackOff; the arithmetic is a pure
function so the reconcile decision that uses it stays a pure function too."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackOffPolicy:
    initial: float = 10.0
    maximum: float = 300.0
    reset_after: float = 600.0

    def next_allowed(self, restarts: int, finished_at: float, ran_for: float) -> float:
        """The earliest time of the next restart after `restarts` earlier ones."""
        if restarts == 0 or ran_for >= self.reset_after:
            return finished_at
        return finished_at + min(self.initial * 2 ** (restarts - 1), self.maximum)


@dataclass
class BackOff:
    policy: BackOffPolicy = field(default_factory=BackOffPolicy)
    _restarts: dict[str, int] = field(default_factory=dict)

    def restarts(self, key: str) -> int:
        return self._restarts.get(key, 0)

    def record_restart(self, key: str, ran_for: float) -> None:
        """A restart of key happened; a long-lived container starts the curve over."""
        previous = 0 if ran_for >= self.policy.reset_after else self._restarts.get(key, 0)
        self._restarts[key] = previous + 1

    def forget(self, prefix: str) -> None:
        """Drop every key of a Pod (keys start with its uid) once the Pod is gone."""
        for key in [k for k in self._restarts if k.startswith(prefix)]:
            del self._restarts[key]


def container_key(pod_uid: str, container_name: str) -> str:
    return f"{pod_uid}/{container_name}"
