"""proxy/routes.py: host-gw routes from the Nodes."""

from __future__ import annotations

from proxy.routes import Route, host_gw_routes
from proxy_testlib import node


def test_a_route_to_every_other_node_pod_cidr_via_its_internal_ip():
    nodes = [node("n1", "10.88.1.0/24", "10.87.0.2"), node("n3", "10.88.3.0/24", "10.87.0.4"),
             node("n2", "10.88.2.0/24", "10.87.0.3")]
    assert host_gw_routes(nodes, "n1") == [Route("10.88.2.0/24", "10.87.0.3"),
                                           Route("10.88.3.0/24", "10.87.0.4")]


def test_nodes_without_pod_cidr_or_address_get_no_route():
    nodes = [node("n2", "", "10.87.0.3"), node("n3", "10.88.3.0/24", ""), node("n4", "10.88.4.0/24", "10.87.0.5")]
    assert host_gw_routes(nodes, "n1") == [Route("10.88.4.0/24", "10.87.0.5")]


def test_pod_cidrs_serve_when_pod_cidr_is_unset():
    n = node("n2", "", "10.87.0.3")
    n.spec.pod_cidrs.extend(["fd00::/64", "10.88.2.0/24"])
    assert host_gw_routes([n], "n1") == [Route("10.88.2.0/24", "10.87.0.3")]


def test_route_arguments():
    assert Route("10.88.2.0/24", "10.87.0.3").args() == ["10.88.2.0/24", "via", "10.87.0.3"]
    assert Route("10.96.0.0/16", device="pykube-dns").args() == ["10.96.0.0/16", "dev", "pykube-dns"]
