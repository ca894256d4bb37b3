"""The fast paths of a scheduling cycle (chunked filter_all, per-plugin overrides,
the cache's NodeSummary, LeastAllocated's per-node score_cache, pick_best) must
decide exactly what the plain rule decides: every node in turn through each
plugin's `filter`, each plugin's `score` + `normalize` weighted, the highest total,
then the fewest Pods, then the first name.

Property-style: seeded random clusters and Pods, the Framework's result compared
with a straightforward reference written here, while the cache changes under it
(assumed Pods, removed Pods, Nodes that go NotReady, get cordoned or tainted)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest
from scheduler_testlib import UNREACHABLE, node, pod

from protos import core_pb2
from scheduler.cache import SchedulerCache
from scheduler.framework import Framework, Profile, SchedulerConfig
from scheduler.interface import Cycle, NodeSummary
from scheduler.plugins import REGISTRY
from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.plugins.least_allocated import LeastAllocated, least_allocated_score

OWNERS = ("", "", "rs-a", "rs-b", "rs-c")


# ------------------------------------------------------------- the reference


@dataclass
class Expected:
    node: str | None
    feasible: int
    evaluated: int
    reasons: Counter
    message: str
    next_start: int | None  # the framework's _next_start afterwards (None: unchanged)


def reference_schedule(framework: Framework, pod_info: PodInfo, cache: SchedulerCache) -> Expected:
    """One cycle node by node, with nothing but each plugin's filter/score/normalize."""
    profile = framework.profile
    nodes = list(cache.node_infos())
    total = len(nodes)
    percentage = profile.percentage_of_nodes_to_score
    if total < 100 or percentage >= 100:
        want = total
    else:
        if percentage <= 0:
            percentage = max(5, 50 - total // 125)
        want = max(total * percentage // 100, 100)
    start = framework._next_start % total if total and want < total else 0
    order = nodes[start:] + nodes[:start]
    cycle = Cycle(cache, nodes)
    for plugin in profile.filters:  # for what they precompute (PodSpread's minimum); SKIP ignored
        plugin.pre_filter(pod_info, cycle)
    feasible: list[NodeInfo] = []
    reasons: Counter = Counter()
    checked = 0
    for candidate in order:
        if len(feasible) >= want:
            break
        checked += 1
        for plugin in profile.filters:
            rejected = plugin.filter(pod_info, candidate, cycle)
            if rejected:
                reasons.update(rejected)
                break
        else:
            feasible.append(candidate)
    next_start = (start + checked) % total if want < total else None
    if not feasible:
        if total == 0:
            message = "no nodes available to schedule pods"
        else:
            parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
            message = f"0/{total} nodes are available: {', '.join(parts)}."
        return Expected(None, 0, checked, reasons, message, next_start)
    totals = [0.0] * len(feasible)
    for plugin, weight in profile.scores:
        normalized = plugin.normalize([plugin.score(pod_info, n, cycle) for n in feasible])
        totals = [t + weight * v for t, v in zip(totals, normalized)]
    best = max(zip(feasible, totals), key=lambda nt: (nt[1], -len(nt[0].pods), _Reverse(nt[0].name)))[0]
    return Expected(best.name, len(feasible), checked, Counter(), "", next_start)


class _Reverse:
    """Orders names backwards, so max() picks the first name among equals."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __lt__(self, other: _Reverse) -> bool:
        return self.name > other.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.name == other.name


# ------------------------------------------------------------ random worlds


def random_node(rng: random.Random, name: str) -> core_pb2.Node:
    kind = rng.choices(["ok", "notready", "unreachable", "cordoned", "tainted", "soft"],
                       weights=[10, 1, 1, 1, 2, 2])[0]
    taints: list[tuple[str, str, str]] = []
    if kind == "unreachable":
        taints = [(UNREACHABLE, "", "NoExecute"), (UNREACHABLE, "", "NoSchedule")]
    elif kind == "tainted":
        taints = [("dedicated", rng.choice(["gpu", "db"]), rng.choice(["NoSchedule", "NoExecute"]))]
    elif kind == "soft":
        taints = [("spot", "", "PreferNoSchedule")] * rng.randint(1, 2)
    return node(name, cpu=rng.choice(["500m", "1", "2", "4", "8"]),
                memory=rng.choice(["512Mi", "1Gi", "4Gi", "8Gi", "16Gi"]),
                pods=rng.choice(["1", "3", "10", "110", "110"]),
                ready=kind not in ("notready", "unreachable"), unschedulable=kind == "cordoned",
                taints=taints, labels={"disk": rng.choice(["ssd", "hdd"])})


def random_pod(rng: random.Random, name: str, node_name: str = "") -> core_pb2.Pod:
    tolerations = []
    if rng.random() < 0.2:
        tolerations.append(("dedicated", "Equal", rng.choice(["gpu", "db"]), ""))
    if rng.random() < 0.1:
        tolerations.append(("spot", "Exists", "", "PreferNoSchedule"))
    if rng.random() < 0.05:
        tolerations.append((UNREACHABLE, "Exists", "", ""))
    return pod(name, owner_uid=rng.choice(OWNERS), cpu=rng.choice(["", "", "100m", "250m", "1", "3"]),
               memory=rng.choice(["", "", "64Mi", "512Mi", "2Gi", "6Gi"]), node_name=node_name,
               tolerations=tolerations,
               node_selector={"disk": "ssd"} if rng.random() < 0.1 else None)


def random_cache(rng: random.Random, size: int) -> SchedulerCache:
    cache = SchedulerCache()
    names = [f"n{i:03d}" for i in range(size)]
    for name in names:
        cache.set_node(random_node(rng, name))
    for i in range(rng.randint(0, size * 2)):  # Pods already bound (some nodes end up full)
        cache.set_pod(random_pod(rng, f"bound-{i}", node_name=rng.choice(names)))
    return cache


def mutate(rng: random.Random, cache: SchedulerCache, assumed: list[PodInfo]) -> None:
    """A change an informer or the scheduler itself could make between cycles."""
    names = [n.name for n in cache.node_infos()]
    choice = rng.random()
    if choice < 0.3 and names:
        cache.set_node(random_node(rng, rng.choice(names)))  # NotReady, cordoned, tainted, resized...
    elif choice < 0.5 and assumed:
        gone = assumed.pop(rng.randrange(len(assumed)))
        cache.remove_pod(gone.pod)
    elif choice < 0.55 and names:
        cache.remove_node(rng.choice(names))
    elif choice < 0.6:
        cache.set_node(random_node(rng, f"m{rng.randrange(1000):03d}"))  # a new node


def check_cycle(framework: Framework, cache: SchedulerCache, pod_info: PodInfo) -> str | None:
    """Schedule with the framework and with the reference; they must agree. The chosen node."""
    before = framework._next_start
    expected = reference_schedule(framework, pod_info, cache)
    result = framework.schedule(pod_info, cache)
    got = (result.node, result.feasible, result.evaluated, dict(result.reasons), result.message)
    want = (expected.node, expected.feasible, expected.evaluated, dict(expected.reasons), expected.message)
    assert got == want, f"{pod_info.key}: {got} != {want}"
    assert framework._next_start == (before if expected.next_start is None else expected.next_start)
    return result.node


@pytest.mark.parametrize("seed", range(12))
def test_schedule_matches_the_node_by_node_reference(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([0, 1, 2, 3, 5, 8, 13, 30, 60])
    cache = random_cache(rng, size)
    config = SchedulerConfig(percentage_of_nodes_to_score=rng.choice([0, 0, 50, 100]))
    framework = Framework(Profile.from_config(config, REGISTRY))
    assumed: list[PodInfo] = []
    for i in range(40):
        pod_info = PodInfo.of(random_pod(rng, f"p{seed}-{i}"))
        chosen = check_cycle(framework, cache, pod_info)
        if chosen is not None:
            cache.assume(pod_info, chosen)  # as the scheduler does, before the Bind
            assumed.append(pod_info)
        mutate(rng, cache, assumed)


@pytest.mark.parametrize("seed", range(3))
def test_sampled_search_on_large_clusters_matches_the_reference(seed: int) -> None:
    """Over 100 nodes only some are searched, from framework._next_start on."""
    rng = random.Random(1000 + seed)
    cache = random_cache(rng, rng.choice([150, 260]))
    framework = Framework(Profile.from_config(SchedulerConfig(), REGISTRY))
    framework._next_start = rng.randrange(300)
    assumed: list[PodInfo] = []
    for i in range(25):
        pod_info = PodInfo.of(random_pod(rng, f"big{seed}-{i}"))
        chosen = check_cycle(framework, cache, pod_info)
        if chosen is not None:
            cache.assume(pod_info, chosen)
            assumed.append(pod_info)
        if rng.random() < 0.3:
            mutate(rng, cache, assumed)


# ------------------------------------------------- LeastAllocated's score cache


def test_least_allocated_score_cache_never_returns_a_stale_score() -> None:
    rng = random.Random(7)
    cache = random_cache(rng, 12)
    plugin = LeastAllocated()
    shapes = [PodInfo.of(pod(f"shape{i}", cpu=cpu, memory=memory))
              for i, (cpu, memory) in enumerate([("", ""), ("100m", "64Mi"), ("1", "2Gi"), ("", "512Mi")])]
    placed: list[PodInfo] = []
    for step in range(300):
        nodes = cache.node_infos()
        for shape in shapes:  # warm (or use) the cache for several kinds of Pod
            got = plugin.score_all(shape, nodes, Cycle(cache, nodes))
            assert got == [least_allocated_score(shape, n) for n in nodes], f"stale score at step {step}"
        op = rng.random()
        names = [n.name for n in nodes]
        if op < 0.4 and names:
            p = PodInfo.of(random_pod(rng, f"a{step}"))
            cache.assume(p, rng.choice(names))
            placed.append(p)
        elif op < 0.6 and placed:
            cache.remove_pod(placed.pop(rng.randrange(len(placed))).pod)
        elif op < 0.7 and placed:
            cache.forget(placed.pop(rng.randrange(len(placed))).uid)
        elif op < 0.9 and names:
            cache.set_node(random_node(rng, rng.choice(names)))  # capacity may change
        else:
            bound = random_pod(rng, f"b{step}", node_name=rng.choice(names) if names else "x")
            cache.set_pod(bound)


def test_score_cache_follows_each_kind_of_change() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1", cpu="2", memory="4Gi"))
    info = cache.node_info("n1")
    assert info is not None
    plugin = LeastAllocated()
    shape = PodInfo.of(pod("shape", cpu="500m", memory="1Gi"))

    def score() -> float:
        nodes = cache.node_infos()
        [s] = plugin.score_all(shape, nodes, Cycle(cache, nodes))
        assert s == least_allocated_score(shape, info)
        return s

    empty = score()
    assert info.score_cache  # remembered
    p = PodInfo.of(pod("p", cpu="1", memory="2Gi"))
    cache.assume(p, "n1")
    with_p = score()
    assert with_p < empty
    cache.forget(p.uid)
    assert score() == empty
    bound = pod("b", cpu="1", memory="1Gi", node_name="n1")
    cache.set_pod(bound)
    assert score() < empty
    cache.remove_pod(bound)
    assert score() == empty
    cache.set_node(node("n1", cpu="8", memory="16Gi"))  # resized
    bigger = score()
    assert bigger > empty
    cache.set_node(node("n1", cpu="2", memory="4Gi"))
    assert score() == empty


# ------------------------------------------------------------ the node summary


def test_node_summary_follows_not_ready_tainted_and_back() -> None:
    cache = SchedulerCache()
    for name in ("a", "b", "c"):
        cache.set_node(node(name))
    ok = NodeSummary(all_usable=True, any_taints=False)
    assert cache.node_summary() == ok

    cache.set_node(node("b", ready=False))
    assert cache.node_summary() == NodeSummary(all_usable=False, any_taints=False)
    cache.set_node(node("b"))
    assert cache.node_summary() == ok

    cache.set_node(node("c", taints=[("dedicated", "gpu", "NoSchedule")]))
    assert cache.node_summary() == NodeSummary(all_usable=True, any_taints=True)
    cache.set_node(node("c"))
    assert cache.node_summary() == ok

    cache.set_node(node("a", unschedulable=True))
    assert cache.node_summary().all_usable is False
    cache.set_node(node("a"))
    assert cache.node_summary() == ok

    # A NotReady node that goes away, and a tainted one that joins.
    cache.set_node(node("b", ready=False))
    assert not cache.node_summary().all_usable
    cache.remove_node("b")
    assert cache.node_summary() == ok
    cache.set_node(node("d", taints=[("spot", "", "PreferNoSchedule")]))
    assert cache.node_summary() == NodeSummary(all_usable=True, any_taints=True)
    cache.remove_node("d")
    assert cache.node_summary() == ok

    # A Pod bound to a node we have not seen (a ghost) does not count; its Node does.
    cache.set_pod(pod("early", node_name="late"))
    assert cache.node_summary() == ok
    cache.set_node(node("late", ready=False))
    assert not cache.node_summary().all_usable


def test_node_summary_matches_the_nodes_after_random_changes() -> None:
    rng = random.Random(3)
    cache = random_cache(rng, 10)
    assumed: list[PodInfo] = []
    for _ in range(200):
        mutate(rng, cache, assumed)
        if rng.random() < 0.3 and cache.node_infos():
            p = PodInfo.of(random_pod(rng, f"s{len(assumed)}-{rng.random()}"))
            cache.assume(p, rng.choice(cache.node_infos()).name)
            assumed.append(p)
        assert cache.node_summary() == NodeSummary.of(cache.node_infos())
