"""A two-node network made of network namespaces, for pykube-proxy's integration tests.

    client 10.87.0.100 ─┐
    node1  10.87.0.2  ──┤ switch (bridge)      node1: cni0 10.88.1.1/24 ─ pod1 10.88.1.2, pod2 10.88.1.3
    node2  10.87.0.3  ──┘                      node2: cni0 10.88.2.1/24 ─ pod3 10.88.2.2

Every namespace is the run's own (names carry the PID) and deleted at the end. The client routes
the service CIDR and the cluster CIDR via node1, as a host in front of a node would; nothing else
leaves the lab. The pod networks are made by Podman's real netavark (``netavark setup``, as
Podman calls it for a pykube node's sandbox): its bridge, veths, the Pods' route via the gateway,
and its iptables-nft masquerade of everything leaving the pod subnet, so the proxy's pod-to-pod
exemption meets the real competition. The bridge ports are in hairpin mode, as the CNI bridge plugin sets them for
Kubernetes (a Pod reaching itself through its Service needs it). Each Pod runs a tiny echo server on port 8080 (TCP and UDP) that answers
"<pod> <source address seen>". It lets the client close first: a server that closes first keeps
TIME_WAIT sockets, and a later connection masqueraded to the same (random) source port would meet
one and stall, a hazard of any NAT that has nothing to do with the rules under test.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from component_base.netns import netns_executor

ECHO_PORT = 8080
_labs = itertools.count()
ECHO_SERVER = r"""
import socket, sys, threading
name = sys.argv[1]
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", int(sys.argv[2]))); tcp.listen(128)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("0.0.0.0", int(sys.argv[2])))
def serve_udp():
    while True:
        data, peer = udp.recvfrom(512)
        udp.sendto(f"{name} {peer[0]}\n".encode(), peer)
threading.Thread(target=serve_udp, daemon=True).start()
print("ready", flush=True)
while True:
    conn, peer = tcp.accept()
    conn.settimeout(2)
    conn.sendall(f"{name} {peer[0]}\n".encode())
    try:
        conn.recv(1)  # the client closes first: TIME_WAIT stays on its side, never in the Pod
    except OSError:
        pass
    conn.close()
