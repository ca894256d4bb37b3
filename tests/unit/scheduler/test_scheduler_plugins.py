"""Each plugin's filter and score, as pure functions of (Pod, node, snapshot)."""

from __future__ import annotations

import pytest
from scheduler_testlib import (
    UNREACHABLE,
    cache_with,
    cordoned_node,
    node,
    pod,
    unreachable_node,
)

from scheduler.interface import Cycle, normalize_lower_is_better
from scheduler.nodeinfo import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    PodInfo,
)
from scheduler.plugins import REGISTRY
from scheduler.plugins.least_allocated import LeastAllocated, least_allocated_score
from scheduler.plugins.node_ready import NodeReady
from scheduler.plugins.node_selector import NodeSelector
from scheduler.plugins.pod_spread import PodSpread
from scheduler.plugins.resources_fit import ResourcesFit
from scheduler.plugins.taint_toleration import TaintToleration, soft_taint_count


def run_filter(plugin, p, cache, node_name: str) -> tuple[str, ...]:
    info = PodInfo.of(p)
    cycle = Cycle(cache, cache.node_infos())
    plugin.pre_filter(info, cycle)
    return plugin.filter(info, cache.node_info(node_name), cycle)


def run_scores(plugin, p, cache) -> dict[str, int]:
    info = PodInfo.of(p)
    nodes = cache.node_infos()
    cycle = Cycle(cache, nodes)
    plugin.pre_score(info, nodes, cycle)
    raw = [plugin.score(info, n, cycle) for n in nodes]
    return {n.name: s for n, s in zip(nodes, plugin.normalize(raw))}


# ------------------------------------------------------------------ NodeReady


def test_node_ready_accepts_a_ready_schedulable_node():
    assert run_filter(NodeReady(), pod("a"), cache_with(node("n1")), "n1") == ()


def test_node_ready_rejects_a_cordoned_node_as_kube_scheduler_says():
    assert run_filter(NodeReady(), pod("a"), cache_with(cordoned_node("n1")), "n1") == (
        "node(s) were unschedulable",)


def test_node_ready_names_the_lifecycle_taint_of_an_unreachable_node():
    assert run_filter(NodeReady(), pod("a"), cache_with(unreachable_node("n1")), "n1") == (
        "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",)


def test_node_ready_rejects_not_ready_even_when_the_taints_are_tolerated():
    tolerant = pod("a", tolerations=[(UNREACHABLE, "Exists", "", "")])
    assert run_filter(NodeReady(), tolerant, cache_with(unreachable_node("n1")), "n1") == (
        "node(s) were not ready",)
    assert run_filter(NodeReady(), pod("b"), cache_with(node("n1", ready=False)), "n1") == (
        "node(s) were not ready",)


# ------------------------------------------------------------ TaintToleration


def test_taint_filter_rejects_untolerated_hard_taints_and_ignores_soft_ones():
    cache = cache_with(node("hard", taints=[("dedicated", "gpu", "NoSchedule")]),
                       node("soft", taints=[("dedicated", "gpu", "PreferNoSchedule")]))
    assert run_filter(TaintToleration(), pod("a"), cache, "hard") == (
        "node(s) had untolerated taint {dedicated: gpu}",)
    assert run_filter(TaintToleration(), pod("a"), cache, "soft") == ()
    tolerant = pod("b", tolerations=[("dedicated", "Equal", "gpu", "NoSchedule")])
    assert run_filter(TaintToleration(), tolerant, cache, "hard") == ()


def test_taint_score_prefers_nodes_without_untolerated_soft_taints():
    cache = cache_with(node("clean"), node("soft", taints=[("a", "", "PreferNoSchedule"),
                                                           ("b", "", "PreferNoSchedule")]),
                       node("half", taints=[("a", "", "PreferNoSchedule")]))
    assert run_scores(TaintToleration(), pod("p"), cache) == {"clean": 100, "half": 50, "soft": 0}
    # A toleration for the soft taint (or for any effect) removes the penalty.
    assert soft_taint_count((("a", "Exists", "", "PreferNoSchedule"),), (("a", "", "PreferNoSchedule"),)) == 0
    assert soft_taint_count((("a", "Exists", "", "NoSchedule"),), (("a", "", "PreferNoSchedule"),)) == 1


