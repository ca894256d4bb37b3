"""The scheduling framework: plugin protocols, the profile, and one scheduling cycle.

As in kube-scheduler, a Pod's placement is decided by plugins a profile names:

1. Filter: every plugin must accept the node. A plugin that rejects it says why
   ("Insufficient memory"); the first rejecting plugin ends that node's checks.
   Plugins may pre_filter once per cycle to precompute what all nodes share
   (spreading counts the Pods of the owner across nodes once, not once per node).
2. Score: each score plugin rates every feasible node; its raw scores are
   normalized to 0..100 and the weighted sum decides. Ties go to the node with the
   fewest Pods, then the smallest name: deterministic, so tests and benchmarks repeat.
3. No feasible node: the reasons are counted into kube-scheduler's message
   ("0/3 nodes are available: 1 node(s) had untolerated taint {...}, 2 Insufficient memory.").

Plugins are pure: they read the Pod (PodInfo), the node (NodeInfo) and the cycle's
snapshot (the cache, which the cycle never awaits across), and return a verdict.
The profile comes from a YAML file (--config) on top of the defaults below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.queue import DEFAULT_SCHEDULER_NAME

MAX_NODE_SCORE = 100


class Snapshot(Protocol):
    def node_infos(self) -> Sequence[NodeInfo]: ...


@dataclass
class Cycle:
    """One Pod's scheduling cycle: the snapshot, its nodes, and what plugins precomputed."""

    snapshot: Snapshot
    nodes: Sequence[NodeInfo]
    data: dict[str, Any] = field(default_factory=dict)  # plugin name -> its pre_filter/pre_score result


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> None: ...

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        """() when the Pod fits the node, else the reasons it does not."""


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def pre_score(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> None: ...

    def score(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> float: ...

    def normalize(self, scores: list[float]) -> list[int]:
        """Map the raw scores of all feasible nodes to 0..100 (higher is better)."""


class Plugin:
    """Defaults for the optional hooks; plugins subclass it and override what they use."""

    name = "Plugin"

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> None:
        return None

    def pre_score(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> None:
        return None

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


# ----------------------------------------------------------------- the config

DEFAULT_FILTERS = ("NodeReady", "TaintToleration", "NodeSelector", "ResourcesFit", "PodSpread")
DEFAULT_SCORES = (("PodSpread", 2), ("LeastAllocated", 1), ("TaintToleration", 1))


class ConfigError(ValueError):
    pass


@dataclass
class SchedulerConfig:
    """What --config may set; every field has a default (the default profile)."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    filters: list[str] = field(default_factory=lambda: list(DEFAULT_FILTERS))
    scores: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_SCORES))
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    initial_backoff: float = 1.0  # seconds an unschedulable Pod first waits; doubles per attempt
    max_backoff: float = 10.0
    assumed_ttl: float = 30.0  # an assumed Pod unconfirmed this long after its Bind is forgotten
    parallel_binds: int = 16  # Bind RPCs in flight at once


_TOP_KEYS = {"apiVersion", "kind", "schedulerName", "podInitialBackoffSeconds", "podMaxBackoffSeconds",
             "assumedPodTTLSeconds", "parallelBinds", "plugins", "pluginConfig"}


def _number(data: dict, key: str, default: float, minimum: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{key}: must be a number >= {minimum}, got {value!r}")
    return float(value)


def parse_config(data: dict[str, Any] | None) -> SchedulerConfig:
    """A SchedulerConfig from the YAML document's dict; unknown keys are errors, not silence."""
    from scheduler.plugins import canonical_name  # the registry imports this module

    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_TOP_KEYS))})")
    config = SchedulerConfig()
    config.scheduler_name = str(data.get("schedulerName", config.scheduler_name))
    config.initial_backoff = _number(data, "podInitialBackoffSeconds", config.initial_backoff, 0)
    config.max_backoff = _number(data, "podMaxBackoffSeconds", config.max_backoff, config.initial_backoff)
    config.assumed_ttl = _number(data, "assumedPodTTLSeconds", config.assumed_ttl, 0)
    config.parallel_binds = int(_number(data, "parallelBinds", config.parallel_binds, 1))
    plugins = data.get("plugins") or {}
    if not isinstance(plugins, dict) or set(plugins) - {"filter", "score"}:
        raise ConfigError("plugins: must be a mapping with keys filter and/or score")
    if "filter" in plugins:
        entries = plugins["filter"] or []
        if not isinstance(entries, list):
            raise ConfigError("plugins.filter: must be a list of plugin names")
        config.filters = [canonical_name(e["name"] if isinstance(e, dict) else e, "filter") for e in entries]
    if "score" in plugins:
        entries = plugins["score"] or []
        if not isinstance(entries, list):
            raise ConfigError("plugins.score: must be a list of {name, weight}")
        scores = []
        for e in entries:
            name, weight = (e.get("name"), e.get("weight", 1)) if isinstance(e, dict) else (e, 1)
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ConfigError(f"plugins.score: weight of {name} must be an integer >= 0, got {weight!r}")
            scores.append((canonical_name(name, "score"), weight))
        config.scores = scores
    args = data.get("pluginConfig") or {}
    if isinstance(args, list):  # kube-scheduler's shape: [{name: X, args: {...}}]
        args = {e.get("name"): e.get("args") or {} for e in args}
    if not isinstance(args, dict):
        raise ConfigError("pluginConfig: must map plugin names to their args")
    config.plugin_args = {canonical_name(name): dict(value or {}) for name, value in args.items()}
    return config


