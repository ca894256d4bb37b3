"""bench.scheduler's figures from a path's observations: throughputs to bound and to
Running, and a Pod that never got there (or a failed Create) counted as a failure --
an infinite "all Running" and latency, never a figure that quietly leaves it out."""

from __future__ import annotations

import math

import pytest

from bench.scheduler import PathResults, Settings, make_deployment, parse_args, path_records


def observed(pods: int, running: int, failed_calls: int = 0, want: int = 100) -> PathResults:
    path = PathResults("create_per_pod", want=want, started=100.0)
    for i in range(pods):
        name = f"per-pod-{i:06d}"
        path.sent[name] = 100.0 + i * 0.01
        path.note(name, f"hollow-{i % 2 + 1}", False, False, 100.5 + i * 0.01)
        if i < running:
            path.note(name, f"hollow-{i % 2 + 1}", True, False, 101.0 + i * 0.01)
    path.failed_calls = ["create x: UNAVAILABLE"] * failed_calls
    path.cpu = {"apiserver": 0.5}
    return path


def test_every_pod_running() -> None:
    records = {r.name: r for r in path_records(observed(100, 100), Settings(nodes=2, pods=100))}
    bound = records["scheduler.create_per_pod.bound_throughput"]
    assert bound.value == pytest.approx(100 / 1.49) and bound.failures == 0
    assert records["scheduler.create_per_pod.all_running"].value == pytest.approx(1.99)
    assert records["scheduler.create_per_pod.running_latency.p99"].value == pytest.approx(1000.0)
    assert records["scheduler.create_per_pod.pods_per_node.max"].value == 50
    assert records["scheduler.create_per_pod.cpu_per_pod.apiserver"].value == 5000.0


def test_a_pod_never_running_is_a_failure() -> None:
    records = {r.name: r for r in path_records(observed(100, 99, failed_calls=1, want=101),
                                               Settings(nodes=2, pods=101))}
    assert records["scheduler.create_per_pod.all_running"].value == math.inf
    assert records["scheduler.create_per_pod.all_running"].failures == 2 + 1  # 2 not Running, 1 failed call
    assert records["scheduler.create_per_pod.bound_throughput"].failures == 1 + 1
    assert records["scheduler.create_per_pod.running_latency.p99"].value == math.inf  # 2 of 101 missing: ≥ 1%


def test_pods_deleted_on_the_way_do_not_count() -> None:
    """A Pod evicted (deleted) while the path runs, and its replacement: want Pods must be
    Running at once; more names than wanted never make negative failures."""
    path = observed(100, 100, want=100)
    assert path.all_running_at == pytest.approx(101.99)
    path = observed(100, 100, want=101)
    path.note("per-pod-000000", "", False, True, 102.0)  # evicted
    path.note("replacement", "hollow-1", True, False, 103.0)
    assert math.isnan(path.all_running_at) and path.now_running() == 100
    path.note("replacement-2", "hollow-2", True, False, 104.0)
    assert path.all_running_at == 104.0
    records = {r.name: r for r in path_records(path, Settings(nodes=2, pods=101))}
    assert records["scheduler.create_per_pod.all_running"].value == pytest.approx(4.0)
    assert records["scheduler.create_per_pod.all_running"].failures == 0
    assert records["scheduler.create_per_pod.deleted_on_the_way"].value == 1


def test_deployment_and_settings() -> None:
    deployment = make_deployment(10000)
    assert deployment.spec.replicas == 10000
    assert deployment.spec.template.metadata.labels["bench"] == "deployment"
    settings, out = parse_args(["--quick"])
    assert (settings.nodes, settings.pods, settings.quick, out) == (100, 1000, True, None)
    settings, _ = parse_args([])
    assert (settings.nodes, settings.pods, settings.quick) == (1000, 10000, False)