# --------------------------------------------------------------- NodeSelector


def test_node_selector_needs_every_label():
    cache = cache_with(node("ssd", labels={"disk": "ssd", "zone": "a"}), node("hdd", labels={"disk": "hdd"}))
    picky = pod("a", node_selector={"disk": "ssd", "zone": "a"})
    assert run_filter(NodeSelector(), picky, cache, "ssd") == ()
    assert run_filter(NodeSelector(), picky, cache, "hdd") == ("node(s) didn't match Pod's node affinity/selector",)
    assert run_filter(NodeSelector(), pod("any"), cache, "hdd") == ()


# --------------------------------------------------------------- ResourcesFit


def test_resources_fit_counts_requests_of_pods_already_there():
    cache = cache_with(node("n1", cpu="2", memory="4Gi"),
                       pods=[pod("old", cpu="1500m", memory="3Gi", node_name="n1")])
    assert run_filter(ResourcesFit(), pod("fits", cpu="500m", memory="1Gi"), cache, "n1") == ()
    assert run_filter(ResourcesFit(), pod("cpu", cpu="501m"), cache, "n1") == ("Insufficient cpu",)
    assert run_filter(ResourcesFit(), pod("mem", memory="1025Mi"), cache, "n1") == ("Insufficient memory",)
    assert run_filter(ResourcesFit(), pod("both", cpu="1", memory="2Gi"), cache, "n1") == (
        "Insufficient cpu", "Insufficient memory")


def test_resources_fit_counts_assumed_pods_and_not_leaving_ones():
    cache = cache_with(node("n1", cpu="1", memory="1Gi"))
    cache.assume(PodInfo.of(pod("assumed", cpu="800m")), "n1")
    assert run_filter(ResourcesFit(), pod("p", cpu="300m"), cache, "n1") == ("Insufficient cpu",)
    leaving = pod("leaving", memory="1Gi", node_name="n1")
    leaving.metadata.deletion_timestamp.seconds = 1
    done = pod("done", memory="1Gi", node_name="n1")
    done.status.phase = "Succeeded"
    cache.set_pod(leaving)
    cache.set_pod(done)
    assert run_filter(ResourcesFit(), pod("p", memory="1Gi"), cache, "n1") == ()


def test_resources_fit_pod_count_and_unrequested_resources():
    cache = cache_with(node("n1", pods="1", cpu="0", memory="0"))
    assert run_filter(ResourcesFit(), pod("free"), cache, "n1") == ()  # no requests: only the count matters
    cache.set_pod(pod("there", node_name="n1"))
    assert run_filter(ResourcesFit(), pod("p"), cache, "n1") == ("Too many pods",)


def test_a_limit_without_a_request_counts_as_the_request():
    p = pod("p")
    p.spec.containers[0].resources.limits["memory"] = "2Gi"
    p.spec.containers.add(name="side", image="busybox").resources.requests["cpu"] = "250m"
    info = PodInfo.of(p)
    assert (info.cpu, info.memory) == (250, 2 * 1024 ** 3)
    assert (info.nonzero_cpu, info.nonzero_memory) == (250, 2 * 1024 ** 3)
    assert PodInfo.of(pod("q")).nonzero_cpu == DEFAULT_MILLI_CPU_REQUEST


# ------------------------------------------------------------------ PodSpread


def test_pod_spread_filter_keeps_the_skew_at_most_one():
    cache = cache_with(node("n1"), node("n2"), node("n3"),
                       pods=[pod("a", "rs1", node_name="n1"), pod("b", "rs1", node_name="n2"),
                             pod("other", "rs2", node_name="n3")])  # another owner's Pod: not counted
    new = pod("c", "rs1")
    assert run_filter(PodSpread(), new, cache, "n1") == ("node(s) didn't match pod topology spread constraints",)
    assert run_filter(PodSpread(), new, cache, "n2") == ("node(s) didn't match pod topology spread constraints",)
    assert run_filter(PodSpread(), new, cache, "n3") == ()
    assert run_filter(PodSpread(maxSkew=2), new, cache, "n1") == ()