def load_config(path: str | Path | None) -> SchedulerConfig:
    if path is None:
        return SchedulerConfig()
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    try:
        return parse_config(yaml.safe_load(text))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


# ---------------------------------------------------------------- the profile

@dataclass
class Profile:
    scheduler_name: str
    filters: list[FilterPlugin]
    scores: list[tuple[ScorePlugin, int]]

    @classmethod
    def from_config(cls, config: SchedulerConfig) -> Profile:
        from scheduler.plugins import make_plugin

        instances: dict[str, Any] = {}

        def plugin(name: str) -> Any:
            if name not in instances:
                instances[name] = make_plugin(name, config.plugin_args.get(name, {}))
            return instances[name]

        return cls(config.scheduler_name, [plugin(n) for n in config.filters],
                   [(plugin(n), w) for n, w in config.scores if w > 0])


@dataclass
class ScheduleResult:
    node: str | None  # the chosen node, None when nothing fits
    feasible: int = 0
    evaluated: int = 0
    reasons: Counter = field(default_factory=Counter)  # reason -> nodes (None when feasible)
    message: str = ""  # the FailedScheduling message when nothing fits
    scores: dict[str, float] = field(default_factory=dict)  # node -> weighted total (when scored)


def fit_error_message(total_nodes: int, reasons: Counter) -> str:
    """kube-scheduler's FitError text: counts per reason, sorted as strings."""
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{total_nodes} nodes are available: {', '.join(parts)}."


class Framework:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def schedule(self, pod: PodInfo, snapshot: Snapshot) -> ScheduleResult:
        """One scheduling cycle for one Pod: filter, score, pick. Pure: it changes nothing."""
        nodes = snapshot.node_infos()
        cycle = Cycle(snapshot, nodes)
        filters = self.profile.filters
        for plugin in filters:
            plugin.pre_filter(pod, cycle)
        feasible: list[NodeInfo] = []
        reasons: Counter = Counter()
        for node in nodes:
            for plugin in filters:
                rejected = plugin.filter(pod, node, cycle)
                if rejected:
                    reasons.update(rejected)
                    break
            else:
                feasible.append(node)
        if not feasible:
            return ScheduleResult(None, 0, len(nodes), reasons, fit_error_message(len(nodes), reasons))
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, 1, len(nodes))
        totals = [0.0] * len(feasible)
        for plugin, weight in self.profile.scores:
            plugin.pre_score(pod, feasible, cycle)
            raw = [plugin.score(pod, node, cycle) for node in feasible]
            for i, value in enumerate(plugin.normalize(raw)):
                totals[i] += weight * value
        best = min(range(len(feasible)), key=lambda i: (-totals[i], feasible[i].pod_count, feasible[i].name))
        return ScheduleResult(feasible[best].name, len(feasible), len(nodes),
                              scores={n.name: t for n, t in zip(feasible, totals)})
