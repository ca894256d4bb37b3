"""bench.security's pure parts: its settings, the rounds folded into one figure each, and the
records the targets read (with the plaintext peer beside each). Nothing here times anything
or starts a server."""

from __future__ import annotations

import pytest

from bench.common import CallStats, Timing
from bench.security import DEFAULT, QUICK, USER, Side, build_records, parse_args, rbac_objects, total
from bench.targets import RATIOS, TARGETS, evaluate


def stats(latencies: list[float], wall: float, server_cpu: float = 1.0, conflicts: int = 0) -> CallStats:
    return CallStats(latencies=latencies, timing=Timing(wall, server_cpu, 0.5), conflicts=conflicts)


def side(label: str, creates: list[CallStats], updates: list[CallStats], handshakes: list[float]) -> Side:
    made = Side(label, server=None, address="127.0.0.1:1", credentials=None)  # type: ignore[arg-type]
    made.creates, made.updates, made.handshakes = creates, updates, handshakes
    return made


def test_quick_is_small_and_the_full_mode_is_what_the_targets_name() -> None:
    settings, out = parse_args(["--quick"])
    assert settings == QUICK and out is None
    assert QUICK.objects * 2 <= 2000 and QUICK.handshakes * 2 <= 100  # well under a minute on 2 CPUs
    full, _ = parse_args([])
    assert full == DEFAULT
    for target in TARGETS:
        if target.record.startswith("security."):
            assert all(getattr(DEFAULT, key) == value for key, value in target.conditions.items()), target.record
    with pytest.raises(SystemExit):
        parse_args(["--objects", "2", "--rounds", "3"])


def test_rounds_fold_into_one_phase() -> None:
    folded = total([stats([0.01] * 10, 1.0), stats([0.02] * 30, 2.0, conflicts=1)])
    assert len(folded.latencies) == 40 and folded.wall == 3.0 and folded.throughput == pytest.approx(40 / 3)
    assert folded.timing.server_cpu == 2.0 and folded.conflicts == 1


def test_records_carry_the_plaintext_peer_and_meet_or_miss_their_targets() -> None:
    plain = side("plain", [stats([0.010] * 100, 1.0)], [stats([0.010] * 100, 1.0)], [0.004] * 100)
    secure = side("mtls", [stats([0.011] * 90, 1.0)], [stats([0.013] * 100, 1.0)], [0.007] * 99 + [0.030])
    records = {r.name: r for r in build_records(plain, secure)}
    assert records["security.create.throughput"].value == 90 and records["security.create.throughput"].peer_value == 100
    assert records["security.mutating.p99"].value == pytest.approx(13.0)
    assert records["security.mutating.p99"].peer_value == pytest.approx(10.0)
    assert records["security.handshake.p99"].value == pytest.approx(7.0)
    conditions = {"mode": "full", "clients": DEFAULT.clients, "objects": DEFAULT.objects,
                  "rounds": DEFAULT.rounds, "handshakes": DEFAULT.handshakes}
    verdicts = {}
    for target in (t for t in TARGETS if t.record.startswith("security.")):
        record = records[target.record].as_json(conditions, {"commit": "c0ffee", "dirty": False}, "t")
        if target.comparison in RATIOS:
            assert record["peer"] is not None
        verdicts[target.record] = evaluate(target, record)
    assert verdicts["security.create.throughput"].met is True  # 0.90 ≥ 0.85
    assert verdicts["security.mutating.p99"].met is False  # 1.3 > 1.2
    assert verdicts["security.handshake.p99"].met is True  # 7 ms ≤ 20 ms


def test_the_user_is_allowed_by_a_rolebinding_not_a_superuser_group() -> None:
    (obj,) = rbac_objects()
    binding = obj.role_binding
    assert [(s.kind, s.name) for s in binding.subjects] == [("User", USER)]
    assert (binding.role_ref.kind, binding.role_ref.name) == ("ClusterRole", "edit")
    assert binding.metadata.namespace == "bench-security"
