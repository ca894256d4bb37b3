"""host-gw routing, as flannel's host-gw backend: every other node's Pod CIDR via its node IP.

The nodes share one L2 network (the local cluster's bridge, the lab's private network), so a
Pod on n1 reaches a Pod on n2 by a plain route on n1: ``10.88.2.0/24 via <n2's InternalIP>``;
no encapsulation. This module is pure: (Nodes, my node name) → the routes wanted. The
programmer (proxy/program.py) applies them with ``ip route replace ... proto 112`` and removes
routes of that protocol number that are no longer wanted, so a route of a deleted node (or one
whose address changed) goes away, and routes pykube-proxy did not make are never touched.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from protos import core_pb2

# The routing protocol number marking pykube-proxy's routes (``ip route ... proto 112``): an
# unassigned number (/etc/iproute2/rt_protos), the way bird or flannel tag theirs.
ROUTE_PROTO = 112


@dataclass(frozen=True, order=True)
class Route:
    """``<destination> via <gateway>``, or ``<destination> dev <device>`` when gateway is empty."""

    destination: str
    gateway: str = ""
    device: str = ""

    def args(self) -> list[str]:
        """The ``ip route replace`` arguments (without the protocol)."""
        if self.gateway:
            return [self.destination, "via", self.gateway]
        return [self.destination, "dev", self.device]


def internal_ip(node: core_pb2.Node) -> str:
    for address in node.status.addresses:
        if address.type == "InternalIP":
            return address.address
    return ""


def pod_cidr(node: core_pb2.Node) -> str:
    """spec.podCIDR, or the first IPv4 one of spec.podCIDRs."""
    candidates = [node.spec.pod_cidr, *node.spec.pod_cidrs]
    for cidr in candidates:
        try:
            if cidr and ipaddress.ip_network(cidr, strict=False).version == 4:
                return str(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return ""


def host_gw_routes(nodes: list[core_pb2.Node], my_node: str) -> list[Route]:
    """One route per other node that has both a pod CIDR and an InternalIP, sorted."""
    routes = set()
    for node in nodes:
        if node.metadata.name == my_node:
            continue
        cidr, gateway = pod_cidr(node), internal_ip(node)
        if cidr and gateway:
            routes.add(Route(cidr, gateway))
    return sorted(routes)
