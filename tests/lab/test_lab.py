"""The seed's story across real VMs: `vagrant/lab up` boots a master VM and 3 worker VMs
(mutual TLS + Node,RBAC on the master; the workers join by token and hold no key from the
master; a plaintext client is refused), the 4-replica multi-worker Deployment is applied from the master with pykubectl, the client
answers through its NodePort on every worker's address (Pods on other workers reached over
the host-gw routes each worker's pykube-proxy programs), and the lab heals a killed container
(RESTARTS 1) and a lost worker VM (its Pods come back on the others). Everything that talks
to a VM runs inside the lab's network namespace (`vagrant/lab run ...`): this process, in the
host's namespace, never dials a VM address.

Slow (about 10-15 min under software emulation) and heavy (a VM takes ~1.6 GiB of host
memory), so it runs only when asked: PYKUBE_LAB=1 (as root).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB = REPO_ROOT / "vagrant" / "lab"
WORKERS = int(os.environ.get("PYKUBE_WORKERS", "3"))
SUBNET = os.environ.get("PYKUBE_LAB_SUBNET", "192.168.77")
WORKER_NAMES = [f"worker{i}" for i in range(1, WORKERS + 1)]
NETNS = os.environ.get("PYKUBE_LAB_NETNS", "pykube-lab")

pytestmark = pytest.mark.skipif(os.environ.get("PYKUBE_LAB") != "1",
                                reason="the VM lab runs only with PYKUBE_LAB=1 (slow: boots 4 VMs)")


def lab(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=timeout, check=check,
                          env={**os.environ, "PYKUBE_WORKERS": str(WORKERS)})


class Lab:
    """Commands in the VMs, through plain ssh (with vagrant's ssh-config) inside the namespace."""

    def __init__(self, ssh_config: Path) -> None:
        self.ssh_config = ssh_config

    def ssh(self, machine: str, command: str, timeout: float = 60, check: bool = True) -> str:
        result = lab("run", "ssh", "-F", str(self.ssh_config), "-o", "LogLevel=ERROR", machine, command,
                     timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{machine}$ {command} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def kubectl(self, *args: str, timeout: float = 60) -> str:
        return self.ssh("master", "pykubectl " + " ".join(args), timeout=timeout)

    def items(self, kind: str) -> list[dict]:
        return json.loads(self.kubectl("get", kind, "-o", "json"))["items"]

    def pods(self, deployment: str = "multi-worker") -> list[dict]:
        return [p for p in self.items("pods") if p["metadata"]["name"].startswith(deployment + "-")]

    def wait(self, what: str, predicate, timeout: float, interval: float = 5.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
            except (AssertionError, json.JSONDecodeError, subprocess.TimeoutExpired) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n"
                             + self.kubectl("get", "pods", "-o", "wide") + self.kubectl("get", "nodes", "-o", "wide"))


def running(pods: list[dict]) -> list[dict]:
    return [p for p in pods if p.get("status", {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def ready(obj: dict) -> bool:
    """A Node's or a Pod's Ready condition is True."""
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


@pytest.fixture(scope="module")
def vm_lab(tmp_path_factory):
    assert os.geteuid() == 0, "the VM lab needs root (network namespace, libvirtd)"
    t0 = time.monotonic()
    try:
        up = lab("up", timeout=2400, check=False)
        assert up.returncode == 0, f"lab up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        print(f"lab up: {time.monotonic() - t0:.0f} s")
        ssh_config = Path(tmp_path_factory.mktemp("lab")) / "ssh-config"
        ssh_config.write_text(lab("run", "vagrant", "ssh-config").stdout)
        yield Lab(ssh_config)
    finally:
        down = lab("down", timeout=600, check=False)
        # Nothing of the lab may survive: no namespace, no daemons.
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert down.returncode == 0, down.stderr
        assert NETNS not in left.split(), f"namespace {NETNS} left behind"
        assert "libvirtd: stopped" in lab("status", check=False).stdout


def test_seed_story_across_vms(vm_lab: Lab):
    # The workers registered with their private-network addresses, not the NAT one.
    def nodes_ready():
        nodes = {n["metadata"]["name"]: n for n in vm_lab.items("nodes")}
        return nodes if set(WORKER_NAMES) <= set(nodes) and all(ready(nodes[w]) for w in WORKER_NAMES) else None
    nodes = vm_lab.wait("every worker Ready", nodes_ready, timeout=300)
    for i, name in enumerate(WORKER_NAMES, start=1):
        addresses = {a["type"]: a["address"] for a in nodes[name]["status"]["addresses"]}
        assert addresses["InternalIP"] == f"{SUBNET}.{10 + i}", addresses
    # Each its own /24 of the cluster CIDR, from the node IPAM controller.
    pod_cidrs = [nodes[name]["spec"].get("podCIDR", "") for name in WORKER_NAMES]
    assert all(c.startswith("10.88.") and c.endswith(".0/24") for c in pod_cidrs), pod_cidrs
    assert len(set(pod_cidrs)) == WORKERS, pod_cidrs
    print(vm_lab.kubectl("get", "nodes", "-o", "wide"))
    workers_joined_by_token(vm_lab)
    plaintext_is_refused(vm_lab)

    # 4 replicas, Running across the 3 worker VMs (2/1/1).
    vm_lab.kubectl("apply", "-f", "/pykube/examples/multi-worker.yaml")
    pods = vm_lab.wait("4 multi-worker Pods Running", lambda: (r := running(vm_lab.pods())) and len(r) == 4 and r,
                       timeout=600)
    placement = sorted(p["spec"]["nodeName"] for p in pods)
    assert set(placement) == set(WORKER_NAMES), placement
    print(vm_lab.kubectl("get", "pods", "-o", "wide"))
    # The apiserver dials each kubelet over mutual TLS (its client certificate; the kubelet's
    # serving certificate from the join): logs of a Pod on every worker come through.
    for worker in WORKER_NAMES:
        pod = next(p for p in pods if p["spec"]["nodeName"] == worker)
        vm_lab.kubectl("logs", pod["metadata"]["name"], "--tail", "5")

    # Each worker VM pulled the image once (the other Pods on it found it present).
    pulls: dict[str, int] = {}
    for event in vm_lab.items("events"):
        if event.get("reason") == "Pulled" and event.get("message", "").startswith("Successfully pulled"):
            host = event.get("source", {}).get("host", "")
            pulls[host] = pulls.get(host, 0) + int(event.get("count", 1))
    assert pulls == {w: 1 for w in WORKER_NAMES}, pulls

    # Kill one container inside a worker VM: the kubelet restarts it (RESTARTS 1).
    victim = pods[0]
    node, name = victim["spec"]["nodeName"], victim["metadata"]["name"]
    container = vm_lab.ssh(node, f"sudo podman ps -q --filter name=pk_worker_{name}_").split()[0]
    vm_lab.ssh(node, f"sudo podman kill {container}")

    def restarted():
        pod = next(p for p in vm_lab.pods() if p["metadata"]["name"] == name)
        statuses = pod.get("status", {}).get("containerStatuses", [])
        return statuses and statuses[0].get("restartCount") == 1 and statuses[0].get("ready")
    vm_lab.wait(f"{name} RESTARTS 1", restarted, timeout=180)

    client_node_port_answers_on_every_worker(vm_lab)

    # Halt a worker VM: its Node goes NotReady, its Pods are recreated on the others.
    lost = next(w for w in WORKER_NAMES if placement.count(w) == 1)
    lost_pods = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == lost}
    lab("run", "vagrant", "halt", "--force", lost, timeout=300)
    vm_lab.wait(f"{lost} NotReady", lambda: not ready(next(n for n in vm_lab.items("nodes")
                                                             if n["metadata"]["name"] == lost)), timeout=120)

    def healed():
        r = running(vm_lab.pods())
        names = {p["metadata"]["name"] for p in r}
        return (len(r) == 4 and not names & lost_pods
                and all(p["spec"]["nodeName"] != lost for p in r) and r)
    healed_pods = vm_lab.wait("4 Pods Running on the remaining workers", healed, timeout=300)
    assert {p["spec"]["nodeName"] for p in healed_pods} <= set(WORKER_NAMES) - {lost}
    print(vm_lab.kubectl("get", "pods", "-o", "wide"))


PYTHON = "sudo /opt/pykube/venv/bin/python"
CERT_DIR = "/var/lib/pykubelet/pki"
# Each joined worker's certificates: (file, subject); all issued by the master's cluster CA.
JOINED = {"kubelet-client": "system:node:{w}", "kubelet-server": "system:node:{w}", "kube-proxy": "system:kube-proxy"}
DESCRIBE = ("import json, sys; from client import pki; d = sys.argv[1]; ca = pki.load_cert(d + '/ca.crt'); "
            "print(json.dumps({'ca': pki.ca_hash(ca), 'certs': {n: [pki.identity_from_cert(c).name, "
            "pki.issued_by(c, ca)] for n in sys.argv[2:] for c in [pki.load_cert(f'{d}/{n}.crt')]}}))")


def plain(log: str) -> str:
    """Console log lines without their colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", log)


def workers_joined_by_token(vm_lab: Lab) -> None:
    """The workers got their certificates by the token join, not by copying: each holds the
    master's CA certificate (same pin) and its own keys (kubelet client, kubelet serving,
    kube-proxy), issued by that CA for its own name, and no other private key or kubeconfig
    of the master's; the master's apiserver logged each join, and the token is in its list."""
    ca = json.loads(vm_lab.ssh("master", f"{PYTHON} -c \"{DESCRIBE}\" /var/lib/pykube/pki"))["ca"]
    joins = plain(vm_lab.ssh("master", "sudo journalctl -u pykube-apiserver --no-pager -o cat | grep 'node joined'"))
    for worker in WORKER_NAMES:
        described = json.loads(vm_lab.ssh(worker, f"{PYTHON} -c \"{DESCRIBE}\" {CERT_DIR} {' '.join(JOINED)}"))
        assert described["ca"] == ca, (worker, described)
        for name, subject in JOINED.items():
            assert described["certs"][name] == [subject.format(w=worker), True], (worker, name, described)
        # Private keys and kubeconfigs anywhere pykube or a user keeps them (not the VM's ssh host keys).
        keys = vm_lab.ssh(worker, "sudo grep -rlE 'PRIVATE KEY|client-key-data' /etc /root /home /var/lib/pykube "
                                  "/var/lib/pykubelet /opt/pykube --exclude-dir=ssh --exclude-dir=venv | sort",
                          timeout=120, check=False).split()
        assert keys == sorted([f"{CERT_DIR}/{n}.key" for n in JOINED] + ["/var/lib/pykubelet/kube-proxy.conf"]), \
            (worker, keys)
        assert any(f"node={worker} " in line + " " for line in joins.splitlines()), joins
        joined = plain(vm_lab.ssh(worker, "sudo journalctl -u pykubelet --no-pager -o cat | grep -m1 'joined the cluster'"))
        assert "serving=True" in joined, joined
    assert "vagrant/lab workers" in vm_lab.ssh("master", "sudo pykube token list")


def plaintext_is_refused(vm_lab: Lab) -> None:
    """A client without TLS gets nothing from the master's apiserver, from a worker or from
    the master itself; the same pykubectl with the admin config answers."""
    master = f"{SUBNET}.10:6443"
    for machine in ("master", WORKER_NAMES[0]):
        out = vm_lab.ssh(machine, f"printf 'server: {master}\\n' > /tmp/plain.conf; "
                                  "PYKUBECONFIG=/tmp/plain.conf timeout 30 pykubectl get nodes 2>&1; echo rc=$?", check=False)
        assert "rc=0" not in out and not any(w in out for w in WORKER_NAMES), (machine, out)
        print(f"plaintext client on {machine}: {out.strip().splitlines()[-2:]}")


def client_node_port_answers_on_every_worker(vm_lab: Lab) -> None:
    """The client behind NodePort 31515, fetched from the master VM (outside the cluster: no
    proxy, no route to the Pods) at each worker's private address: every worker answers, and
    the answers come from Pods on different workers (externalTrafficPolicy Cluster: a node
    forwards to any endpoint, over the host-gw routes to the other workers' pod CIDRs)."""
    vm_lab.kubectl("apply", "-f", "/pykube/examples/multi-client.yaml", "-f", "/pykube/examples/client-node-port.yaml")
    clients = vm_lab.wait("3 multi-client Pods Ready",
                          lambda: (r := [p for p in running(vm_lab.pods("multi-client")) if ready(p)])
                          and len(r) == 3 and r, timeout=300)
    node_of = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in clients}
    print(vm_lab.kubectl("get", "services") + vm_lab.kubectl("get", "pods", "-l", "component=web", "-o", "wide"))

    def fetch(ip: str) -> list[str]:
        """The served-by lines of 6 fetches of http://IP:31515/ from the master (each line:
        "multi-client served by POD (POD_IP)"); empty until all 6 answer."""
        out = vm_lab.ssh("master", f"for i in 1 2 3 4 5 6; do timeout 5 busybox wget -q -O- http://{ip}:31515/ || exit 1; done",
                         timeout=60, check=False)
        lines = [line for line in out.splitlines() if line.startswith("multi-client served by ")]
        return lines if len(lines) == 6 else []

    def network_state(worker: str) -> str:
        """What a failure needs to be understood: the worker's proxy, rules and routes."""
        return vm_lab.ssh(worker, "sudo journalctl -u pykube-proxy -n 40 --no-pager; sudo ip route; "
                                  "sudo nft list table ip pykube-proxy | head -60", check=False)

    served: dict[str, set[str]] = {}  # worker address -> the nodes of the Pods that answered there
    for i, worker in enumerate(WORKER_NAMES, start=1):
        ip = f"{SUBNET}.{10 + i}"
        try:
            lines = vm_lab.wait(f"NodePort 31515 answering on {worker} ({ip})", lambda: fetch(ip), timeout=120)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{network_state(worker)}") from None
        pods = {line.split()[3] for line in lines}
        assert pods <= set(node_of), (pods, node_of)
        served[worker] = {node_of[p] for p in pods}
    print("NodePort 31515, answering nodes per worker address:", served)
    assert len(set().union(*served.values())) >= 2, served
