"""The local cluster network on real namespaces: node namespaces reach each other's node IPs
through the switch's bridge, no namespace gets a default route, the root namespace gets no
route into them, and removing the switch (and the nodes) leaves nothing behind."""

from __future__ import annotations

import os
import subprocess

import pytest

from cluster import netns as netns_mod
from cluster.cluster_network import SWITCH_IP, ClusterNetwork, node_ip
from component_base.netns import listen_in_netns, socket_in_netns


@pytest.fixture
def network():
    name = f"cn{os.getpid()}"  # unique: other runs make namespaces at the same time
    network = ClusterNetwork(name)
    nodes = {node: netns_mod.netns_name(name, node) for node in ("n1", "n2")}
    try:
        network.create()
        for node, namespace in nodes.items():
            netns_mod.create_netns(namespace)
            network.attach(node)
        yield network, nodes
    finally:
        for namespace in nodes.values():
            netns_mod.delete_netns(namespace)
        network.remove()


def connects(from_netns: str, to_netns: str, ip: str) -> bytes:
    server = listen_in_netns(netns_mod.netns_path(to_netns), ip, 0)
    port = server.getsockname()[1]
    client = socket_in_netns(netns_mod.netns_path(from_netns))
    try:
        client.settimeout(5)
        client.connect((ip, port))
        conn, _ = server.accept()
        conn.sendall(b"hello")
        data = client.recv(5)
        conn.close()
        return data
    finally:
        client.close()
        server.close()


def test_nodes_reach_each_other_and_nothing_else(network):
    net, nodes = network
    assert connects(nodes["n1"], nodes["n2"], node_ip(2)) == b"hello"
    assert connects(nodes["n2"], nodes["n1"], node_ip(1)) == b"hello"
    assert connects(net.switch, nodes["n1"], node_ip(1)) == b"hello"  # the publisher's way in
    assert connects(nodes["n2"], net.switch, SWITCH_IP) == b"hello"
    for namespace in [net.switch, *nodes.values()]:
        assert not netns_mod.has_default_route(namespace), namespace
    root_routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                                 text=True, check=True).stdout
    assert "10.87.0." not in root_routes


def test_a_node_reattached_after_a_power_cut_keeps_its_address(network):
    net, nodes = network
    netns_mod.delete_netns(nodes["n2"])  # its eth0 and the switch's end go with it
    netns_mod.create_netns(nodes["n2"])
    assert net.attach("n2") == node_ip(2)
    assert connects(nodes["n1"], nodes["n2"], node_ip(2)) == b"hello"


def test_remove_leaves_nothing(network):
    net, nodes = network
    for namespace in nodes.values():
        netns_mod.delete_netns(namespace)
    net.remove()
    assert not net.exists()
    assert not any(netns_mod.netns_exists(n) for n in nodes.values())
