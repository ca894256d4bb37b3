"""The scheduling cycle: the FailedScheduling message, scoring and ties, bursts that
spread because each choice is assumed before the next Pod is scheduled, and the
profile loaded from config."""

from __future__ import annotations

from collections import Counter

import pytest
from scheduler_testlib import cache_with, cordoned_node, node, pod, unreachable_node

from scheduler.framework import (
    Framework,
    Profile,
    SchedulerConfig,
    fit_error_message,
    load_config,
    parse_config,
)
from scheduler.interface import ConfigError
from scheduler.nodeinfo import PodInfo
from scheduler.plugins import REGISTRY
from scheduler.queue import SchedulingQueue


def default_framework() -> Framework:
    return Framework(Profile.from_config(SchedulerConfig(), REGISTRY))


# ------------------------------------------------------- FailedScheduling text


def test_failed_scheduling_message_aggregates_reasons_like_kube_scheduler():
    cache = cache_with(unreachable_node("n1"), node("n2", memory="1Gi"), node("n3", memory="1Gi"))
    result = default_framework().schedule(PodInfo.of(pod("big", memory="2Gi")), cache)
    assert result.node is None
    assert result.message == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                              "{node.kubernetes.io/unreachable: }, 2 Insufficient memory.")


def test_failed_scheduling_message_counts_every_shortage_of_a_node():
    cache = cache_with(cordoned_node("a"), node("b", cpu="1", memory="1Gi"), node("c", cpu="1", memory="8Gi"),
                       node("d", cpu="1", labels={"disk": "hdd"}))
    p = pod("p", cpu="2", memory="2Gi")
    p.spec.node_selector["disk"] = "ssd"
    result = default_framework().schedule(PodInfo.of(p), cache)
    # Nodes b and c fail the selector first; the first failing plugin ends a node's checks.
    assert result.message == ("0/4 nodes are available: 1 node(s) were unschedulable, "
                              "3 node(s) didn't match Pod's node affinity/selector.")
    del p.spec.node_selector["disk"]
    result = default_framework().schedule(PodInfo.of(p), cache)
    # Node b lacks both. Sorted as strings, as kube-scheduler sorts them.
    assert result.message == ("0/4 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable, "
                              "3 Insufficient cpu.")


def test_fit_error_message_sorts_as_strings_and_handles_no_nodes():
    assert fit_error_message(0, Counter()) == "no nodes available to schedule pods"
    assert fit_error_message(12, Counter({"Insufficient cpu": 10, "Too many pods": 2})) == (
        "0/12 nodes are available: 10 Insufficient cpu, 2 Too many pods.")


# ------------------------------------------------------------ scoring, ties


def test_ties_go_to_the_node_with_fewest_pods_then_the_smallest_name():
    cache = cache_with(node("n3"), node("n2"), node("n1"))
    assert default_framework().schedule(PodInfo.of(pod("p")), cache).node == "n1"
    cache.set_pod(pod("elsewhere", node_name="n1", cpu="0"))
    # n1 now also scores lower on LeastAllocated (non-zero defaults): n2 either way.
    assert default_framework().schedule(PodInfo.of(pod("q")), cache).node == "n2"


def test_scores_are_weighted_sums_of_normalized_plugin_scores():
    cache = cache_with(node("n1", taints=[("spot", "", "PreferNoSchedule")]), node("n2"), node("n3"),
                       pods=[pod("a", node_name="n3", cpu="2", memory="4Gi")])
    result = default_framework().schedule(PodInfo.of(pod("b", cpu="1", memory="2Gi")), cache)
    assert result.node == "n2"
    # PodSpread 100 everywhere (no owner) x2; LeastAllocated 75, 75, 25; TaintToleration 0, 100, 100.
    assert result.scores == {"n1": 200 + 75 + 0, "n2": 200 + 75 + 100, "n3": 200 + 25 + 100}


def test_one_feasible_node_needs_no_scoring():
    cache = cache_with(node("n1"), cordoned_node("n2"))
    result = default_framework().schedule(PodInfo.of(pod("p")), cache)
    assert (result.node, result.feasible, result.evaluated, result.scores) == ("n1", 1, 2, {})


# ----------------------------------------------------------------------- bursts


def schedule_burst(replicas: int, nodes: list, profile: Profile | None = None) -> dict[str, int]:
    """Queue every Pod first, then schedule them all: assume only, no Bind ever completes."""
    cache = cache_with(*nodes)
    queue = SchedulingQueue()
    framework = Framework(profile or Profile.from_config(SchedulerConfig(), REGISTRY))
    for i in range(replicas):
        queue.add(pod(f"web-abc-{i}", "rs-web", created=100))
    placed: Counter = Counter()
    while (entry := queue.pop_nowait()) is not None:
        info = PodInfo.of(entry.pod)
        result = framework.schedule(info, cache)
        assert result.node is not None, result.message
        cache.assume(info, result.node)
        placed[result.node] += 1
    assert all(cache.is_assumed(uid) for n in cache.node_infos() for uid in n.pods)
    return dict(sorted(placed.items()))


