"""``pykube up / status / stop-node / start-node / down`` with real processes and real Podman.

One cluster for the module (2 nodes and 2 hollow nodes, which run in one ``hollow-nodes``
process; a temporary state dir, a pykubectl config in a temporary file through $PYKUBECONFIG);
the tests run in file order: up → status → get nodes → a Pod bound to n1 runs → a second up is
refused → n1 loses power and comes back → so does hollow-1, inside the running hollow-nodes
process → down leaves nothing running, mounted or namespaced → up again works (the Pod comes
back) → down --purge.

Needs root (network namespaces, rootful Podman): fails, never skips, when it is missing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from apiserver_process import REPO_ROOT
import node_env_fixtures
from node_env_fixtures import environment_problems

from cluster import netns
from cluster.cluster_network import ClusterNetwork
from cluster.local_cluster import LocalCluster
from cluster.podman_node import mounts_under, pids_in_netns
from cluster.registry import pid_alive

NODES = ("n1", "n2")
HOLLOW = ("hollow-1", "hollow-2")
ALL_READY = sorted([name, "Ready"] for name in NODES + HOLLOW)
POD_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  nodeName: n1
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: docker.io/library/multi-worker:1.0
      ports:
        - containerPort: 8080
"""
HOLLOW_POD_MANIFEST = POD_MANIFEST.replace("name: web", "name: web-h").replace("nodeName: n1", "nodeName: hollow-1")



def wait_for(what: str, check: Callable[[], object], timeout: float = 30.0, interval: float = 0.2):
    return node_env_fixtures.wait_for(what, check, timeout, interval)


class Lab:
    """The test's handle on one state dir: runs the real CLIs, reads the state dir."""

    def __init__(self, base: Path) -> None:
        self.state = base / "state"
        self.kubeconfig = base / "pykubectl-config"
        self.name = f"t{os.getpid() % 100000}"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.env["PYKUBECONFIG"] = str(self.kubeconfig)  # never the user's ~/.pykube/config
        self.env.pop("PYKUBE_STATE_DIR", None)

    def pykube(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cluster.cli", *args, "--state-dir", str(self.state)],
                              capture_output=True, text=True, env=self.env, cwd=REPO_ROOT, timeout=timeout,
                              check=False)

    def up(self) -> subprocess.CompletedProcess:
        # A reboot (stop-node, start-node) takes a few seconds on a busy machine: more than the
        # default 8 s of silence after which the node would be NotReady and its Pods evicted.
        return self.pykube("up", "--nodes", str(len(NODES)), "--hollow-nodes", str(len(HOLLOW)),
                           "--name", self.name, "--controller-manager-arg=--node-monitor-grace-period=30")

    def pykubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        # No --server: the config `pykube up` wrote must be what finds the apiserver.
        return subprocess.run([sys.executable, "-m", "kubectl", *args], input=stdin, capture_output=True,
                              text=True, env=self.env, cwd=REPO_ROOT, timeout=30, check=False)

    def cluster(self) -> LocalCluster:
        return LocalCluster(self.state)

    def status_rows(self) -> dict[str, list[str]]:
        """COMPONENT -> [PID, STATE, ADDRESS..., LOG] from `pykube status`."""
        out = self.pykube("status").stdout
        rows = {}
        for line in out.splitlines():
            cells = line.split()
            if cells and (cells[0] in ("registry", "apiserver", "scheduler", "controller-manager", "hollow-nodes",
                                       "nodeports")
                          or "/" in cells[0]) and len(cells) >= 4:
                rows[cells[0]] = cells[1:]
        return rows

    def pod(self, name: str = "web") -> dict | None:
        result = self.pykubectl("get", "pod", name, "-o", "json")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def lease_renew_time(self, node: str) -> int:
        from apimachinery.kinds import unwrap
        from client.connection import connect
        from protos import api_pb2
        with connect(self.cluster().address, call_timeout=5, tls=self.cluster().admin_tls()) as conn:
            lease = unwrap(conn.stub.Get(api_pb2.GetRequest(kind="Lease", namespace="kube-node-lease", name=node)))
        return lease.spec.renew_time.ToNanoseconds()

    def all_pids(self) -> set[int]:
        """Every process the cluster owns now: components, plus what lives in the nodes."""
        cluster = self.cluster()
        spec = cluster.spec()
        assert spec is not None
        pids = {row.pid for row in cluster.status() if row.pid and row.running}
        for node in spec.nodes:
            podman = cluster.podman_node(spec, node)
            pids.update(podman.container_pids())
            pids.update(pids_in_netns(podman.netns_path))
        return pids

    def netns_names(self) -> list[str]:
        """The nodes' namespaces and the cluster network's switch."""
        return [netns.netns_name(self.name, node) for node in NODES] + [ClusterNetwork(self.name).switch]

    def node(self, name: str) -> dict:
        return json.loads(self.pykubectl("get", "node", name, "-o", "json").stdout)


