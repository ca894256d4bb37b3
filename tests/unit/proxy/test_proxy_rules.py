"""proxy/rules.py: the nftables ruleset as a pure function of Services + EndpointSlices.

Golden tests: each scenario's complete table is compared with a text fixture in golden/
(regenerate after a deliberate change with PYKUBE_UPDATE_GOLDEN=1 and review the diff). The
fixtures are also what the integration test loads into a real nftables, so they are known to
be valid nft syntax."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proxy import rules
from proxy_testlib import endpoint_slice, service

GOLDEN = Path(__file__).parent / "golden"
FACTS = rules.NodeFacts(node_name="n1", cluster_cidr="10.88.0.0/16")


def scenario_mixed():
    """A ClusterIP Service with two endpoints (one unready one left out), a named UDP+TCP pair,
    a NodePort Service, a Service without endpoints, a headless one, one not yet allocated."""
    services = [
        service("multi-worker", "10.96.0.20", [("", "TCP", 8080)]),
        service("dns", "10.96.0.53", [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)], namespace="kube-system"),
        service("multi-client", "10.96.0.30", [("http", "TCP", 3050)], type="NodePort",
                node_ports={"http": 31515}),
        service("empty", "10.96.0.40", [("", "TCP", 80)], type="NodePort", node_ports={"": 30080}),
        service("headless", "None", [("web", "TCP", 80)]),
        service("pending", "", [("", "TCP", 80)]),
    ]
    slices = [
        endpoint_slice("multi-worker", [("", "TCP", 8080)],
                       [("10.88.2.5", True, "n2"), ("10.88.1.7", None, "n1"), ("10.88.3.9", False, "n3")]),
        endpoint_slice("dns", [("dns", "UDP", 5353), ("dns-tcp", "TCP", 5353)],
                       [("10.88.1.3", True, "n1")], namespace="kube-system"),
        endpoint_slice("multi-client", [("http", "TCP", 3000)],
                       [("10.88.2.6", True, "n2"), ("10.88.3.6", True, "n3")]),
        endpoint_slice("headless", [("web", "TCP", 80)], [("10.88.2.8", True, "n2")]),
    ]
    return services, slices


def scenario_local_policy():
    """externalTrafficPolicy Local: the NodePort goes to this node's endpoints only (none: drop)."""
    services = [
        service("local", "10.96.0.50", [("", "TCP", 80)], type="NodePort", node_ports={"": 30050},
                external_traffic_policy="Local"),
        service("elsewhere", "10.96.0.51", [("", "TCP", 80)], type="NodePort", node_ports={"": 30051},
                external_traffic_policy="Local"),
    ]
    slices = [
        endpoint_slice("local", [("", "TCP", 80)], [("10.88.1.4", True, "n1"), ("10.88.2.4", True, "n2")]),
        endpoint_slice("elsewhere", [("", "TCP", 80)], [("10.88.2.5", True, "n2")]),
    ]
    return services, slices


