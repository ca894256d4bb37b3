"""Which Node address the apiserver dials a kubelet at: Kubernetes' preferred address types."""

import pytest

from apiserver.logs_proxy import KubeletUnreachable, kubelet_address, parse_address_types
from protos import core_pb2


def node(*addresses: tuple[str, str], port: int = 10250) -> core_pb2.Node:
    n = core_pb2.Node()
    n.metadata.name = "n1"
    for type_, address in addresses:
        n.status.addresses.add(type=type_, address=address)
    n.status.daemon_endpoints.kubelet_endpoint.port = port
    return n


def test_a_local_kubelet_is_reached_by_its_loopback_hostname_not_its_node_ip() -> None:
    local = node(("InternalIP", "10.87.0.2"), ("Hostname", "localhost"))
    assert kubelet_address(local, resolvable=lambda name: name == "localhost") == "localhost:10250"


def test_a_hostname_that_does_not_resolve_gives_way_to_the_internal_ip() -> None:
    lab = node(("InternalIP", "192.168.77.11"), ("Hostname", "worker1"))
    assert kubelet_address(lab, resolvable=lambda name: False) == "192.168.77.11:10250"


def test_the_order_is_configurable() -> None:
    local = node(("InternalIP", "10.87.0.2"), ("Hostname", "localhost"))
    order = parse_address_types("InternalIP,Hostname")
    assert kubelet_address(local, order, resolvable=lambda name: True) == "10.87.0.2:10250"


def test_no_usable_address() -> None:
    with pytest.raises(KubeletUnreachable, match="no usable address"):
        kubelet_address(node(("Hostname", "worker1")), resolvable=lambda name: False)


def test_unknown_address_type_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid --kubelet-preferred-address-types 'InternalIP,Bogus'"):
        parse_address_types("InternalIP,Bogus")
