"""The issue's performance targets, in one place, as checks on benchmark records.

Each target names the record (``<benchmark>.<figure>``, as the benchmark module writes
it to results.json) that measures it, how the figure is compared, the threshold and
its unit, and the *conditions* it holds for: the mode (always the full one), the
number of nodes and Pods, the runs. The report (bench/report.py) evaluates them on
the latest record of each name; nothing here times anything, so the tests can check
the logic on fake records.

A record is judged in this order:
1. no record, or no figure in it: "not measured";
2. its conditions (``record["conditions"]``, written by the benchmark) differ from the
   target's in any key the target names: "not comparable" -- a quick-mode record, or
   one measured on 100 nodes, never meets a full-mode 1000-node target;
3. more failures (Pods never Running, failed or timed-out calls: ``record["failures"]``)
   than the target allows (zero unless it says otherwise): "failed";
4. the figure against the threshold: met or missed, and by how much.

Comparisons:
- ``<=`` / ``>=``: the record's value, converted to the target's unit, against the
  threshold (latency and memory must stay under, throughput must reach);
- ``ratio<=`` / ``ratio>=``: the record's value divided by its peer's value (measured
  beside it in the same run) against the threshold, e.g. pykube/``podman run -d`` ≤ 1.5,
  or creates/s over mutual TLS ≥ 0.85 × the plaintext peer's.

The record names are a contract with the benchmark modules: renaming a record there
means renaming it here, or the report shows the target as "not measured".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

LE, GE, RATIO_LE, RATIO_GE = "<=", ">=", "ratio<=", "ratio>="
RATIOS = (RATIO_LE, RATIO_GE)
FULL = "full"

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


def describe_conditions(conditions: Mapping[str, Any]) -> str:
    """"mode=full nodes=1000 pods=10000": conditions as the report and the verdicts show them."""
    return " ".join(f"{key}={value}" for key, value in conditions.items())


@dataclass(frozen=True)
class Target:
    """One target: record `record`, measured under `conditions` (plus mode=full) with at most
    `max_failures` failures, must satisfy `comparison threshold`."""

    record: str
    comparison: str
    threshold: float
    unit: str
    description: str
    conditions: Mapping[str, Any] = field(default_factory=dict)
    max_failures: int = 0

    def __post_init__(self) -> None:
        if self.comparison not in (LE, GE, *RATIOS):
            raise ValueError(f"{self.record}: unknown comparison {self.comparison!r}")
        if "mode" in self.conditions:
            raise ValueError(f"{self.record}: every target is a full-mode target; do not name a mode")

    @property
    def required(self) -> dict[str, Any]:
        """Every condition a record must have been measured under: the full mode and the target's own."""
        return {"mode": FULL, **self.conditions}

    @property
    def wanted(self) -> str:
        """The target as a person writes it: "≤ 0.3 s", "≥ 1000 pods/s", "pykube/peer ≤ 1.5"."""
        sign = "≤" if self.comparison in (LE, RATIO_LE) else "≥"
        if self.comparison in RATIOS:
            return f"pykube/peer {sign} {_num(self.threshold)}"
        return f"{sign} {_num(self.threshold)} {self.unit}"


_HOLLOW_1000 = {"nodes": 1000, "pods": 10000}
_PODMAN_RUNS = {"runs": 20}
_CLUSTER_RUNS = {"runs": 10}
_NETWORK = {"nodes": 3, "scale_ups": 30, "requests": 2000, "lookups": 1000}
_SECURITY = {"clients": 16, "objects": 10000}
_HTTP_CREATES = {"clients": 16, "objects": 10000}
_HTTP_GET = {"pods": 1000, "runs": 20}
_WORKLOADS = {"runs": 20, "updates": 50}

