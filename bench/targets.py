"""The issue's performance targets, in one place, as checks on benchmark records.

Each target names the record (``<benchmark>.<figure>``, as the benchmark module writes
it to results.json) that measures it, how the figure is compared, the threshold and
its unit. The report (bench/report.py) evaluates them on the latest record of each
name; nothing here times anything, so the tests can check the logic on fake records.

Comparisons:
- ``<=`` / ``>=``: the record's value, converted to the target's unit, against the
  threshold (latency and memory must stay under, throughput must reach);
- ``ratio<=``: the record's value divided by its peer's value (measured beside it in
  the same run) against the threshold, e.g. pykube/``podman kube play`` ≤ 1.0.

The record names are a contract with the benchmark modules: renaming a record there
means renaming it here, or the report shows the target as "not measured".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

LE, GE, RATIO_LE = "<=", ">=", "ratio<="

# Units a record may use for a target expressed in another unit of the same dimension.
_SCALE: dict[str, tuple[str, float]] = {
    "s": ("time", 1.0), "ms": ("time", 1e-3), "us": ("time", 1e-6), "µs": ("time", 1e-6),
    "B": ("bytes", 1.0), "KB": ("bytes", 1e3), "MB": ("bytes", 1e6), "GB": ("bytes", 1e9),
    "KiB": ("bytes", 1024.0), "MiB": ("bytes", 1024.0 ** 2), "GiB": ("bytes", 1024.0 ** 3),
}


def convert(value: float, unit: str, to: str) -> float | None:
    """value in unit expressed in unit `to`; None when the units don't measure the same thing."""
    if unit == to:
        return value
    a, b = _SCALE.get(unit), _SCALE.get(to)
    if a is None or b is None or a[0] != b[0]:
        return None
    return value * a[1] / b[1]


@dataclass(frozen=True)
class Target:
    """One line of the issue's "Targets": record `record` must satisfy `comparison threshold`."""

    record: str
    comparison: str
    threshold: float
    unit: str
    description: str

    def __post_init__(self) -> None:
        if self.comparison not in (LE, GE, RATIO_LE):
            raise ValueError(f"{self.record}: unknown comparison {self.comparison!r}")

    @property
    def wanted(self) -> str:
        """The target as a person writes it: "≤ 0.3 s", "≥ 1000 pods/s", "pykube/peer ≤ 1.0"."""
        if self.comparison == RATIO_LE:
            return f"pykube/peer ≤ {_num(self.threshold)}"
        sign = "≤" if self.comparison == LE else "≥"
        return f"{sign} {_num(self.threshold)} {self.unit}"


# The targets (issue 6, "Targets"). Where the issue names no percentile (the
# ratio to `podman kube play`, node loss) both the median and the tail are held to it.
TARGETS: tuple[Target, ...] = (
    Target("cluster.apply_to_running.p50", RATIO_LE, 1.0, "ratio",
           "apply → 4/4 Running on 3 nodes vs `podman kube play`, p50"),
    Target("cluster.apply_to_running.p95", RATIO_LE, 1.0, "ratio",
           "apply → 4/4 Running on 3 nodes vs `podman kube play`, p95"),
    Target("kubelet.kill_to_running.p50", LE, 300.0, "ms", "container kill → Running again, p50"),
    Target("kubelet.kill_to_running.p99", LE, 600.0, "ms", "container kill → Running again, p99"),
    Target("cluster.node_loss_to_running.p50", LE, 10.0, "s", "node loss → replacements Running, p50"),
    Target("cluster.node_loss_to_running.p95", LE, 10.0, "s", "node loss → replacements Running, p95"),
    Target("scheduler.throughput", GE, 1000.0, "pods/s",
           "Pods scheduled and bound on 1000 hollow nodes (10 000 created at once)"),
    Target("startup.latency.p99", LE, 0.5, "s",
           "pod startup (created → Running via watch), p99, 100 hollow nodes, 20 Pods/s"),
    Target("startup.api_mutating.p99", LE, 50.0, "ms", "API mutating call p99 under that load"),
    Target("memory.control_plane.1000pods", LE, 300.0, "MB",
           "control plane RSS (apiserver + scheduler + controller-manager) at 1000 Pods"),
    Target("memory.kubelet", LE, 60.0, "MB", "RSS of one kubelet (fake runtime, 30 Pods)"),
    Target("memory.kubelet_podman", LE, 60.0, "MB", "RSS of one kubelet on Podman (30 containers; needs root)"),
)


@dataclass(frozen=True)
class Outcome:
    """A target evaluated on a record (or on its absence)."""

    target: Target
    measured: float | None  # in the target's unit (the ratio for ratio targets)
    met: bool | None  # None: not measured
    verdict: str  # "met with 12% to spare", "missed by 42%", "not measured", ...

    @property
    def attainment(self) -> float | None:
        """measured / threshold: for ≤ targets met when ≤ 1, for ≥ targets met when ≥ 1."""
        if self.measured is None or not self.target.threshold:
            return None
        return self.measured / self.target.threshold


def evaluate(target: Target, record: Mapping[str, Any] | None) -> Outcome:
    """Compare one record (a results.json entry, or None if never measured) with its target."""
    if record is None or record.get("value") is None:
        return Outcome(target, None, None, "not measured")
    value = float(record["value"])
    if target.comparison == RATIO_LE:
        peer_value = record.get("peer_value")
        if peer_value is None or not float(peer_value):
            return Outcome(target, None, None, "not measured (no peer figure)")
        measured: float | None = value / float(peer_value)
    else:
        measured = convert(value, str(record.get("unit", "")), target.unit)
        if measured is None:
            return Outcome(target, None, None,
                           f"not comparable (record in {record.get('unit')!r}, target in {target.unit!r})")
    assert measured is not None
    if math.isnan(measured):
        return Outcome(target, None, None, "not measured")
    return Outcome(target, measured, *_verdict(target, measured))


def _verdict(target: Target, measured: float) -> tuple[bool, str]:
    """Met or missed, and by how much, relative to the threshold.

    ≤ targets: how far above the threshold the figure is ("missed by 42%" = 1.42 × the
    target); ≥ targets: how far short of it ("missed by 55%" = reached 45% of it).
    """
    t = target.threshold
    if target.comparison == GE:
        met = measured >= t
        gap = (measured - t) / t if met else (t - measured) / t
    else:
        met = measured <= t
        gap = (t - measured) / t if met else (measured - t) / t
    pct = f"{gap * 100:.0f}%"
    if met:
        return True, "met" if gap < 0.005 else f"met with {pct} to spare"
    if target.comparison == GE:
        times = t / measured if measured > 0 else math.inf
        extra = f" ({times:.1f}× short)" if times >= 2 else ""
    else:
        times = measured / t
        extra = f" ({times:.1f}× the target)" if times >= 2 else ""
    return False, f"missed by {pct}{extra}"


def _num(value: float) -> str:
    return f"{value:g}"
