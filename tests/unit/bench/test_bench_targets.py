"""bench.targets: a target holds only under the conditions it names (a quick-mode record
can never claim a full-mode target), any failure fails it unless it allows some, and
failures count as infinite latencies in a percentile (bench.common.percentile)."""

from __future__ import annotations

import math

import pytest

from bench.common import Record, latency_records, percentile
from bench.targets import GE, LE, RATIO_GE, RATIO_LE, RATIOS, TARGETS, Target, evaluate, target_named


def measured(target: Target, value: float | None, **changes) -> dict:
    """A record of target's figure measured under exactly the target's conditions (changes applied)."""
    record: dict = {"name": target.record, "value": value,
                    "unit": "s" if target.comparison in RATIOS else target.unit,
                    "conditions": dict(target.required), "commit": "c0ffee", "dirty": False}
    if target.comparison in RATIOS:
        record.update(peer="a peer", peer_value=1.0)
    record.update(changes)
    return record


def test_targets_cover_the_issues() -> None:
    names = [t.record for t in TARGETS]
    assert len(names) == len(set(names))
    assert target_named("scheduler.create_per_pod.bound_throughput").comparison == GE
    assert target_named("scheduler.create_per_pod.bound_throughput").conditions == {"nodes": 1000, "pods": 10000}
    assert target_named("scheduler.deployment.all_running").threshold == 30.0
    assert target_named("kubelet.pod_start.p50").threshold == 1.5
    assert target_named("cluster.apply_vs_podman_run.p50").threshold == 1.3
    assert target_named("cluster.apply_to_running.p50").threshold == 0.8
    assert target_named("memory.kubelet_podman").unit == "MiB"
    assert target_named("memory.kubelet_podman").conditions == {"kubelet_pods": 110}
    assert target_named("memory.kubelet").comparison == LE
    with pytest.raises(KeyError):
        target_named("no.such.figure")
    with pytest.raises(ValueError):
        Target("x.y", "<", 1.0, "s", "bad comparison")
    with pytest.raises(ValueError):
        Target("x.y", LE, 1.0, "s", "a target names no mode: every target is a full-mode one", {"mode": "quick"})


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.record)
def test_every_target_is_met_only_in_full_mode_under_its_conditions(target: Target) -> None:
    good = target.threshold
    assert evaluate(target, measured(target, good)).met is True
    quick = measured(target, good, conditions={**target.required, "mode": "quick"})
    outcome = evaluate(target, quick)
    assert outcome.met is None and outcome.verdict.startswith("not comparable (measured with mode=quick")
    unsaid = measured(target, good, conditions={})  # a record that names no conditions proves nothing
    assert evaluate(target, unsaid).met is None and "mode=?" in evaluate(target, unsaid).verdict


def test_a_record_on_fewer_nodes_is_not_comparable() -> None:
    t = target_named("scheduler.create_per_pod.bound_throughput")
    small = measured(t, 5000.0, conditions={"mode": "full", "nodes": 100, "pods": 1000})
    outcome = evaluate(t, small)
    assert outcome.met is None
    assert outcome.verdict == ("not comparable (measured with nodes=100 pods=1000; "
                               "the target needs nodes=1000 pods=10000)")
    # extra conditions the target does not name do not matter
    assert evaluate(t, measured(t, 1200.0, conditions={**t.required, "clients": 8})).met is True


def test_failures_fail_a_target_unless_it_allows_them() -> None:
    t = target_named("startup.latency.p99")
    outcome = evaluate(t, measured(t, 0.1, failures=1))
    assert outcome.met is False and outcome.verdict == "failed: 1 failure (none allowed)"
    lenient = Target("x.p50", LE, 1.0, "s", "allows a few", max_failures=2)
    assert evaluate(lenient, measured(lenient, 0.5, failures=2)).met is True
    assert evaluate(lenient, measured(lenient, 0.5, failures=3)).verdict == "failed: 3 failures (at most 2 allowed)"
    # an infinite percentile is written as no figure, with its failures: failed, not "not measured"
    assert evaluate(t, measured(t, None, failures=5)).met is False


def test_met_missed_and_by_how_much() -> None:
    t = target_named("scheduler.create_per_pod.bound_throughput")
    assert evaluate(t, measured(t, 1200.0)).verdict == "met with 20% to spare"
    assert evaluate(t, measured(t, 448.0)).verdict == "missed by 55% (2.2× short)"
    kubelet = target_named("memory.kubelet_podman")
    assert evaluate(kubelet, measured(kubelet, 150.0)).verdict == "missed by 150% (2.5× the target)"
    assert evaluate(kubelet, measured(kubelet, 60.0)).verdict == "met"
    # 62 MB is 59.1 MiB: units are converted, never mixed up
    assert evaluate(kubelet, measured(kubelet, 62.0, unit="MB")).met is True
    ratio = target_named("cluster.apply_to_running.p50")
    outcome = evaluate(ratio, measured(ratio, 0.88, peer_value=1.0))
    assert outcome.measured == pytest.approx(0.88) and outcome.verdict == "missed by 10%"
    assert evaluate(ratio, measured(ratio, 0.6, peer_value=None)).verdict == "not measured (no peer figure)"
    assert evaluate(ratio, None).verdict == "not measured"
    wrong_unit = evaluate(kubelet, measured(kubelet, 5.0, unit="s"))
    assert wrong_unit.met is None and "not comparable" in wrong_unit.verdict


def test_a_throughput_ratio_must_reach_its_threshold() -> None:
    t = target_named("security.create.throughput")
    assert t.comparison == RATIO_GE and t.wanted == "pykube/peer ≥ 0.85"
    assert evaluate(t, measured(t, 900.0, peer_value=1000.0)).verdict == "met with 6% to spare"
    short = evaluate(t, measured(t, 680.0, peer_value=1000.0))
    assert short.met is False and short.measured == pytest.approx(0.68) and short.verdict == "missed by 20%"
    assert target_named("security.mutating.p99").comparison == RATIO_LE
    assert target_named("security.handshake.p99").unit == "ms"
    assert target_named("http.create.p99").comparison == RATIO_LE and target_named("http.create.p99").threshold == 2.0
    assert target_named("http.kubectl_get.p50").threshold == 1.5
    assert target_named("http.kubectl_get.p50").conditions == {"pods": 1000, "runs": 20}


def test_failures_are_infinite_latencies() -> None:
    ok = [0.1] * 99
    assert percentile(ok, 99) == 0.1
    assert percentile(ok, 99, failures=1) == math.inf  # 1 of 100 failed: the p99 is "failed"
    assert percentile([0.1] * 199, 99, failures=1) == 0.1  # 0.5% failed: the p99 still stands
    assert percentile(ok, 50, failures=1) == 0.1
    assert percentile([], 50, failures=3) == math.inf
    assert math.isnan(percentile([], 50))
    p50, p99 = latency_records("x.latency", ok, 1)
    assert (p50.name, p50.value, p50.failures) == ("x.latency.p50", 100.0, 1)
    assert p99.value == math.inf
    as_json = p99.as_json({"mode": "full"}, {"commit": "c0ffee", "dirty": False}, "2026-01-01T00:00:00+00:00")
    assert as_json["value"] is None and as_json["failures"] == 1 and as_json["commit"] == "c0ffee"
    assert "failures" not in Record("x.ok", 1.0, "s").as_json({"mode": "full"}, {}, "t")