def test_a_burst_of_four_replicas_on_three_nodes_lands_two_one_one():
    assert schedule_burst(4, [node("n1"), node("n2"), node("n3")]) == {"n1": 2, "n2": 1, "n3": 1}


def test_a_burst_of_ten_replicas_on_three_nodes_lands_four_three_three():
    assert sorted(schedule_burst(10, [node("n1"), node("n2"), node("n3")]).values()) == [3, 3, 4]


def test_a_burst_skips_dead_and_cordoned_nodes_and_still_spreads():
    nodes = [node("n1"), node("n2"), node("n3"), cordoned_node("n4"), unreachable_node("n5")]
    assert schedule_burst(4, nodes) == {"n1": 2, "n2": 1, "n3": 1}


def test_spread_beats_unequal_nodes_within_the_skew():
    """A much bigger node attracts Pods only as far as maxSkew 1 allows."""
    nodes = [node("small1", cpu="2", memory="2Gi"), node("small2", cpu="2", memory="2Gi"),
             node("huge", cpu="64", memory="256Gi")]
    assert schedule_burst(6, nodes) == {"huge": 2, "small1": 2, "small2": 2}


def test_without_pod_spread_least_allocated_alone_piles_onto_the_big_node():
    profile = Profile.from_config(parse_config({"plugins": {
        "filter": ["NodeReady", "ResourcesFit"], "score": [{"name": "LeastAllocated"}]}}, REGISTRY), REGISTRY)
    nodes = [node("small1", cpu="2", memory="2Gi"), node("small2", cpu="2", memory="2Gi"),
             node("huge", cpu="64", memory="256Gi")]
    assert schedule_burst(6, nodes, profile) == {"huge": 6}


# ------------------------------------------------------------------------ config


def test_default_config_is_the_default_profile():
    config = load_config(None, REGISTRY)
    profile = Profile.from_config(config, REGISTRY)
    assert [p.name for p in profile.filters] == ["NodeReady", "TaintToleration", "NodeSelector", "ResourcesFit",
                                                 "VolumeBinding", "PodSpread"]
    assert [(p.name, w) for p, w in profile.scores] == [("PodSpread", 2), ("LeastAllocated", 1),
                                                        ("TaintToleration", 1)]
    assert (config.initial_backoff, config.max_backoff, config.assumed_ttl) == (1.0, 10.0, 30.0)
    # One instance per plugin, shared by its filter and score roles.
    assert profile.filters[-1] is profile.scores[0][0]


def test_config_file(tmp_path):
    path = tmp_path / "scheduler.yaml"
    path.write_text("""
schedulerName: my-scheduler
podInitialBackoffSeconds: 0.5
podMaxBackoffSeconds: 4
assumedPodTTLSeconds: 15
parallelBinds: 64
plugins:
  filter: [node_ready, resources_fit, PodSpread]
  score:
    - {name: pod_spread, weight: 5}
    - least_allocated
    - {name: TaintToleration, weight: 0}
pluginConfig:
  - name: PodSpread
    args: {maxSkew: 2}
""")
    config = load_config(path, REGISTRY)
    assert (config.scheduler_name, config.initial_backoff, config.max_backoff, config.assumed_ttl,
            config.parallel_binds) == ("my-scheduler", 0.5, 4.0, 15.0, 64)
    profile = Profile.from_config(config, REGISTRY)
    assert [p.name for p in profile.filters] == ["NodeReady", "ResourcesFit", "PodSpread"]
    assert [(p.name, w) for p, w in profile.scores] == [("PodSpread", 5), ("LeastAllocated", 1)]
    assert profile.filters[2].maxSkew == 2


@pytest.mark.parametrize("document, message", [
    ({"plugin": {}}, "unknown field"),
    ({"plugins": {"filter": ["NodeAffinity"]}}, "unknown plugin"),
    ({"plugins": {"score": [{"name": "NodeReady"}]}}, "not a score plugin"),
    ({"plugins": {"score": [{"name": "PodSpread", "weight": -1}]}}, "weight"),
    ({"podMaxBackoffSeconds": 0.5}, "podMaxBackoffSeconds"),
    ({"pluginConfig": {"PodSpread": {"maxskew": 1}}}, "pluginConfig for PodSpread"),
])
def test_bad_config_is_a_clear_error(document, message):
    with pytest.raises(ConfigError, match=message):
        Profile.from_config(parse_config(document, REGISTRY), REGISTRY)


def test_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", REGISTRY)
    (tmp_path / "bad.yaml").write_text("plugins: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml", REGISTRY)
