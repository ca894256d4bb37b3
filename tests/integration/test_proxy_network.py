"""pykube-proxy's programmer against a real kernel: nftables, routes and the DNS server in a
two-node lab of network namespaces (tests/integration/proxy_netlab.py), with real traffic."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from component_base.netns import socket_in_netns
from proxy import rules
from proxy.dns import DnsServer, build_index
from proxy.program import DNS_INTERFACE, Programmer
from proxy.routes import ROUTE_PROTO, Route, host_gw_routes
from proxy_netlab import ECHO_PORT, NETAVARK, NetLab, sh

# The Service/EndpointSlice/Node builders of the proxy's unit tests (as e2e borrows integration's).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "proxy"))
from proxy_testlib import endpoint_slice, node, service  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("nft") is None or not NETAVARK,
                                reason="needs nftables and netavark (scripts/bootstrap.sh as root)")

FACTS1 = rules.NodeFacts("n1", "10.88.0.0/16")
WEB, NODE_PORT, CROSS, EMPTY = "10.96.0.20", 30080, "10.96.0.21", "10.96.0.22"
NODES = [node("n1", "10.88.1.0/24", "10.87.0.2"), node("n2", "10.88.2.0/24", "10.87.0.3")]


def state(web_pods=("10.88.1.2", "10.88.1.3")):
    """web: both pods of node1 (TCP+UDP, NodePort); cross: the pod of node2; empty: none."""
    services = [service("web", WEB, [("http", "TCP", 80), ("echo", "UDP", 80)], type="NodePort",
                        node_ports={"http": NODE_PORT}),
                service("cross", CROSS, [("", "TCP", 80)]),
                service("empty", EMPTY, [("", "TCP", 80)])]
    slices = [endpoint_slice("web", [("http", "TCP", ECHO_PORT), ("echo", "UDP", ECHO_PORT)],
                             [(ip, True, "n1") for ip in web_pods]),
              endpoint_slice("cross", [("", "TCP", ECHO_PORT)], [("10.88.2.2", True, "n2")])]
    return services, slices


WRITTEN: dict[str, rules.Table] = {}  # netns path -> the table last written there, as a proxy keeps it


def write(lab: NetLab, role: str, table: rules.Table) -> None:
    """As the proxy does: the first write replaces the table, later ones change only what differs."""
    path = lab.path(role)
    asyncio.run(Programmer(path).apply_rules(WRITTEN.get(path), table))
    WRITTEN[path] = table


def program(lab: NetLab, services, slices) -> None:
    write(lab, "node1", rules.table(rules.service_ports(services, slices), FACTS1))


@pytest.fixture(scope="module")
def lab():
    lab = NetLab().build()
    try:
        async def set_up() -> None:
            for name, node_name in (("node1", "n1"), ("node2", "n2")):
                programmer = Programmer(lab.path(name))
                fixed = await programmer.setup_node("10.96.0.10", "10.96.0.0/16")
                assert await programmer.apply_routes(fixed + host_gw_routes(NODES, node_name)) == []
        asyncio.run(set_up())
        for name, node_name in (("node1", "n1"), ("node2", "n2")):
            WRITTEN.pop(lab.path(name), None)
            write(lab, name, rules.table(rules.service_ports(*state()), rules.NodeFacts(node_name, "10.88.0.0/16")))
        yield lab
    finally:
        lab.close()


def test_cluster_ip_spreads_evenly_over_the_endpoints_from_a_client_and_the_node(lab):
    counts = {"pod1": 0, "pod2": 0}
    for _ in range(200):
        pod, seen = lab.tcp("client", WEB, 80)
        counts[pod] += 1
        assert seen == "10.88.1.1"  # from outside the cluster CIDR: masqueraded
    assert min(counts.values()) >= 60, counts  # binomial(200, 1/2): below 60 has p < 1e-8
    from_node = {lab.tcp("node1", WEB, 80)[0] for _ in range(40)}
    assert from_node == {"pod1", "pod2"}


def test_udp_cluster_ip(lab):
    assert {lab.udp("client", WEB, 80)[0] for _ in range(40)} == {"pod1", "pod2"}


def test_node_port_on_the_node_ip(lab):
    assert {lab.tcp("client", "10.87.0.2", NODE_PORT)[0] for _ in range(40)} == {"pod1", "pod2"}


def test_cluster_ip_with_endpoint_on_another_node_via_host_gw(lab):
    assert lab.tcp("client", CROSS, 80)[0] == "pod3"
    assert lab.tcp("pod1", CROSS, 80) == ("pod3", "10.88.1.2")  # pod to pod: source kept


def test_pod_to_pod_across_nodes_keeps_the_source_despite_netavark_masquerade(lab):
    """Without the table, node2's netavark rule would show 10.87.0.3 (node2's address) to pod2."""
    assert lab.tcp("pod1", "10.88.2.2", ECHO_PORT) == ("pod3", "10.88.1.2")
    assert lab.tcp("pod3", "10.88.1.3", ECHO_PORT) == ("pod2", "10.88.2.2")


def test_hairpin_is_masqueraded(lab):
    """A Pod reaching itself through its Service: its bridge port must be in hairpin mode (the
    proxy sets it) and the packet masqueraded (else the Pod answers itself directly)."""
    try:
        program(lab, *state(web_pods=("10.88.1.2",)))
        asyncio.run(Programmer(lab.path("node1")).hairpin_bridge_ports())
        assert lab.tcp("pod1", WEB, 80) == ("pod1", "10.88.1.1")
    finally:
        program(lab, *state())


def test_service_without_endpoints_is_rejected_at_once(lab):
    with pytest.raises(ConnectionRefusedError):
        lab.tcp("client", EMPTY, 80)
    with pytest.raises(ConnectionRefusedError):
        lab.tcp("node1", EMPTY, 80)


def test_endpoint_change_is_atomic_no_connection_fails(lab):
    """While the endpoints flip between pod1 and pod2, every connection is answered."""
    failures, answers, stop = [], set(), threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                answers.add(lab.tcp("client", WEB, 80)[0])
            except OSError as err:
                failures.append(err)
    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        for i in range(20):
            program(lab, *state(web_pods=(("10.88.1.2",), ("10.88.1.3",))[i % 2]))
        program(lab, *state(web_pods=("10.88.1.3",)))
        assert {lab.tcp("client", WEB, 80)[0] for _ in range(20)} == {"pod2"}
    finally:
        stop.set()
        worker.join()
        program(lab, *state())
    assert failures == [] and answers == {"pod1", "pod2"}


def test_udp_flow_to_a_removed_endpoint_moves_on_once_its_conntrack_entry_goes(lab):
    sock = socket_in_netns(lab.path("client"), socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.bind(("10.87.0.100", 0))  # one source port: one UDP flow

    def ask() -> str:
        sock.sendto(b"hi", (WEB, 80))
        return sock.recv(512).decode().split()[0]
    programmer = Programmer(lab.path("node1"))
    try:
        first = ask()
        assert {ask() for _ in range(5)} == {first}
        keep = {"pod1": "10.88.1.3", "pod2": "10.88.1.2"}[first]
        before, after = rules.service_ports(*state()), rules.service_ports(*state(web_pods=(keep,)))
        write(lab, "node1", rules.table(after, FACTS1))
        assert ask() == first  # the rules alone do not move an existing UDP flow
        asyncio.run(programmer.clear_udp_flows(rules.stale_udp_flows(before, after)))
        assert ask() != first
    finally:
        sock.close()
        program(lab, *state())


def test_a_restart_leaves_no_stale_rule(lab):
    ns = lab.ns("node1")
    sh("nft", "add", "chain", "ip", "pykube-proxy", "stale-chain", netns=ns)
    services, slices = state()
    WRITTEN.pop(lab.path("node1"))  # a restarted proxy knows nothing of what the kernel holds
    program(lab, services[:1], slices[:1])  # its first write, with "cross" and "empty" gone
    table = sh("nft", "list", "table", "ip", "pykube-proxy", netns=ns)
    assert "stale-chain" not in table and CROSS not in table and EMPTY not in table
    assert WEB in table
    program(lab, *state())


def test_routes_of_the_proxy_are_replaced_and_others_kept(lab):
    ns = lab.ns("node1")
    sh("ip", "route", "add", "10.50.0.0/24", "via", "10.87.0.3", netns=ns)  # somebody else's
    programmer = Programmer(lab.path("node1"))
    wanted = [Route("10.96.0.0/16", device=DNS_INTERFACE), Route("10.88.9.0/24", "10.87.0.3")]
    assert asyncio.run(programmer.apply_routes(wanted)) == []
    shown = sh("ip", "-4", "route", "show", "proto", str(ROUTE_PROTO), netns=ns)
    assert "10.88.9.0/24 via 10.87.0.3" in shown and "10.88.2.0/24" not in shown
    errors = asyncio.run(programmer.apply_routes(wanted + [Route("10.88.8.0/24", "192.0.2.1")]))
    assert len(errors) == 1 and "10.88.8.0/24" in errors[0]  # unreachable gateway: reported, others kept
    asyncio.run(programmer.apply_routes([Route("10.96.0.0/16", device=DNS_INTERFACE)]
                                        + host_gw_routes(NODES, "n1")))
    assert "10.50.0.0/24 via 10.87.0.3" in sh("ip", "-4", "route", "show", netns=ns)
    assert sh("sysctl", "-n", "net.ipv4.ip_forward", netns=ns).strip() == "1"


def dns_query(lab: NetLab, name: str, qtype: str, tcp: bool) -> DNSRecord:
    def ask() -> DNSRecord:
        query = DNSRecord.question(name, qtype)
        if tcp:
            data = query.send("10.96.0.10", 53, tcp=True, timeout=2)
        else:
            data = query.send("10.96.0.10", 53, timeout=2)
        return DNSRecord.parse(data)
    return lab.run_in("client", ask)


def test_dns_over_udp_and_tcp_in_the_namespace(lab):
    services, slices = state()
    index = build_index(services, slices, "cluster.local")

    async def scenario() -> list[DNSRecord]:
        server = DnsServer("10.96.0.10", 53, lambda: index, lab.path("node1"))
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            return [await loop.run_in_executor(None, dns_query, lab, name, "A", tcp)
                    for name, tcp in (("web.default.svc.cluster.local", False),
                                      ("web.default.svc.cluster.local", True),
                                      ("nope.default.svc.cluster.local", False),
                                      ("nope.default.svc.cluster.local", True))]
        finally:
            await server.stop()
    udp_hit, tcp_hit, udp_miss, tcp_miss = asyncio.run(scenario())
    for reply in (udp_hit, tcp_hit):
        assert [(QTYPE[r.rtype], str(r.rdata)) for r in reply.rr] == [("A", WEB)]
    assert udp_miss.header.rcode == tcp_miss.header.rcode == RCODE.NXDOMAIN


def test_dns_socket_belongs_to_the_node_namespace(lab):
    sock = socket_in_netns(lab.path("node1"), socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("10.96.0.10", 0))  # the dummy's address exists only there
    finally:
        sock.close()


def canonical(listing: str) -> list[str]:
    """nft's listing up to order: chains are listed in the order they were made, and map
    elements in the order of the map's hash."""
    blocks = []
    for block in listing.strip().removesuffix("}").rstrip().split("\n\n"):
        if "elements = {" in block:
            head, _, rest = block.partition("elements = {")
            items, _, tail = rest.partition("}")
            block = head + "elements = {" + ",".join(sorted(i.strip() for i in items.split(","))) + "}" + tail
        blocks.append(block)
    return sorted(blocks)


def test_a_series_of_updates_leaves_the_table_a_replace_would(lab):
    """Services and endpoints come and go through update transactions (the kernel accepts each);
    after each, nft's listing is the one a full replace of the same table gives (up to order)."""
    programmer = Programmer(lab.path("node1"))
    extra = service("late", "10.96.0.23", [("", "TCP", 81)], type="NodePort", node_ports={"": 30081})
    extra_slice = endpoint_slice("late", [("", "TCP", ECHO_PORT)], [("10.88.1.3", True, "n1")])
    services, slices = state()
    steps = [state(web_pods=()), state(web_pods=("10.88.1.3",)), (services + [extra], slices),
             (services + [extra], slices + [extra_slice]), (services[1:], slices[1:]), state()]
    try:
        for step in steps:
            program(lab, *step)
            after_update = asyncio.run(programmer.listing())
            asyncio.run(programmer.apply_rules(None, WRITTEN[lab.path("node1")]))
            assert canonical(asyncio.run(programmer.listing())) == canonical(after_update)
        assert lab.tcp("client", WEB, 80)[0] in {"pod1", "pod2"}
    finally:
        program(lab, *state())