SCENARIOS = {"mixed": scenario_mixed, "local_policy": scenario_local_policy, "empty": lambda: ([], [])}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ruleset_matches_golden(name):
    text = rules.ruleset(*SCENARIOS[name](), FACTS)
    path = GOLDEN / f"{name}.nft"
    if os.environ.get("PYKUBE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_output_does_not_depend_on_input_order():
    services, slices = scenario_mixed()
    assert rules.ruleset(services[::-1], slices[::-1], FACTS) == rules.ruleset(services, slices, FACTS)


def test_endpoint_in_two_slices_counts_once():
    services = [service("web", "10.96.0.20", [("", "TCP", 80)])]
    slices = [endpoint_slice("web", [("", "TCP", 80)], [("10.88.1.2", True, "n1")], suffix=s)
              for s in ("aaaaa", "bbbbb")]
    (port,) = rules.service_ports(services, slices)
    assert port.endpoints == [rules.EndpointTarget("10.88.1.2", 80, "n1")]


def test_slices_of_another_namespace_or_port_are_not_endpoints():
    services = [service("web", "10.96.0.20", [("http", "TCP", 80)])]
    slices = [endpoint_slice("web", [("http", "TCP", 80)], [("10.88.1.2", True, "n1")], namespace="other"),
              endpoint_slice("web", [("metrics", "TCP", 9090)], [("10.88.1.3", True, "n1")]),
              endpoint_slice("web", [("http", "UDP", 80)], [("10.88.1.4", True, "n1")])]
    (port,) = rules.service_ports(services, slices)
    assert port.endpoints == []


def test_chain_names_follow_kube_proxy():
    spn = rules.ServicePortName("ns1", "svc1", "tcp", "p80")
    name = rules.service_chain(spn)
    assert name.startswith("service-") and name.endswith("-ns1/svc1/tcp/p80")
    assert len(name.split("-", 2)[1]) == 8
    ep = rules.endpoint_chain(spn, rules.EndpointTarget("10.180.0.1", 80))
    assert ep.endswith("-ns1/svc1/tcp/p80__10.180.0.1/80")
    assert rules.service_chain(rules.ServicePortName("ns1", "svc1", "udp", "p80")) != name


def test_even_balancing_takes_endpoint_i_with_probability_one_in_n_minus_i():
    spn = rules.ServicePortName("default", "web", "tcp", "")
    eps = [rules.EndpointTarget(f"10.88.1.{i}", 80) for i in (2, 3, 4)]
    assert rules._spread(eps, spn) == (f"numgen random mod 3 0 goto {rules.endpoint_chain(spn, eps[0])}",
                                       f"numgen random mod 2 0 goto {rules.endpoint_chain(spn, eps[1])}",
                                       f"goto {rules.endpoint_chain(spn, eps[2])}")
    assert rules._spread(eps[:1], spn) == (f"goto {rules.endpoint_chain(spn, eps[0])}",)


def udp_ports(endpoints_by_service: dict[str, list[str]], node_port: int = 0):
    services = [service(name, f"10.96.0.{i + 10}", [("dns", "UDP", 53)], type="NodePort" if node_port else "ClusterIP",
                        node_ports={"dns": node_port} if node_port else None)
                for i, name in enumerate(sorted(endpoints_by_service))]
    slices = [endpoint_slice(name, [("dns", "UDP", 5353)], [(ip, True, "n1") for ip in ips])
              for name, ips in endpoints_by_service.items()]
    return rules.service_ports(services, slices)


def test_udp_flows_to_a_removed_endpoint_are_stale():
    before = udp_ports({"a": ["10.88.1.2", "10.88.1.3"]}, node_port=30053)
    after = udp_ports({"a": ["10.88.1.3"]}, node_port=30053)
    assert rules.stale_udp_flows(before, after) == [rules.StaleFlow("", 30053, "10.88.1.2"),
                                                    rules.StaleFlow("10.96.0.10", 53, "10.88.1.2")]


def test_udp_flows_to_a_service_port_that_gets_its_first_endpoint_are_stale():
    assert rules.stale_udp_flows(udp_ports({"a": []}), udp_ports({"a": ["10.88.1.2"]})) == [
        rules.StaleFlow("10.96.0.10", 53)]
    assert rules.stale_udp_flows([], udp_ports({"a": ["10.88.1.2"]})) == [rules.StaleFlow("10.96.0.10", 53)]


def test_udp_flows_of_a_deleted_service_are_stale_and_tcp_is_left_alone():
    assert rules.stale_udp_flows(udp_ports({"a": ["10.88.1.2"]}), []) == [
        rules.StaleFlow("10.96.0.10", 53, "10.88.1.2")]
    tcp = rules.service_ports([service("t", "10.96.0.9", [("", "TCP", 80)])],
                              [endpoint_slice("t", [("", "TCP", 80)], [("10.88.1.2", True, "n1")])])
    assert rules.stale_udp_flows(tcp, []) == []
    unchanged = udp_ports({"a": ["10.88.1.2"]})
    assert rules.stale_udp_flows(unchanged, unchanged) == []


def test_clashing_addresses_do_not_break_the_transaction():
    """Two Services on one ClusterIP:port or one NodePort (the allocators prevent it): the
    first in order keeps it, the table still loads."""
    services = [service("a", "10.96.0.20", [("", "TCP", 80)], type="NodePort", node_ports={"": 30001}),
                service("b", "10.96.0.20", [("", "TCP", 80)]),
                service("c", "10.96.0.21", [("", "TCP", 80)], type="NodePort", node_ports={"": 30001})]
    text = rules.ruleset(services, [], FACTS)
    assert text.count("10.96.0.20 . tcp . 80") == 1 and text.count("tcp . 30001") == 1
    assert "10.96.0.21 . tcp . 80" in text
