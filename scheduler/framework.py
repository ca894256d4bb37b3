"""The scheduling framework: the config, the profile, and one scheduling cycle.

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
What they implement and see is in scheduler.interface. The framework does not
import the plugins: as kube-scheduler's runtime, it is handed the registry
(scheduler.plugins.REGISTRY, by the Scheduler) and builds the profile's plugins
from it. The profile comes from a YAML file (--config) on top of the defaults below.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scheduler.interface import SKIP, ConfigError, Cycle, FilterPlugin, Registry, ScorePlugin, Snapshot
from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.queue import DEFAULT_SCHEDULER_NAME

# kube-scheduler's floors for sampling nodes (percentageOfNodesToScore).
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


# ----------------------------------------------------------------- the config

DEFAULT_FILTERS = ("NodeReady", "TaintToleration", "NodeSelector", "ResourcesFit", "VolumeBinding", "PodSpread")
DEFAULT_SCORES = (("PodSpread", 2), ("LeastAllocated", 1), ("TaintToleration", 1))


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
    parallel_binds: int = 2  # Batch calls of Binds in flight at once (each carries up to 500 Binds)
    # Stop filtering after this share of the nodes were found feasible (0: adaptive, as
    # kube-scheduler: 50% less 1% per 125 nodes, at least 5%; clusters under 100 nodes: all).
    percentage_of_nodes_to_score: int = 0


_TOP_KEYS = {"apiVersion", "kind", "schedulerName", "podInitialBackoffSeconds", "podMaxBackoffSeconds",
             "assumedPodTTLSeconds", "parallelBinds", "percentageOfNodesToScore", "plugins", "pluginConfig"}


def _number(data: dict, key: str, default: float, minimum: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{key}: must be a number >= {minimum}, got {value!r}")
    return float(value)


def parse_config(data: dict[str, Any] | None, registry: Registry) -> SchedulerConfig:
    """A SchedulerConfig from the YAML document's dict; unknown keys (and plugins the
    registry does not know) are errors, not silence."""
    canonical_name = registry.canonical_name
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
    config.percentage_of_nodes_to_score = int(_number(data, "percentageOfNodesToScore",
                                                     config.percentage_of_nodes_to_score, 0))
    if config.percentage_of_nodes_to_score > 100:
        raise ConfigError("percentageOfNodesToScore: must be 0..100")
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


def load_config(path: str | Path | None, registry: Registry) -> SchedulerConfig:
    if path is None:
        return SchedulerConfig()
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    try:
        return parse_config(yaml.safe_load(text), registry)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


# ---------------------------------------------------------------- the profile

@dataclass
class Profile:
    scheduler_name: str
    filters: list[FilterPlugin]
    scores: list[tuple[ScorePlugin, int]]
    percentage_of_nodes_to_score: int = 0

    @classmethod
    def from_config(cls, config: SchedulerConfig, registry: Registry) -> Profile:
        """The profile's plugins, built by the registry (one instance per name)."""
        instances: dict[str, Any] = {}

        def plugin(name: str) -> Any:
            if name not in instances:
                instances[name] = registry.make(name, config.plugin_args.get(name, {}))
            return instances[name]

        return cls(config.scheduler_name, [plugin(n) for n in config.filters],
                   [(plugin(n), w) for n, w in config.scores if w > 0], config.percentage_of_nodes_to_score)


@dataclass
class ScheduleResult:
    node: str | None  # the chosen node, None when nothing fits
    feasible: int = 0
    evaluated: int = 0
    reasons: Counter = field(default_factory=Counter)  # reason -> nodes (None when feasible)
    message: str = ""  # the FailedScheduling message when nothing fits
    _feasible: list[NodeInfo] = field(default_factory=list, repr=False)
    _totals: list[float] = field(default_factory=list, repr=False)

    @property
    def scores(self) -> dict[str, float]:
        """node -> weighted total, when scoring ran (built on demand: tests, debugging)."""
        return {n.name: t for n, t in zip(self._feasible, self._totals)}


