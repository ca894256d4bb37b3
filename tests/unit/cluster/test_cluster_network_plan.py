"""The local cluster network's address plan and the ``ip`` commands that build it (pure)."""

import ipaddress

import pytest

from cluster.cluster_network import (
    MAX_NODES,
    NODE_NETWORK,
    SWITCH_IP,
    attach_commands,
    node_index,
    node_ip,
    switch_commands,
    switch_name,
)
from cluster.components import component_of_pid_file, module_of
from cluster.local_cluster import MAX_NODES as CLUSTER_MAX_NODES


def test_address_plan():
    assert str(NODE_NETWORK) == "10.87.0.0/24" and SWITCH_IP == "10.87.0.1"
    assert [node_ip(i) for i in (1, 2, 3)] == ["10.87.0.2", "10.87.0.3", "10.87.0.4"]
    ips = {node_ip(i) for i in range(1, CLUSTER_MAX_NODES + 1)}
    assert len(ips) == CLUSTER_MAX_NODES <= MAX_NODES
    assert all(ipaddress.ip_address(ip) in NODE_NETWORK for ip in ips) and SWITCH_IP not in ips
    assert str(NODE_NETWORK.broadcast_address) not in ips
    with pytest.raises(ValueError):
        node_ip(0)
    assert node_index("n12") == 12
    with pytest.raises(ValueError):
        node_index("hollow-1")


def test_the_switch_is_a_bridge_with_the_first_address_and_no_route_out():
    assert switch_name("e2e") == "pykube-e2e-net"
    commands = switch_commands("pykube-e2e-net")
    assert ["ip", "-n", "pykube-e2e-net", "addr", "add", "10.87.0.1/24", "dev", "br0"] in commands
    assert not any("route" in argv for argv in commands)


def test_a_node_is_plugged_in_by_a_veth_pair_made_inside_the_namespaces():
    commands = attach_commands("pykube-e2e-net", "pykube-e2e-n2", "n2", 2)
    assert commands[0] == ["ip", "-n", "pykube-e2e-net", "link", "add", "n2", "type", "veth",
                           "peer", "name", "eth0", "netns", "pykube-e2e-n2"]
    assert ["ip", "-n", "pykube-e2e-net", "link", "set", "n2", "master", "br0", "up"] in commands
    assert ["ip", "-n", "pykube-e2e-n2", "addr", "add", "10.87.0.3/24", "dev", "eth0"] in commands
    assert all(argv[:3] in (["ip", "-n", "pykube-e2e-net"], ["ip", "-n", "pykube-e2e-n2"]) for argv in commands)
    assert not any("route" in argv for argv in commands)


def test_pid_files_name_their_components():
    assert component_of_pid_file("n1-kubelet") == "n1/kubelet"
    assert component_of_pid_file("n10-proxy") == "n10/proxy"
    assert component_of_pid_file("nodeports") == "nodeports"
    assert module_of("n1/proxy") == "proxy.main" and module_of("nodeports") == "cluster.nodeport_publisher"
    assert module_of("registry") is None