# Issue 6's targets, issue 10's raised ones, issue 11's network ones, issue 12's security ones, issue 13's
# HTTP API ones and issue 14's workload ones. Where a target names no percentile
# (the ratios to a peer, node loss) both the median and the tail are held to it.
TARGETS: tuple[Target, ...] = (
    Target("kubelet.pod_start.p50", RATIO_LE, 1.5, "ratio",
           "pod start on real Podman (create → Running) vs `podman run -d` of the same image, p50", _PODMAN_RUNS),
    Target("kubelet.pod_start.p95", RATIO_LE, 1.5, "ratio",
           "pod start on real Podman (create → Running) vs `podman run -d` of the same image, p95", _PODMAN_RUNS),
    Target("cluster.apply_vs_podman_run.p50", RATIO_LE, 1.3, "ratio",
           "apply → 4/4 Running on 3 nodes vs 4 parallel `podman run -d` (one node), p50", _CLUSTER_RUNS),
    Target("cluster.apply_vs_podman_run.p95", RATIO_LE, 1.3, "ratio",
           "apply → 4/4 Running on 3 nodes vs 4 parallel `podman run -d` (one node), p95", _CLUSTER_RUNS),
    Target("cluster.apply_to_running.p50", RATIO_LE, 0.8, "ratio",
           "apply → 4/4 Running on 3 nodes vs `podman kube play` (same warm-up, interleaved), p50", _CLUSTER_RUNS),
    Target("cluster.apply_to_running.p95", RATIO_LE, 0.8, "ratio",
           "apply → 4/4 Running on 3 nodes vs `podman kube play` (same warm-up, interleaved), p95", _CLUSTER_RUNS),
    Target("kubelet.kill_to_running.p50", LE, 300.0, "ms", "container kill → Running again, p50", {"kills": 50}),
    Target("kubelet.kill_to_running.p99", LE, 600.0, "ms", "container kill → Running again, p99", {"kills": 50}),
    Target("cluster.node_loss_to_running.p50", LE, 10.0, "s", "node loss → replacements Running, p50",
           {"node_loss_runs": 10}),
    Target("cluster.node_loss_to_running.p95", LE, 10.0, "s", "node loss → replacements Running, p95",
           {"node_loss_runs": 10}),
    Target("scheduler.create_per_pod.bound_throughput", GE, 1000.0, "pods/s",
           "scheduler + apiserver on 1000 hollow nodes, 10 000 Pods, one Create call per Pod: bound", _HOLLOW_1000),
    Target("scheduler.deployment.all_running", LE, 30.0, "s",
           "10 000-replica Deployment on 1000 hollow nodes → all Running", _HOLLOW_1000),
    Target("startup.latency.p99", LE, 0.5, "s",
           "pod startup on hollow nodes, fake runtime (created → Running via watch), p99, 20 Pods/s",
           {"nodes": 100, "rate": 20, "duration": 60}),
    Target("startup.api_mutating.p99", LE, 50.0, "ms", "API mutating call p99 under that load",
           {"nodes": 100, "rate": 20, "duration": 60}),
    Target("memory.control_plane.1000pods", LE, 300.0, "MiB",
           "control plane RSS (apiserver + scheduler + controller-manager) at 1000 Pods", {"nodes": 100}),
    Target("memory.kubelet", LE, 60.0, "MiB", "RSS of one kubelet (fake runtime, 110 Pods)", {"kubelet_pods": 110}),
    Target("memory.kubelet_podman", LE, 60.0, "MiB",
           "RSS of one kubelet on real Podman with 110 Pods (Kubernetes' default max; needs root)",
           {"kubelet_pods": 110}),
    Target("network.programming_latency.p99", LE, 1.0, "s",
           "network programming latency: Pod Ready → answering through its ClusterIP from a Pod on another node, "
           "p99 over 30 scale-ups (Kubernetes' SLO: 30 s)", _NETWORK),
    Target("network.clusterip_vs_pod_ip.p50", RATIO_LE, 1.1, "ratio",
           "request latency through the ClusterIP vs straight to the Pod IP (same Pod, across nodes), p50", _NETWORK),
    Target("network.dns_lookup.p99", LE, 5.0, "ms", "DNS lookup of a Service name from a Pod, p99", _NETWORK),
    Target("security.create.throughput", RATIO_GE, 0.85, "ratio",
           "creates/s over mutual TLS + Node,RBAC, as a non-superuser allowed by a RoleBinding (edit in its "
           "namespace), vs plaintext + AlwaysAllow: same build, same run, interleaved rounds, 16 clients, "
           "10 000 Pods", _SECURITY),
    Target("security.mutating.p99", RATIO_LE, 1.2, "ratio",
           "mutating call (create, update) p99 over mutual TLS + Node,RBAC as that user vs plaintext + AlwaysAllow, "
           "same run", _SECURITY),
    Target("security.handshake.p99", LE, 20.0, "ms",
           "a new connection, client → apiserver: new channel + TLS handshake (client certificate) + first call "
           "(Version), p99 over 500 (the plaintext peer measured beside it)", {"handshakes": 500}),
    Target("http.create.p99", RATIO_LE, 2.0, "ratio",
           "create p99 over the Kubernetes HTTP API (HTTPS, JSON, one keep-alive connection per client) vs gRPC "
           "(mutual TLS, protobuf): one apiserver serving both, same run, interleaved rounds, 16 clients, "
           "10 000 Pods per face", _HTTP_CREATES),
    Target("http.kubectl_get.p50", RATIO_LE, 1.5, "ratio",
           "`kubectl get pods` (the real kubectl over HTTPS, discovery cached) vs `pykubectl get pods` (gRPC) over "
           "1000 Pods: same server, same run, a new process each, wall time, p50 of 20", _HTTP_GET),
    Target("workloads.pod_start_config.p50", RATIO_LE, 1.2, "ratio",
           "pod start on real Podman with a ConfigMap volume + a Secret env var (objects of its own) vs the same "
           "Pod without them, same run, ABBA order, p50", _WORKLOADS),
    Target("workloads.pod_start_config.p95", RATIO_LE, 1.2, "ratio",
           "pod start on real Podman with a ConfigMap volume + a Secret env var vs the same Pod without, p95",
           _WORKLOADS),
    Target("workloads.config_to_file.p99", LE, 2.0, "s",
           "ConfigMap update → the new value read inside the running container (podman exec), p99 "
           "(Kubernetes: up to ~1 min)", _WORKLOADS),
)


