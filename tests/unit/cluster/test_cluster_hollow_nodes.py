"""The cluster side of hollow nodes: one ``hollow-nodes`` process for all of them, its row in
``pykube status``, its PID on ``down``, and ``stop-node`` / ``start-node hollow-K`` through the
stopped file and SIGHUP. A stand-in process plays kubelet.hollow's side of that protocol (it
re-reads the file on SIGHUP and logs ``hollow nodes reconfigured``), so no apiserver is needed;
tests/unit/kubelet/test_hollow_nodes.py covers the real process's side."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from cluster import cli, local_cluster, supervise
from cluster.local_cluster import HOLLOW, ClusterError, ClusterSpec, LocalCluster
from cluster.registry import pid_alive

# kubelet.hollow's side of the protocol, minus the kubelets. Its command line carries the
# marker (`kubelet.hollow --server ADDR `) so the cluster takes it for its hollow-nodes process.
STAND_IN = """
import json, signal, sys, time
path = sys.argv[sys.argv.index("--stopped-file") + 1]
ack = "--no-ack" not in sys.argv
def reload(*_):
    try:
        names = sorted({l.strip() for l in open(path) if l.strip()})
    except FileNotFoundError:
        names = []
    if ack:
        print(json.dumps({"event": "hollow nodes reconfigured", "stopped": names}), flush=True)
signal.signal(signal.SIGHUP, reload)
print(json.dumps({"event": "hollow nodes running"}), flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture
def hollow_cluster(tmp_path, monkeypatch):
    """A state dir whose cluster has hollow-1..3 and a running stand-in hollow-nodes process."""
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 0)
    cluster = LocalCluster(tmp_path)
    spec = ClusterSpec(name="h", port=7000, nodes=[], hollow_nodes=["hollow-1", "hollow-2", "hollow-3"])
    spec.save(cluster.spec_path)
    procs = []

    def start(*extra: str) -> subprocess.Popen:
        cluster.log_dir.mkdir(exist_ok=True)
        cluster.pid_dir.mkdir(exist_ok=True)
        with cluster.log_path(HOLLOW).open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-c", STAND_IN, "kubelet.hollow", "--server", spec.address,
                                     "--stopped-file", str(cluster.hollow_stopped_path), *extra],
                                    stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        cluster.pid_path(HOLLOW).write_text(f"{proc.pid}\n")
        procs.append(proc)
        deadline = time.monotonic() + 10
        while "hollow nodes running" not in cluster.log_path(HOLLOW).read_text():  # handler installed
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        return proc

    cluster.start_stand_in = start  # type: ignore[attr-defined]
    yield cluster
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def reconfigured(cluster: LocalCluster) -> list[list[str]]:
    lines = cluster.log_path(HOLLOW).read_text().splitlines()
    return [r["stopped"] for r in map(json.loads, lines) if r["event"] == "hollow nodes reconfigured"]


def test_status_shows_one_hollow_nodes_row_and_each_powered_off_node(hollow_cluster):
    cluster = hollow_cluster
    proc = cluster.start_stand_in()
    cluster._write_hollow_stopped({"hollow-2"})
    rows = {r.component: r for r in cluster.status()}
    assert rows[HOLLOW].pid == proc.pid and rows[HOLLOW].running
    assert rows[HOLLOW].address == "3 hollow node(s) hollow-1..hollow-3, 1 powered off"
    assert rows[HOLLOW].log == cluster.state_dir / "logs" / "hollow-nodes.log"
    # A powered-off hollow node counts as a stopped kubelet (status exits 1, as for n2).
    assert not rows["hollow-2/kubelet"].running and "hollow-1/kubelet" not in rows
    proc.kill()
    proc.wait()
    assert not {r.component: r for r in cluster.status()}[HOLLOW].running


def test_stop_node_and_start_node_of_a_hollow_node(hollow_cluster, monkeypatch, capsys):
    cluster = hollow_cluster
    proc = cluster.start_stand_in()
    assert cli.main(["stop-node", "hollow-2", "--state-dir", str(cluster.state_dir)]) == 0
    assert "hollow node hollow-2 stopped" in capsys.readouterr().out
    assert cluster.hollow_stopped() == {"hollow-2"}
    assert reconfigured(cluster) == [["hollow-2"]]
    cluster.stop_node("hollow-2")  # already off: nothing to do, no signal
    assert reconfigured(cluster) == [["hollow-2"]]
    cluster.stop_node("hollow-3")
    assert reconfigured(cluster)[-1] == ["hollow-2", "hollow-3"]

    with pytest.raises(ClusterError, match="node hollow-1's kubelet is running"):
        cluster.start_node("hollow-1")
    # start-node waits for the Node to be Ready with a heartbeat after the boot.
    beats = iter([("Ready", 0), ("NotReady", int(time.time()) + 1), ("Ready", int(time.time()) + 1)])
    monkeypatch.setattr(cluster, "_nodes", lambda timeout=5.0: {"hollow-2": next(beats)})
    cluster.start_node("hollow-2")
    assert cluster.hollow_stopped() == {"hollow-3"}
    assert reconfigured(cluster)[-1] == ["hollow-3"]
    assert next(beats, None) is None  # it polled until Ready and fresh
    assert proc.poll() is None  # one node's power is not the process's


def test_a_hollow_nodes_process_that_does_not_answer_is_a_clear_error(hollow_cluster):
    cluster = hollow_cluster
    proc = cluster.start_stand_in("--no-ack")
    with pytest.raises(ClusterError, match="did not power off hollow-1 in time") as err:
        cluster._power_hollow(cluster.spec(), "hollow-1", on=False, timeout=0.5)
    assert "hollow nodes running" in err.value.detail  # the log tail
    proc.kill()
    proc.wait()
    with pytest.raises(ClusterError, match="hollow-nodes process that runs hollow-1 is not running"):
        cluster.stop_node("hollow-1")


def test_down_stops_the_hollow_nodes_process_by_pid_and_forgets_stopped_nodes(hollow_cluster):
    cluster = hollow_cluster
    proc = cluster.start_stand_in()
    cluster._write_hollow_stopped({"hollow-1"})
    assert cluster._down()
    assert proc.wait(timeout=5) is not None and not pid_alive(proc.pid)
    assert not cluster.pid_path(HOLLOW).exists()
    assert not cluster.hollow_stopped_path.exists()  # the next up boots every hollow node
    assert cluster.log_path(HOLLOW).exists()


def test_down_leaves_a_process_with_the_wrong_command_line_alone(hollow_cluster):
    """PID reuse: a hollow-nodes.pid naming some other process (not this cluster's) is not killed."""
    cluster = hollow_cluster
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "kubelet.hollow",
                              "--server", "127.0.0.1:7001"])
    try:
        cluster.pid_dir.mkdir(exist_ok=True)
        cluster.pid_path(HOLLOW).write_text(f"{other.pid}\n")
        cluster._down()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_many_node_names_stay_one_line(tmp_path):
    names = [f"hollow-{i}" for i in range(1, 1001)]
    assert supervise.some(names) == ", ".join(names[:10]) + " and 990 more"
    assert local_cluster._hollow_range(names[:1], 0) == "1 hollow node(s) hollow-1"
