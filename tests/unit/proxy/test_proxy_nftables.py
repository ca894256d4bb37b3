"""proxy/nftables.py: the transactions that turn one table into another.

The first write replaces the table; every later one touches only what differs, so that map
elements and rules of unchanged Services stay current in both nftables generations (see the
module's docstring for the packet that would otherwise find nothing). Whether the kernel accepts
these transactions and ends with the same table as a replace is tested in
tests/integration/test_proxy_network.py."""

from __future__ import annotations

from proxy import rules
from proxy.nftables import Chain, Table, VerdictMap, replace_transaction, update_transaction
from proxy_testlib import endpoint_slice, service

FACTS = rules.NodeFacts(node_name="n1", cluster_cidr="10.88.0.0/16")


def table(*svcs: tuple[str, str, list[str]]) -> Table:
    """Services (name, ClusterIP, endpoint IPs), each with one TCP port 80 → 8080."""
    services = [service(name, ip, [("", "TCP", 80)]) for name, ip, _ in svcs]
    slices = [endpoint_slice(name, [("", "TCP", 8080)], [(ep, True, "n1") for ep in eps]) for name, _, eps in svcs]
    return rules.table(rules.service_ports(services, slices), FACTS)


def test_without_a_known_table_the_table_is_replaced():
    new = table(("web", "10.96.0.20", ["10.88.1.2"]))
    assert update_transaction(None, new) == replace_transaction(new)
    assert replace_transaction(new).startswith("add table ip pykube-proxy\ndelete table ip pykube-proxy\ntable ip")


def test_the_same_table_needs_no_transaction():
    assert update_transaction(table(("web", "10.96.0.20", ["10.88.1.2"])), table(("web", "10.96.0.20", ["10.88.1.2"]))) == ""


def test_an_endpoint_change_rewrites_one_service_chain_and_swaps_endpoint_chains():
    old = table(("web", "10.96.0.20", ["10.88.1.2"]), ("db", "10.96.0.30", ["10.88.1.9"]))
    new = table(("web", "10.96.0.20", ["10.88.1.3"]), ("db", "10.96.0.30", ["10.88.1.9"]))
    lines = update_transaction(old, new).splitlines()
    spn = rules.ServicePortName("default", "web", "tcp", "")
    svc = rules.service_chain(spn)
    gone = rules.endpoint_chain(spn, rules.EndpointTarget("10.88.1.2", 8080))
    came = rules.endpoint_chain(spn, rules.EndpointTarget("10.88.1.3", 8080))
    assert lines == [
        f"add chain ip pykube-proxy {came}",
        f"flush chain ip pykube-proxy {svc}",
        f"add rule ip pykube-proxy {svc} ip daddr 10.96.0.20 tcp dport 80 ip saddr != 10.88.0.0/16 jump mark-for-masquerade",
        f"add rule ip pykube-proxy {svc} goto {came}",
        f"add rule ip pykube-proxy {came} ip saddr 10.88.1.3 jump mark-for-masquerade",
        f"add rule ip pykube-proxy {came} meta l4proto tcp dnat to 10.88.1.3:8080",
        f"flush chain ip pykube-proxy {gone}",
        f"delete chain ip pykube-proxy {gone}",
    ]  # db's chains and every map element untouched


def test_a_service_coming_and_going_adds_and_deletes_its_map_elements():
    old = table(("web", "10.96.0.20", ["10.88.1.2"]))
    both = table(("web", "10.96.0.20", ["10.88.1.2"]), ("db", "10.96.0.30", []))
    added = update_transaction(old, both)
    assert added == "add element ip pykube-proxy no-endpoint-services { 10.96.0.30 . tcp . 80 : goto reject-chain }\n"
    moved = update_transaction(both, table(("web", "10.96.0.20", ["10.88.1.2"]), ("db", "10.96.0.30", ["10.88.1.9"])))
    assert "delete element ip pykube-proxy no-endpoint-services { 10.96.0.30 . tcp . 80 }" in moved
    assert "add element ip pykube-proxy service-ips { 10.96.0.30 . tcp . 80 : goto service-" in moved
    removed = update_transaction(old, table()).splitlines()
    assert removed[0] == "delete element ip pykube-proxy service-ips { 10.96.0.20 . tcp . 80 }"
    assert [line.split()[0] for line in removed[1:]] == ["flush", "flush", "delete", "delete"]  # chains last


def test_an_element_pointing_elsewhere_is_deleted_then_added():
    def one(verdict: str) -> Table:
        return Table("ip", "t", "c", (VerdictMap("m", "inet_service", "x", (("80", verdict),)),),
                     (Chain("a", ("accept",)), Chain("b", ("drop",))))
    assert update_transaction(one("goto a"), one("goto b")).splitlines() == [
        "delete element ip t m { 80 }", "add element ip t m { 80 : goto b }"]


def test_a_new_base_chain_is_added_with_its_hook_and_a_changed_hook_means_a_replace():
    old = Table("ip", "t", "c", (), (Chain("a", ("accept",)),))
    hooked = Chain("in", ("jump a",), hook="type filter hook input priority 0; policy accept;")
    new = Table("ip", "t", "c", (), (Chain("a", ("accept",)), hooked))
    assert update_transaction(old, new).splitlines() == [
        "add chain ip t in { type filter hook input priority 0; policy accept; }", "add rule ip t in jump a"]
    rehooked = Table("ip", "t", "c", (), (Chain("a", ("accept",)), Chain("in", ("jump a",), hook="type filter hook output priority 0; policy accept;")))
    assert update_transaction(new, rehooked) == replace_transaction(rehooked)
