"""The local cluster's network: the wire between the nodes, as a real cluster's switch is.

A real cluster's machines share a network (a switch, a VLAN); each has a NIC with an address on
it, the *node IP* its kubelet advertises as InternalIP, and pykube-proxy routes every other
node's pod CIDR via that node's IP (host-gw). The local cluster builds the same out of kernel
pieces, in namespaces of its own:

    switch namespace pykube-<cluster>-net
      br0  10.87.0.1/24  (the switch's own port: the NodePort publisher dials nodes from here)
       ├── n1 ══ veth ══ eth0 10.87.0.2/24  in pykube-<cluster>-n1
       ├── n2 ══ veth ══ eth0 10.87.0.3/24  in pykube-<cluster>-n2
       └── ...            node nI = 10.87.0.(I+1)

Every namespace stays sealed: only the connected route of 10.87.0.0/24 on each link, no
default route anywhere, and nothing in the root namespace routes into any of them (the root
namespace reaches the cluster only through sockets made inside the switch namespace, see
:mod:`cluster.nodeport_publisher`). Both ends of a link are created from inside the namespaces
(``ip -n``), so their names never meet other clusters' or the host's.

A node's link lives as long as its namespace: powering a node off (:mod:`cluster.node_power`)
deletes the namespace and the link with it; powering it on attaches the node again with the
same address, as a rebooted machine comes back with its NIC configuration. `pykube up` creates
the switch before the nodes' Podman starts; `down` (and the clean-up of a crashed run) removes
it after every node.

The address plan is pure (:func:`node_ip`, :func:`attach_commands`) and unit-tested; the rest
runs ``ip``.
"""

from __future__ import annotations

import ipaddress
import subprocess

from cluster import netns as netns_mod

NODE_NETWORK = ipaddress.ip_network("10.87.0.0/24")
SWITCH_IP = str(NODE_NETWORK.network_address + 1)  # the bridge's own address in the switch
BRIDGE = "br0"
NODE_INTERFACE = "eth0"
MAX_NODES = NODE_NETWORK.num_addresses - 3  # .0 network, .1 switch, .255 broadcast


def switch_name(cluster: str) -> str:
    """The switch namespace of a cluster: ``pykube-<cluster>-net``."""
    return netns_mod.netns_name(cluster, "net")


def node_ip(index: int) -> str:
    """Node ``n<index>``'s address on the cluster network (n1 = 10.87.0.2)."""
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} out of 1..{MAX_NODES}")
    return str(NODE_NETWORK.network_address + 1 + index)


def node_index(node: str) -> int:
    """``n3`` -> 3: local nodes are numbered from 1."""
    if not (node.startswith("n") and node[1:].isdigit()):
        raise ValueError(f"not a local node name: {node!r}")
    return int(node[1:])


def switch_commands(switch: str) -> list[list[str]]:
    """``ip`` argv that give a fresh switch namespace its bridge and address."""
    prefix = NODE_NETWORK.prefixlen
    return [
        ["ip", "-n", switch, "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "-n", switch, "addr", "add", f"{SWITCH_IP}/{prefix}", "dev", BRIDGE],
        ["ip", "-n", switch, "link", "set", BRIDGE, "up"],
    ]


def attach_commands(switch: str, node_netns: str, node: str, index: int) -> list[list[str]]:
    """``ip`` argv that plug node ``node`` (namespace ``node_netns``) into the switch: a veth
    pair whose switch end (named after the node) joins the bridge and whose node end is
    ``eth0`` with the node IP."""
    address = f"{node_ip(index)}/{NODE_NETWORK.prefixlen}"
    return [
        ["ip", "-n", switch, "link", "add", node, "type", "veth", "peer", "name", NODE_INTERFACE,
         "netns", node_netns],
        ["ip", "-n", switch, "link", "set", node, "master", BRIDGE, "up"],
        ["ip", "-n", node_netns, "addr", "add", address, "dev", NODE_INTERFACE],
        ["ip", "-n", node_netns, "link", "set", NODE_INTERFACE, "up"],
    ]


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def _delete_link(netns: str, link: str) -> None:
    """Delete ``link`` in ``netns`` if it is there. A veth whose peer's namespace was just
    deleted disappears a moment later (the kernel cleans up namespaces asynchronously), so
    "already gone" between the check and the delete is success, not an error."""
    if not _link_exists(netns, link):
        return
    result = subprocess.run(["ip", "-n", netns, "link", "delete", link], capture_output=True, text=True)
    if result.returncode != 0 and _link_exists(netns, link):
        raise RuntimeError(f"ip -n {netns} link delete {link} failed: {result.stderr.strip()}")


def _link_exists(netns: str, link: str) -> bool:
    return subprocess.run(["ip", "-n", netns, "link", "show", link], capture_output=True).returncode == 0


class ClusterNetwork:
    """The switch namespace of cluster ``cluster`` and the nodes' links to it."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.switch = switch_name(cluster)
        self.switch_path = netns_mod.netns_path(self.switch)

    def exists(self) -> bool:
        return netns_mod.netns_exists(self.switch)

    def create(self) -> None:
        """The switch namespace with its bridge (an existing one, left by a crashed run, is
        reused after the same no-default-route check the nodes get)."""
        netns_mod.create_netns(self.switch)
        if not _link_exists(self.switch, BRIDGE):
            for argv in switch_commands(self.switch):
                _run(argv)

    def attach(self, node: str) -> str:
        """Plug node ``node`` (its namespace must exist) into the switch; returns its IP.
        A stale link of the node (from before a power cut or a crash) is replaced."""
        node_netns = netns_mod.netns_name(self.cluster, node)
        _delete_link(self.switch, node)
        _delete_link(node_netns, NODE_INTERFACE)
        for argv in attach_commands(self.switch, node_netns, node, node_index(node)):
            _run(argv)
        return node_ip(node_index(node))

    def remove(self) -> None:
        """Delete the switch namespace (its bridge and the switch ends of the links go with it,
        and so do the nodes' eth0 ends)."""
        netns_mod.delete_netns(self.switch)