def expected_components() -> set[str]:
    control = {"registry", "apiserver", "scheduler", "controller-manager", "nodeports"}
    return control | {f"{node}/{part}" for node in NODES for part in ("podman", "relay", "kubelet", "proxy")} \
        | {"hollow-nodes"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    problems = environment_problems()
    if problems:
        pytest.fail("cannot run the local cluster tests: " + "; ".join(problems))
    lab = Lab(tmp_path_factory.mktemp("lc"))
    yield lab
    result = lab.pykube("down", "--purge")
    assert result.returncode == 0, result.stderr
    assert not lab.state.exists()


def test_up_starts_every_component(lab):
    t0 = time.monotonic()
    result = lab.up()
    assert result.returncode == 0, f"pykube up failed:\n{result.stderr}\n{result.stdout}"
    assert time.monotonic() - t0 < 30, "pykube up took too long"
    assert "is up" in result.stdout and "pykubectl get nodes" in result.stdout
    status = lab.pykube("status")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = lab.status_rows()
    assert set(rows) == expected_components(), status.stdout
    for component, cells in rows.items():
        assert cells[1] == "running", f"{component}: {cells}"
        assert pid_alive(int(cells[0])), component
    node_lines = {tuple(line.split()) for line in status.stdout.splitlines()}
    assert {(node, "Ready") for node in NODES + HOLLOW} <= node_lines, status.stdout
    # Every hollow node in one process: one PID, one log.
    assert "2 hollow node(s) hollow-1..hollow-2" in status.stdout, status.stdout
    for component in rows:
        assert (lab.state / "logs" / f"{component.replace('/', '-')}.log").exists(), component
    for name in lab.netns_names():
        assert netns.netns_exists(name) and not netns.has_default_route(name)


def test_pykubectl_finds_the_cluster_through_the_written_config(lab):
    address = lab.cluster().address
    for config in (lab.kubeconfig, lab.state / "config"):
        assert config.stat().st_mode & 0o777 == 0o600, config
        text = config.read_text()
        assert f"server: https://{address}" in text and "client-key-data" in text, config
    # Every component dials with its own identity; the CA stays across up/down.
    assert (lab.state / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (lab.state / "pki" / "kubelet-n1.conf").stat().st_mode & 0o777 == 0o600
    result = lab.pykubectl("get", "nodes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert sorted(line.split()[:2] for line in lines[1:]) == ALL_READY


def test_a_pod_bound_to_n1_runs_there(lab):
    result = lab.pykubectl("apply", "-f", "-", stdin=POD_MANIFEST)
    assert result.returncode == 0, result.stderr
    pod = wait_for("pod web Running", lambda: (p := lab.pod()) and p["status"].get("phase") == "Running" and p)
    n1 = lab.node("n1")
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(n1["spec"]["podCIDR"])
    assert pod["status"]["hostIP"] == "10.87.0.2"
    wide = lab.pykubectl("get", "pods", "-o", "wide").stdout
    assert "Running" in wide and " n1" in wide, wide
    # The apiserver still reaches the kubelet over loopback (its Hostname address).
    logs = lab.pykubectl("logs", "web")
    assert logs.returncode == 0, logs.stderr


def test_nodes_are_on_the_cluster_network_with_their_own_pod_cidrs(lab):
    cidrs = []
    for i, name in enumerate(NODES, 1):
        node = lab.node(name)
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses == {"InternalIP": f"10.87.0.{i + 1}", "Hostname": "localhost"}, addresses
        cidrs.append(ipaddress.ip_network(node["spec"]["podCIDR"]))
        assert cidrs[-1].subnet_of(ipaddress.ip_network("10.88.0.0/16")) and cidrs[-1].prefixlen == 24
    assert cidrs[0] != cidrs[1]
    status = lab.pykube("status").stdout
    assert "node n1, 10.87.0.2" in status and "node n2, 10.87.0.3" in status, status


def free_node_port() -> int:
    import random
    import socket
    for port in random.sample(range(30000, 32768), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in the NodePort range")


NODEPORT_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: np
  labels: {app: np}
spec:
  nodeName: n2
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: docker.io/library/multi-worker:1.0
      ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  type: NodePort
  selector: {app: np}
  ports: [{port: 80, targetPort: 8080, nodePort: %d}]
---
apiVersion: v1
kind: Service
metadata:
  name: taken
spec:
  type: NodePort
  selector: {app: np}
  ports: [{port: 80, targetPort: 8080, nodePort: %d}]
"""


def test_a_node_port_answers_on_the_hosts_loopback(lab):
    import socket
    port, taken = free_node_port(), free_node_port()
    with socket.socket() as holder:  # someone else's listener on the host: `taken` is not published
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        result = lab.pykubectl("apply", "-f", "-", stdin=NODEPORT_MANIFEST % (port, taken))
        assert result.returncode == 0, result.stderr
        wait_for("pod np Running", lambda: (p := lab.pod("np")) and p["status"].get("phase") == "Running")
        page = node_env_fixtures.http_get(f"http://127.0.0.1:{port}/", attempts=150, delay=0.2)
        assert b"multi-worker" in page
        events = wait_for("the Warning Event on Service taken", lambda: "NodePortNotPublished" in (
            out := lab.pykubectl("get", "events").stdout) and out)
        assert f"{taken}" in events, events
    lab.pykubectl("delete", "service", "np")
    lab.pykubectl("delete", "service", "taken")
    lab.pykubectl("delete", "pod", "np")


def test_a_second_up_is_refused_while_the_cluster_runs(lab):
    result = lab.up()
    assert result.returncode == 1
    assert "already running" in result.stderr, result.stderr


def test_stop_node_and_start_node(lab):
    cluster = lab.cluster()
    spec = cluster.spec()
    podman = cluster.podman_node(spec, "n1")
    before = set(podman.container_pids())
    assert before, "the pod's containers should run on n1"
    result = lab.pykube("stop-node", "n1")
    assert result.returncode == 0, result.stderr
    rows = lab.status_rows()
    assert [rows[f"n1/{p}"][1] for p in ("podman", "relay", "kubelet", "proxy")] == ["stopped"] * 4, rows
    assert rows["n2/kubelet"][1] == "running"
    assert lab.pykube("status").returncode == 1  # not everything runs
    assert not any(pid_alive(pid) for pid in before), "the node's containers outlived its power cut"
    assert not netns.netns_exists(netns.netns_name(lab.name, "n1"))

    result = lab.pykube("start-node", "n1")
    assert result.returncode == 0, result.stderr
    assert lab.pykube("status").returncode == 0
    eth0 = subprocess.run(["ip", "-n", netns.netns_name(lab.name, "n1"), "-4", "addr", "show", "eth0"],
                          capture_output=True, text=True).stdout
    assert "10.87.0.2/24" in eth0, eth0  # the same node IP after the reboot
    # As after a reboot: the kubelet restarts the Pod's container (RESTARTS 1).
    wait_for("web restarted on n1", lambda: (p := lab.pod()) and p["status"].get("phase") == "Running"
             and p["status"]["containerStatuses"][0].get("restartCount") == 1
             and p["status"]["containerStatuses"][0].get("ready"))


def test_stop_node_and_start_node_of_a_hollow_node(lab):
    """hollow-1 loses power inside the hollow-nodes process: its Lease stops, the process and
    hollow-2 run on; booted again, its kubelet restarts the Pod's (fake) container."""
    result = lab.pykubectl("apply", "-f", "-", stdin=HOLLOW_POD_MANIFEST)
    assert result.returncode == 0, result.stderr
    wait_for("pod web-h Running", lambda: (p := lab.pod("web-h")) and p["status"].get("phase") == "Running")
    hollow_pid = lab.status_rows()["hollow-nodes"][0]

    result = lab.pykube("stop-node", "hollow-1")
    assert result.returncode == 0, result.stderr
    rows = lab.status_rows()
    assert rows["hollow-1/kubelet"][1] == "stopped" and "hollow-2/kubelet" not in rows, rows
    assert rows["hollow-nodes"][:2] == [hollow_pid, "running"], rows
    assert lab.pykube("status").returncode == 1  # not everything runs
    frozen, other = lab.lease_renew_time("hollow-1"), lab.lease_renew_time("hollow-2")
    wait_for("hollow-2 renews its Lease", lambda: lab.lease_renew_time("hollow-2") > other)
    wait_for("another round of Leases", lambda: lab.lease_renew_time("hollow-2") > other + 2_000_000_000, 10)
    assert lab.lease_renew_time("hollow-1") == frozen

    result = lab.pykube("start-node", "hollow-1")
    assert result.returncode == 0, result.stderr
    assert "hollow-1 started and Ready" in result.stdout
    assert lab.pykube("status").returncode == 0
    assert lab.status_rows()["hollow-nodes"][0] == hollow_pid  # the same process all along
    wait_for("web-h restarted on hollow-1", lambda: (p := lab.pod("web-h"))
             and p["status"].get("phase") == "Running"
             and p["status"]["containerStatuses"][0].get("restartCount") == 1)
    again = lab.pykube("start-node", "hollow-1")
    assert again.returncode == 1 and "kubelet is running" in again.stderr


def test_down_leaves_nothing_running_mounted_or_namespaced(lab):
    pids = lab.all_pids()
    assert len(pids) >= 2 + 3 * len(NODES)
    result = lab.pykube("down")
    assert result.returncode == 0, result.stderr
    alive = [pid for pid in pids if pid_alive(pid)]
    assert not alive, f"still running after down: {alive}"
    assert mounts_under(lab.state) == []
    assert not any(netns.netns_exists(name) for name in lab.netns_names())
    assert all(row.state == "stopped" for row in lab.cluster().status())
    # Kept: logs, the apiserver's data, the registry's images; the nodes' dirs are gone.
    assert (lab.state / "logs" / "apiserver.log").exists()
    assert any((lab.state / "apiserver").iterdir())
    assert not any((lab.state / "nodes").iterdir())
    assert not any((lab.state / "pids").iterdir())
    again = lab.pykube("down")
    assert again.returncode == 0, again.stderr


def test_up_again_after_down_brings_the_cluster_back(lab):
    result = lab.up()
    assert result.returncode == 0, f"second pykube up failed:\n{result.stderr}\n{result.stdout}"
    nodes = lab.pykubectl("get", "nodes").stdout
    assert sorted(line.split()[:2] for line in nodes.splitlines()[1:]) == ALL_READY
    # The Pod was kept in the apiserver's store; n1's new kubelet runs it on the fresh node.
    cluster = lab.cluster()
    podman = cluster.podman_node(cluster.spec(), "n1")
    wait_for("web's container on the fresh n1", lambda: podman.remote(
        "ps", "--format", "{{.Names}}", check=False).stdout.count("_web_default_") >= 2)
    wait_for("pod web Running", lambda: (p := lab.pod()) and p["status"].get("phase") == "Running")


def test_up_fails_loudly_and_cleans_up_when_a_component_exits(lab, tmp_path):
    """A kubelet that exits at start (here: a flag it does not know) fails `up` with its log
    tail, and `up` stops everything it had started."""
    broken = Lab(tmp_path)
    broken.name = lab.name + "x"
    result = broken.pykube("up", "--nodes", "1", "--name", broken.name, "--no-user-config",
                           "--kubelet-arg=--no-such-flag")
    assert result.returncode == 1
    assert "n1/kubelet exited with code 2" in result.stderr, result.stderr
    assert "--no-such-flag" in result.stderr  # the log tail: argparse's complaint
    assert not netns.netns_exists(netns.netns_name(broken.name, "n1"))
    assert broken.cluster().running_components() == []
    assert mounts_under(broken.state) == []
    assert not broken.kubeconfig.exists()
