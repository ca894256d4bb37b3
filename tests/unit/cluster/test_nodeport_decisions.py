"""The NodePort publisher's decisions: which host ports to open, which nodes to dial (pure)."""

from cluster.nodeport_publisher import dial_order, listener_changes, node_ips, wanted_ports
from protos import core_pb2, meta_pb2


def service(name: str, type_: str, *ports: tuple[int, str]) -> core_pb2.Service:
    s = core_pb2.Service(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                         spec=core_pb2.ServiceSpec(type=type_))
    for node_port, protocol in ports:
        s.spec.ports.add(port=80, node_port=node_port, protocol=protocol)
    return s


def node(name: str, ready: str, *addresses: tuple[str, str]) -> core_pb2.Node:
    n = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name))
    n.status.conditions.add(type="Ready", status=ready)
    for type_, address in addresses:
        n.status.addresses.add(type=type_, address=address)
    return n


def test_every_tcp_node_port_is_wanted():
    services = [service("web", "NodePort", (31515, "TCP"), (31516, ""), (31517, "UDP")),
                service("db", "ClusterIP", (0, "TCP")),
                service("lb", "LoadBalancer", (30080, "TCP"))]
    assert wanted_ports(services) == {31515: "default/web", 31516: "default/web", 30080: "default/lb"}


def test_listener_changes():
    assert listener_changes({31515: "default/web", 30080: "default/lb"}, [30080, 30999]) == ([31515], [30999])


def test_ready_nodes_on_the_cluster_network_only():
    nodes = [node("n2", "True", ("InternalIP", "10.87.0.3"), ("Hostname", "localhost")),
             node("n1", "True", ("Hostname", "localhost"), ("InternalIP", "10.87.0.2")),
             node("n3", "False", ("InternalIP", "10.87.0.4")),
             node("hollow-1", "True", ("InternalIP", "127.0.0.1"))]
    assert node_ips(nodes) == ["10.87.0.2", "10.87.0.3"]


def test_connections_start_at_the_next_node_and_try_them_all():
    ips = ["10.87.0.2", "10.87.0.3", "10.87.0.4"]
    assert dial_order(ips, 0) == ips
    assert dial_order(ips, 4) == ["10.87.0.3", "10.87.0.4", "10.87.0.2"]
    assert dial_order([], 7) == []