def target_named(record: str) -> Target:
    """The target held against record `record` (KeyError when none is)."""
    for target in TARGETS:
        if target.record == record:
            return target
    raise KeyError(record)


@dataclass(frozen=True)
class Outcome:
    """A target evaluated on a record (or on its absence)."""

    target: Target
    measured: float | None  # in the target's unit (the ratio for ratio targets)
    met: bool | None  # None: not measured, or not comparable
    verdict: str  # "met with 12% to spare", "missed by 42%", "not measured", "failed: ...", ...

    @property
    def attainment(self) -> float | None:
        """measured / threshold: for ≤ targets met when ≤ 1, for ≥ targets met when ≥ 1."""
        if self.measured is None or not self.target.threshold:
            return None
        return self.measured / self.target.threshold


def mismatched_conditions(target: Target, record: Mapping[str, Any]) -> dict[str, Any]:
    """The target's conditions the record was not measured under: key -> what the record says (None: unsaid)."""
    measured = record.get("conditions") or {}
    return {key: measured.get(key) for key, wanted in target.required.items()
            if str(measured.get(key)) != str(wanted)}


def evaluate(target: Target, record: Mapping[str, Any] | None) -> Outcome:
    """Compare one record (a results.json entry, or None if never measured) with its target."""
    if record is None:
        return Outcome(target, None, None, "not measured")
    wrong = mismatched_conditions(target, record)
    if wrong:
        said = " ".join(f"{k}={'?' if v is None else v}" for k, v in wrong.items())
        return Outcome(target, None, None, f"not comparable (measured with {said}; the target needs "
                                           f"{describe_conditions({k: target.required[k] for k in wrong})})")
    failures = int(record.get("failures") or 0)
    if failures > target.max_failures:
        allowed = "none" if not target.max_failures else f"at most {target.max_failures}"
        return Outcome(target, None, False, f"failed: {failures} failure{'s' if failures != 1 else ''} "
                                            f"({allowed} allowed)")
    if record.get("value") is None:
        return Outcome(target, None, None, "not measured")
    value = float(record["value"])
    if target.comparison in RATIOS:
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
    at_least = target.comparison in (GE, RATIO_GE)
    if at_least:
        met = measured >= t
        gap = (measured - t) / t if met else (t - measured) / t
    else:
        met = measured <= t
        gap = (t - measured) / t if met else (measured - t) / t
    pct = f"{gap * 100:.0f}%"
    if met:
        return True, "met" if gap < 0.005 else f"met with {pct} to spare"
    if at_least:
        times = t / measured if measured > 0 else math.inf
        extra = f" ({times:.1f}× short)" if times >= 2 else ""
    else:
        times = measured / t
        extra = f" ({times:.1f}× the target)" if times >= 2 else ""
    return False, f"missed by {pct}{extra}"


def _num(value: float) -> str:
    return f"{value:g}"
