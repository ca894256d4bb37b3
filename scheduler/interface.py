"""What a scheduler plugin sees and implements (kube-scheduler's framework/interface.go).

Plugins import this module and nothing of the framework that runs them: the
framework (scheduler.framework) is handed the plugin registry (scheduler.plugins)
by whoever builds it, so dependencies point one way: framework → interface ←
plugins, and the registry is the only module that names every plugin.

* ``Plugin`` gives the optional hooks their defaults; ``FilterPlugin`` and
  ``ScorePlugin`` are the protocols the framework calls.
* ``Cycle`` is one Pod's scheduling cycle: the snapshot, its nodes, and what the
  plugins precomputed in pre_filter.
* ``Registry`` maps plugin names to their factories and builds plugins from a
  profile's names and args.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from scheduler.nodeinfo import NodeInfo, PodInfo

MAX_NODE_SCORE = 100
# pre_filter may return SKIP: the plugin's filter accepts every node for this Pod
# (kube-scheduler's PreFilter Skip status), so the cycle does not call it per node.
SKIP = "Skip"


class Snapshot(Protocol):
    def node_infos(self) -> Sequence[NodeInfo]: ...


@dataclass(frozen=True, slots=True)
class NodeSummary:
    """What holds for every node, so a plugin can skip its per-node check: the
    scheduler's cache keeps one up to date (see SchedulerCache.node_summary)."""

    all_usable: bool  # every node Ready and schedulable
    any_taints: bool

    @classmethod
    def of(cls, nodes: Sequence[NodeInfo]) -> NodeSummary:
        return cls(all(n.ready and not n.unschedulable for n in nodes), any(n.taints for n in nodes))


@dataclass
class Cycle:
    """One Pod's scheduling cycle: the snapshot, its nodes, and what plugins precomputed."""

    snapshot: Snapshot
    nodes: Sequence[NodeInfo]
    data: dict[str, Any] = field(default_factory=dict)  # plugin name -> its pre_filter/pre_score result
    _summary: NodeSummary | None = None

    def summary(self) -> NodeSummary:
        """The snapshot's node summary (computed here when the snapshot keeps none)."""
        if self._summary is None:
            kept = getattr(self.snapshot, "node_summary", None)
            self._summary = kept() if kept is not None else NodeSummary.of(self.nodes)
        return self._summary


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> str | None:
        """None, or SKIP when filter would accept every node for this Pod."""

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        """() when the Pod fits the node, else the reasons it does not."""

    def filter_all(self, pod: PodInfo, nodes: list[NodeInfo], cycle: Cycle, reasons: Counter) -> list[NodeInfo]:
        """filter over many nodes: those that pass; the others' reasons counted into reasons."""


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def pre_score(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> int | None:
        """None, or the normalized score every node gets (then score is not called)."""

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> list[float]: ...

    def score(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> float: ...

    def normalize(self, scores: list[float]) -> list[int]:
        """Map the raw scores of all feasible nodes to 0..100 (higher is better)."""


class Plugin:
    """Defaults for the optional hooks; plugins subclass it and override what they use."""

    name = "Plugin"

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> None:
        return None

    def filter_all(self, pod: PodInfo, nodes: list[NodeInfo], cycle: Cycle, reasons: Counter) -> list[NodeInfo]:
        """The nodes that pass filter, in order; the reasons of the others are counted
        into reasons. Hot plugins override it with one comprehension over the nodes
        (a Python call per node per plugin is most of a cycle's cost at 1000 nodes)."""
        passed = []
        for node in nodes:
            rejected = self.filter(pod, node, cycle)  # type: ignore[attr-defined]
            if rejected:
                reasons.update(rejected)
            else:
                passed.append(node)
        return passed

    def pre_score(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> int | None:
        return None

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> list[float]:
        score = self.score  # type: ignore[attr-defined]
        return [score(pod, node, cycle) for node in nodes]

    def normalize(self, scores: list[float]) -> list[int]:
        return [max(0, min(MAX_NODE_SCORE, int(s))) for s in scores]


def normalize_lower_is_better(scores: list[float]) -> list[int]:
    """Raw scores where less is better (Pods of the owner, untolerated soft taints) → 0..100."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high == low:
        return [MAX_NODE_SCORE] * len(scores)
    return [int(MAX_NODE_SCORE * (high - s) / (high - low)) for s in scores]



class ConfigError(ValueError):
    """A scheduler configuration (or a plugin's args) that cannot be used."""


class Registry:
    """Plugin name → factory (kube-scheduler's runtime.Registry). Names are
    kube-scheduler style ("TaintToleration"); the module name ("taint_toleration")
    is accepted too."""

    def __init__(self, factories: Mapping[str, Callable[..., Any]]) -> None:
        self.factories = dict(factories)
        self._aliases = {name.lower(): name for name in self.factories}

    def canonical_name(self, name: Any, role: str = "") -> str:
        """"taint_toleration", "TaintToleration" -> "TaintToleration"; checks the plugin can play `role`."""
        key = str(name).replace("_", "").replace("-", "").lower()
        if key not in self._aliases:
            raise ConfigError(f"unknown plugin {name!r} (known: {', '.join(self.factories)})")
        canonical = self._aliases[key]
        if role and not callable(getattr(self.factories[canonical], role, None)):  # role: "filter" or "score"
            raise ConfigError(f"plugin {canonical} is not a {role} plugin")
        return canonical

    def make(self, name: str, args: dict[str, Any] | None = None) -> Any:
        """A new instance of the plugin, configured with its pluginConfig args."""
        canonical = self.canonical_name(name)
        try:
            return self.factories[canonical](**(args or {}))
        except TypeError as err:
            raise ConfigError(f"pluginConfig for {canonical}: {err}") from None
