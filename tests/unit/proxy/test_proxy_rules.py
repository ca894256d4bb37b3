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


def test_transaction_replaces_the_table_atomically():
    text = rules.transaction(rules.ruleset([], [], FACTS))
    assert text.splitlines()[:3] == ["add table ip pykube-proxy", "delete table ip pykube-proxy",
                                     "table ip pykube-proxy {"]
