"""bench.memory's pure parts: how Pods are split over Deployments, whether they fit,
reading RSS from /proc, the records, and the Running-Pods bookkeeping."""

from __future__ import annotations

import math
import os

import pytest

from bench.common import proc_memory_mib
from bench.memory import (
    Results,
    RunningPods,
    Settings,
    _verdict,
    bound_pod,
    build_records,
    check_capacity,
    make_deployment,
    marginal_kib_per_node,
    memory_records,
    parse_args,
    replicas_per_deployment,
)


def test_replicas_split_evenly():
    assert replicas_per_deployment(1000, 10) == [100] * 10
    assert replicas_per_deployment(10000, 10) == [1000] * 10
    assert replicas_per_deployment(7, 3) == [3, 2, 2]
    assert sum(replicas_per_deployment(12345, 10)) == 12345


def test_capacity_check():
    assert check_capacity((1000, 10000), nodes=100, max_pods=200) is None
    problem = check_capacity((1000, 10000), nodes=100, max_pods=90)
    assert problem is not None and "10000" in problem and "9000" in problem


def test_proc_memory_of_this_process_and_of_none():
    mine = proc_memory_mib(os.getpid())
    assert mine["VmRSS"] > 1 and mine["VmHWM"] >= mine["VmRSS"]
    gone = proc_memory_mib(2 ** 22 + 1)  # above the default pid_max: no such process
    assert math.isnan(gone["VmRSS"]) and math.isnan(gone["VmHWM"])


def test_memory_records_sum_the_control_plane():
    memory = {"apiserver": {"VmRSS": 50.0, "VmHWM": 60.0}, "scheduler": {"VmRSS": 40.0, "VmHWM": 41.0},
              "controller_manager": {"VmRSS": 45.0, "VmHWM": 45.0}, "hollow_nodes": {"VmRSS": 70.0, "VmHWM": 80.0}}
    records = {r.name: r.value for r in memory_records("1000pods", memory)}
    # The name bench/targets.py holds the 300 MB target against.
    assert records["memory.control_plane.1000pods"] == 135.0
    assert records["memory.control_plane.1000pods.peak"] == 146.0
    assert records["memory.hollow_nodes.1000pods"] == 70.0
    assert records["memory.apiserver.1000pods.peak"] == 60.0
    only_one = {r.name for r in memory_records("1000pods", {"apiserver": memory["apiserver"]})}
    assert "memory.control_plane.1000pods" not in only_one


def test_build_records_names_the_targets_figures():
    results = Results(Settings(nodes=10, sizes=(1000,)))
    process = {"VmRSS": 50.0, "VmHWM": 55.0}
    results.kubelet["fake"] = {"rss": 44.0, "hwm": 45.0, "rss_idle": 43.0, "time_to_running": 1.0}
    results.baseline = {name: dict(process) for name in ("apiserver", "scheduler", "controller_manager")}
    results.baseline["hollow_nodes"] = {"VmRSS": 52.0, "VmHWM": 52.0}
    results.stages[1000] = {name: dict(process) for name in ("apiserver", "scheduler", "controller_manager")}
    results.stages[1000]["hollow_nodes"] = {"VmRSS": 62.0, "VmHWM": 62.0}
    results.time_to_running[1000] = 5.0
    records = {r.name: (r.value, r.unit) for r in build_records(results)}
    assert records["memory.kubelet"] == (44.0, "MiB")
    assert records["memory.control_plane.1000pods"] == (150.0, "MiB")
    assert records["memory.hollow_nodes.1000pods.per_node"] == (6.2, "MiB")
    assert records["memory.hollow_nodes.1000pods.per_pod"] == (10 * 1024 / 1000, "KiB")
    assert records["memory.hollow_nodes.marginal_per_node"] == (9 * 1024 / 9, "KiB")


def test_marginal_node_cost():
    assert marginal_kib_per_node(hollow_mib=54.0, one_kubelet_mib=44.0, nodes=11) == 1024.0
    assert math.isnan(marginal_kib_per_node(50.0, 44.0, 1))


def test_deployment_shape():
    d = make_deployment(3, 100)
    assert d.metadata.name == "mem-3" and d.spec.replicas == 100
    assert dict(d.spec.selector.match_labels) == {"app": "mem-3"}
    assert d.spec.template.metadata.labels["bench"] == "memory"
    assert dict(d.spec.template.metadata.labels).items() >= dict(d.spec.selector.match_labels).items()


def test_running_pods_tracks_running_ready_not_terminating():
    watch = RunningPods(stub=None, selector="bench=memory")
    pod = bound_pod("p1", "hollow-1", "memory")
    watch._note("ADDED", pod)
    assert watch.running == set() and watch.seen == {"p1"}
    pod.status.phase = "Running"
    pod.status.conditions.add(type="Ready", status="True")
    watch._note("MODIFIED", pod)
    assert watch.running == {"p1"}
    pod.metadata.deletion_timestamp.seconds = 1
    watch._note("MODIFIED", pod)
    assert watch.running == set()
    watch._note("ADDED", bound_pod("p2", "hollow-1", "memory"))
    watch.running.add("p2")
    watch._note("DELETED", bound_pod("p2", "hollow-1", "memory"))
    assert watch.running == set()


def test_parse_args():
    settings, _ = parse_args(["--quick", "--no-podman-kubelet"])
    assert settings.sizes == (200, 1000) and settings.nodes == 50 and not settings.podman_kubelet
    settings, _ = parse_args(["--pods", "1000,10000", "--nodes", "100", "--max-pods", "200",
                              "--no-podman-kubelet"])
    assert settings.sizes == (1000, 10000) and settings.max_pods == 200
    with pytest.raises(SystemExit):
        parse_args(["--pods", "20000", "--nodes", "100", "--max-pods", "110", "--no-podman-kubelet"])
    with pytest.raises(SystemExit):
        parse_args(["--pods", "lots"])


def test_verdict_in_mib_like_the_targets():
    assert _verdict("control plane", 300.0, 300.0).endswith("target <= 300 MiB met")
    assert "MISSED by 1.0 MiB" in _verdict("control plane", 301.0, 300.0)