"""

NETAVARK = next((p for p in ("/usr/lib/podman/netavark", "/usr/libexec/podman/netavark") if os.path.exists(p)), "")


def _id(*parts: str) -> str:
    """A 64-hex id, as Podman's network and container ids."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def sh(*argv: str, netns: str = "") -> str:
    prefix = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
    done = subprocess.run([*prefix, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class NetLab:
    tag: str = field(default_factory=lambda: f"px{os.getpid()}-{next(_labs)}")
    namespaces: list[str] = field(default_factory=list)
    servers: list[subprocess.Popen] = field(default_factory=list)
    executors: dict[str, ThreadPoolExecutor] = field(default_factory=dict)
    config_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="pykube-proxy-netavark-"))

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def path(self, role: str) -> str:
        return f"/run/netns/{self.ns(role)}"

    def _add_ns(self, role: str) -> None:
        sh("ip", "netns", "add", self.ns(role))
        self.namespaces.append(self.ns(role))
        sh("ip", "link", "set", "lo", "up", netns=self.ns(role))

    def _veth(self, a: str, a_dev: str, b: str, b_dev: str) -> None:
        """A veth pair between two namespaces (made in a, its peer moved to b)."""
        tmp = f"v{abs(hash((self.tag, a, b))) % 10**8}"
        sh("ip", "link", "add", a_dev, "type", "veth", "peer", "name", tmp, netns=self.ns(a))
        sh("ip", "link", "set", tmp, "netns", self.ns(b), netns=self.ns(a))
        sh("ip", "link", "set", tmp, "name", b_dev, netns=self.ns(b))
        sh("ip", "link", "set", a_dev, "up", netns=self.ns(a))
        sh("ip", "link", "set", b_dev, "up", netns=self.ns(b))

    def build(self) -> "NetLab":
        for role in ("switch", "client", "node1", "node2", "pod1", "pod2", "pod3"):
            self._add_ns(role)
        sh("ip", "link", "add", "br0", "type", "bridge", netns=self.ns("switch"))
        sh("ip", "link", "set", "br0", "up", netns=self.ns("switch"))
        for i, (role, ip) in enumerate((("client", "10.87.0.100"), ("node1", "10.87.0.2"), ("node2", "10.87.0.3"))):
            self._veth("switch", f"port{i}", role, "eth0")
            sh("ip", "link", "set", f"port{i}", "master", "br0", netns=self.ns("switch"))
            sh("ip", "addr", "add", f"{ip}/24", "dev", "eth0", netns=self.ns(role))
        for route in ("10.96.0.0/16", "10.88.0.0/16"):
            sh("ip", "route", "add", route, "via", "10.87.0.2", netns=self.ns("client"))
        for node, subnet, pods in (("node1", "10.88.1", ("pod1", "pod2")), ("node2", "10.88.2", ("pod3",))):
            self._netavark_network(node, subnet, pods)
        for pod in ("pod1", "pod2", "pod3"):
            self.start_echo(pod)
        return self

    def _netavark_network(self, node: str, subnet: str, pods: tuple[str, ...]) -> None:
        """The node's pod network made by Podman's own network tool, as a pykube node's Podman
        does: bridge cni0, gateway .1, a veth per Pod, netavark's iptables rules (masquerade)."""
        network = {"name": "pykube", "id": _id(self.tag, node), "driver": "bridge",
                   "network_interface": "cni0", "subnets": [{"subnet": f"{subnet}.0/24", "gateway": f"{subnet}.1"}],
                   "ipv6_enabled": False, "internal": False, "dns_enabled": False,
                   "ipam_options": {"driver": "host-local"}}
        for j, pod in enumerate(pods):
            options = {"container_id": _id(self.tag, pod), "container_name": pod,
                       "networks": {"pykube": {"interface_name": "eth0", "static_ips": [f"{subnet}.{j + 2}"]}},
                       "network_info": {"pykube": network}, "port_mappings": []}
            done = subprocess.run(["nsenter", f"--net={self.path(node)}", "--", NETAVARK, "--config",
                                   self.config_dir, "setup", self.path(pod)],
                                  input=json.dumps(options), capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"netavark setup {pod}: {done.stderr.strip()}")
        # Hairpin mode on the bridge ports is pykube-proxy's to set (test_hairpin_is_masqueraded).

    def start_echo(self, pod: str) -> None:
        proc = subprocess.Popen(["nsenter", f"--net={self.path(pod)}", "--", sys.executable, "-c", ECHO_SERVER,
                                 pod, str(ECHO_PORT)], stdout=subprocess.PIPE, text=True)
        self.servers.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def run_in(self, role: str, fn, *args):
        """fn(*args) on a thread living in the namespace of ``role``."""
        if role not in self.executors:
            self.executors[role] = netns_executor(self.path(role), max_workers=8)
        return self.executors[role].submit(fn, *args).result()

    def tcp(self, role: str, ip: str, port: int) -> tuple[str, str]:
        """(pod, source address it saw) of one TCP connection made from ``role``."""
        return self.run_in(role, tcp_echo, ip, port)

    def udp(self, role: str, ip: str, port: int) -> tuple[str, str]:
        return self.run_in(role, udp_echo, ip, port)

    def close(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait()
        for executor in self.executors.values():
            executor.shutdown()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        shutil.rmtree(self.config_dir, ignore_errors=True)


def tcp_echo(ip: str, port: int, timeout: float = 2.0) -> tuple[str, str]:
    with socket.create_connection((ip, port), timeout=timeout) as conn:
        pod, seen = conn.makefile().readline().split()
    return pod, seen


def udp_echo(ip: str, port: int, timeout: float = 2.0) -> tuple[str, str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(b"hi", (ip, port))
        pod, seen = sock.recv(512).decode().split()
    return pod, seen