def test_pod_spread_ignores_nodes_the_pod_could_never_use():
    """A cordoned, unreachable, tainted or non-matching node's zero must not pin the minimum."""
    cache = cache_with(node("n1", labels={"pool": "web"}), node("n2", labels={"pool": "web"}),
                       cordoned_node("n3"), unreachable_node("n4"),
                       node("n5", taints=[("gpu", "", "NoSchedule")]), node("n6", labels={"pool": "db"}),
                       pods=[pod("a", "rs1", node_name="n1"), pod("b", "rs1", node_name="n2")])
    new = pod("c", "rs1", node_selector={"pool": "web"})
    assert run_filter(PodSpread(), new, cache, "n1") == ()
    # With the taint tolerated n5 becomes eligible, and n1 is now too full.
    tolerant = pod("d", "rs1", node_selector={}, tolerations=[("gpu", "Exists", "", "")])
    assert run_filter(PodSpread(), tolerant, cache, "n1") != ()


def test_pod_spread_leaves_pods_without_a_controller_alone():
    cache = cache_with(node("n1"), node("n2"), pods=[pod("a", node_name="n1"), pod("b", node_name="n1")])
    assert run_filter(PodSpread(), pod("c"), cache, "n1") == ()
    assert run_scores(PodSpread(), pod("c"), cache) == {"n1": 100, "n2": 100}


def test_pod_spread_score_prefers_fewer_pods_of_the_owner():
    cache = cache_with(node("n1"), node("n2"), node("n3"),
                       pods=[pod("a", "rs1", node_name="n1"), pod("b", "rs1", node_name="n1"),
                             pod("c", "rs1", node_name="n2")])
    assert run_scores(PodSpread(), pod("d", "rs1"), cache) == {"n1": 0, "n2": 50, "n3": 100}


def test_pod_spread_rejects_a_bad_max_skew():
    with pytest.raises(Exception, match="maxSkew"):
        REGISTRY.make("PodSpread", {"maxSkew": 0})


# ------------------------------------------------------------- LeastAllocated


def test_least_allocated_prefers_more_free_cpu_and_memory():
    cache = cache_with(node("busy", cpu="4", memory="8Gi"), node("idle", cpu="4", memory="8Gi"),
                       node("big", cpu="8", memory="16Gi"),
                       pods=[pod("x", cpu="2", memory="4Gi", node_name="busy")])
    scores = run_scores(LeastAllocated(), pod("p", cpu="1", memory="2Gi"), cache)
    assert scores == {"busy": 25, "idle": 75, "big": 87}


def test_least_allocated_spreads_pods_without_requests():
    cache = cache_with(node("n1"), node("n2"), pods=[pod("x", node_name="n1")])
    p = PodInfo.of(pod("p"))
    n1, n2 = cache.node_info("n1"), cache.node_info("n2")
    assert least_allocated_score(p, n2) > least_allocated_score(p, n1)
    assert n1.nonzero_memory == DEFAULT_MEMORY_REQUEST


# ------------------------------------------------------------------- registry


def test_plugin_names_kube_style_or_module_style():
    assert REGISTRY.canonical_name("taint_toleration") == REGISTRY.canonical_name("TaintToleration") == "TaintToleration"
    assert REGISTRY.canonical_name("pod_spread", "score") == "PodSpread"
    with pytest.raises(ValueError, match="not a score plugin"):
        REGISTRY.canonical_name("NodeReady", "score")
    with pytest.raises(ValueError, match="unknown plugin"):
        REGISTRY.canonical_name("NodeAffinity")


def test_normalize_lower_is_better():
    assert normalize_lower_is_better([3, 1, 2]) == [0, 100, 50]
    assert normalize_lower_is_better([2, 2]) == [100, 100]
    assert normalize_lower_is_better([]) == []