def fit_error_message(total_nodes: int, reasons: Counter) -> str:
    """kube-scheduler's FitError text: counts per reason, sorted as strings."""
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{total_nodes} nodes are available: {', '.join(parts)}."


class Framework:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._next_start = 0  # where the next sampled node search begins

    def num_feasible_nodes_to_find(self, total: int) -> int:
        """How many feasible nodes a cycle looks for before it stops filtering
        (kube-scheduler's numFeasibleNodesToFind): every node in a small cluster,
        else percentageOfNodesToScore of them (adaptive by default: 50% less 1% per
        125 nodes, at least 5%), and never fewer than 100."""
        percentage = self.profile.percentage_of_nodes_to_score
        if total < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
            return total
        if percentage <= 0:
            percentage = max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, 50 - total // 125)
        return max(total * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)

    def schedule(self, pod: PodInfo, snapshot: Snapshot) -> ScheduleResult:
        """One scheduling cycle for one Pod: filter, score, pick. Pure except for the
        round-robin start of the next cycle's node search (as kube-scheduler's)."""
        nodes = snapshot.node_infos()
        total = len(nodes)
        cycle = Cycle(snapshot, nodes)
        filters = [plugin for plugin in self.profile.filters if plugin.pre_filter(pod, cycle) is not SKIP]
        feasible: list[NodeInfo] = []
        reasons: Counter = Counter()
        want = self.num_feasible_nodes_to_find(total)
        # Search from where the last cycle stopped, so that a sampled search still
        # visits every node in turn; a full search covers all nodes whatever the start.
        start = self._next_start % total if total and want < total else 0
        order = (nodes[start:] + nodes[:start]) if start else nodes
        # Filter in chunks of as many nodes as feasible ones are still wanted, each
        # plugin over the whole chunk in turn: the same nodes are checked, by the same
        # plugins, as node by node (a node rejected by one plugin is not shown to the
        # next), and the search stops at the same node.
        checked = 0
        while checked < total and len(feasible) < want:
            chunk = order[checked:checked + want - len(feasible)]
            checked += len(chunk)
            for plugin in filters:
                chunk = plugin.filter_all(pod, chunk, cycle, reasons)
                if not chunk:
                    break
            feasible.extend(chunk)
        if want < total:
            self._next_start = (start + checked) % total
        if not feasible:
            return ScheduleResult(None, 0, checked, reasons, fit_error_message(total, reasons))
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, 1, checked)
        totals: list[float] | None = None  # the weighted sum so far, one per feasible node
        uniform_bonus = 0.0  # plugins that rate every node the same add the same to each
        for plugin, weight in self.profile.scores:
            uniform = plugin.pre_score(pod, feasible, cycle)
            if uniform is not None:  # no need to ask per node
                uniform_bonus += weight * uniform
                continue
            normalized = plugin.normalize(plugin.score_all(pod, feasible, cycle))
            if totals is None:
                totals = [weight * v for v in normalized] if weight != 1 else list(normalized)
            else:
                totals = [t + weight * v for t, v in zip(totals, normalized)]
        if totals is None:
            totals = [0.0] * len(feasible)
        if uniform_bonus:
            totals = [t + uniform_bonus for t in totals]
        return ScheduleResult(pick_best(feasible, totals).name, len(feasible), checked,
                              _feasible=feasible, _totals=totals)


def pick_best(feasible: list[NodeInfo], totals: list[float]) -> NodeInfo:
    """The highest total; among equals the node with the fewest Pods, then the first
    name (kube-scheduler picks at random among equals; a fixed rule keeps tests exact).
    Scores are small integers, so ties are common: this avoids a key call per tie."""
    top = max(totals)
    tied = [node for node, total in zip(feasible, totals) if total == top]
    if len(tied) > 1:
        counts = [len(node.pods) for node in tied]
        fewest = min(counts)
        tied = [node for node, count in zip(tied, counts) if count == fewest]
    return tied[0] if len(tied) == 1 else min(tied, key=_name)


def _name(node: NodeInfo) -> str:
    return node.name
