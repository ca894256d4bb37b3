"""The scheduler's shortcuts for large clusters keep its decisions: node sampling
(percentageOfNodesToScore, as kube-scheduler), plugins that skip themselves, and
the batch scoring hooks. Behaviour only; nothing here measures time."""

from __future__ import annotations

import pytest

from scheduler.framework import Framework, Profile, SchedulerConfig, parse_config
from scheduler.interface import SKIP, ConfigError
from scheduler.plugins import REGISTRY
from scheduler.nodeinfo import PodInfo
from scheduler.plugins.least_allocated import LeastAllocated, least_allocated_score
from scheduler.plugins.node_selector import NodeSelector
from scheduler.plugins.pod_spread import PodSpread

from scheduler_testlib import cache_with, node, pod


def framework(**config) -> Framework:
    return Framework(Profile.from_config(SchedulerConfig(**config), REGISTRY))


def test_small_clusters_check_every_node():
    fw = framework()
    assert fw.num_feasible_nodes_to_find(3) == 3
    assert fw.num_feasible_nodes_to_find(99) == 99


def test_adaptive_percentage_like_kube_scheduler():
    fw = framework()
    assert fw.num_feasible_nodes_to_find(1000) == 420  # 50% - 1000/125 = 42%
    assert fw.num_feasible_nodes_to_find(5000) == 500  # 50 - 40 = 10%
    assert fw.num_feasible_nodes_to_find(200) == 100  # 49% = 98, but never under 100
    assert framework(percentage_of_nodes_to_score=100).num_feasible_nodes_to_find(1000) == 1000
    assert framework(percentage_of_nodes_to_score=20).num_feasible_nodes_to_find(1000) == 200


def test_config_key():
    assert parse_config({"percentageOfNodesToScore": 30}, REGISTRY).percentage_of_nodes_to_score == 30
    with pytest.raises(ConfigError):
        parse_config({"percentageOfNodesToScore": 101}, REGISTRY)


def test_sampled_search_stops_early_and_rotates_over_all_nodes():
    cache = cache_with(*(node(f"n{i:03d}") for i in range(300)))
    fw = framework()
    seen = set()
    for i in range(6):
        info = PodInfo.of(pod(f"p{i}"))
        result = fw.schedule(info, cache)
        assert result.node is not None and result.feasible == 144 and result.evaluated == 144  # 48% of 300
        seen.update(result.scores)
    assert len(seen) == 300  # round robin: every node was a candidate in turn


def test_sampled_search_still_finds_the_only_feasible_node_and_explains_failures():
    nodes = [node(f"n{i:03d}", cpu="1") for i in range(299)] + [node("big", cpu="64")]
    cache = cache_with(*nodes)
    fw = framework()
    result = fw.schedule(PodInfo.of(pod("p", cpu="8")), cache)
    assert result.node == "big"
    none = fw.schedule(PodInfo.of(pod("q", cpu="128")), cache)
    assert none.node is None and none.message == "0/300 nodes are available: 300 Insufficient cpu."


def test_spread_is_kept_with_sampling_and_skips():
    cache = cache_with(*(node(f"n{i:03d}") for i in range(150)))
    fw = framework()
    for i in range(300):
        info = PodInfo.of(pod(f"p{i}", owner_uid="rs1"))
        result = fw.schedule(info, cache)
        cache.assume(info, result.node)
    assert set(cache.counts().values()) == {2}  # maxSkew 1 over 150 nodes: exactly 2 each


def test_four_replicas_on_three_nodes_still_two_one_one():
    cache = cache_with(node("a"), node("b"), node("c"))
    fw = framework()
    for i in range(4):
        info = PodInfo.of(pod(f"p{i}", owner_uid="rs"))
        cache.assume(info, fw.schedule(info, cache).node)
    assert sorted(cache.counts().values()) == [1, 1, 2]


def test_plugins_skip_what_cannot_reject_or_rank():
    cache = cache_with(node("a"), node("b"))
    nodes = cache.node_infos()
    from scheduler.interface import Cycle
    cycle = Cycle(cache, nodes)
    assert NodeSelector().pre_filter(PodInfo.of(pod("p")), cycle) is SKIP
    assert PodSpread().pre_filter(PodInfo.of(pod("p")), cycle) is SKIP  # no owner
    assert PodSpread().pre_filter(PodInfo.of(pod("p", owner_uid="rs")), cycle) is None
    assert PodSpread().pre_score(PodInfo.of(pod("p")), nodes, cycle) == 100


def test_least_allocated_batch_scores_match_the_single_node_function():
    cache = cache_with(node("a", cpu="2", memory="1Gi"), node("b", cpu="8", memory="32Gi"), node("c", cpu="0"),
                       pods=[pod("x", cpu="1500m", memory="900Mi", node_name="a")])
    info = PodInfo.of(pod("p", cpu="250m", memory="100Mi"))
    nodes = cache.node_infos()
    assert LeastAllocated().score_all(info, nodes, None) == [least_allocated_score(info, n) for n in nodes]
