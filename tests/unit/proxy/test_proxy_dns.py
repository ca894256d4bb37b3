"""proxy/dns.py: the cluster DNS answers, from Services and EndpointSlices (pure)."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, DNSRecord

from proxy.dns import answer, answer_bytes, build_index
from proxy_testlib import endpoint_slice, service

DOMAIN = "cluster.local"


def index():
    services = [
        service("multi-worker", "10.96.0.20", [("http", "TCP", 8080), ("", "UDP", 9000)]),
        service("db", "None", [("pg", "TCP", 5432)], namespace="data"),
    ]
    slices = [
        endpoint_slice("db", [("pg", "TCP", 5432)],
                       [("10.88.2.5", True, "n2"), ("10.88.1.4", None, "n1"), ("10.88.3.3", False, "n3")],
                       namespace="data", hostnames={"10.88.2.5": "db-0"}),
    ]
    return build_index(services, slices, DOMAIN)


def ask(name: str, qtype: str = "A") -> DNSRecord:
    return answer(DNSRecord.question(name, qtype), index())


def records(reply: DNSRecord, section: str = "rr") -> list[tuple[str, str, str, int]]:
    return sorted((str(r.rname), QTYPE[r.rtype], str(r.rdata), r.ttl) for r in getattr(reply, section))


def test_service_name_answers_its_cluster_ip_with_ttl_5():
    reply = ask("multi-worker.default.svc.cluster.local")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
    assert records(reply) == [("multi-worker.default.svc.cluster.local.", "A", "10.96.0.20", 5)]


def test_names_are_case_insensitive_and_may_end_with_a_dot():
    assert records(ask("Multi-Worker.DEFAULT.svc.cluster.local."))[0][2] == "10.96.0.20"


def test_headless_service_answers_one_a_per_ready_endpoint():
    assert [r[2] for r in records(ask("db.data.svc.cluster.local"))] == ["10.88.1.4", "10.88.2.5"]


def test_headless_endpoint_hostnames_resolve():
    assert [r[2] for r in records(ask("db-0.db.data.svc.cluster.local"))] == ["10.88.2.5"]
    assert [r[2] for r in records(ask("10-88-1-4.db.data.svc.cluster.local"))] == ["10.88.1.4"]


def test_srv_for_a_named_port_targets_the_service():
    reply = ask("_http._tcp.multi-worker.default.svc.cluster.local", "SRV")
    assert records(reply) == [("_http._tcp.multi-worker.default.svc.cluster.local.", "SRV",
                               "0 100 8080 multi-worker.default.svc.cluster.local.", 5)]
    assert records(reply, "ar") == [("multi-worker.default.svc.cluster.local.", "A", "10.96.0.20", 5)]


def test_srv_of_a_headless_service_names_each_endpoint():
    reply = ask("_pg._tcp.db.data.svc.cluster.local", "SRV")
    assert [r[2] for r in records(reply)] == ["0 50 5432 10-88-1-4.db.data.svc.cluster.local.",
                                              "0 50 5432 db-0.db.data.svc.cluster.local."]
    assert {r[2] for r in records(reply, "ar")} == {"10.88.1.4", "10.88.2.5"}


def test_unnamed_ports_and_wrong_protocols_have_no_srv():
    assert ask("_http._udp.multi-worker.default.svc.cluster.local", "SRV").header.rcode == RCODE.NXDOMAIN


def test_unknown_names_in_the_cluster_domain_are_nxdomain_with_the_soa():
    reply = ask("nothing.default.svc.cluster.local")
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.rr == []
    assert [QTYPE[r.rtype] for r in reply.auth] == ["SOA"]


def test_an_existing_name_without_records_of_the_type_is_nodata():
    for name, qtype in [("multi-worker.default.svc.cluster.local", "AAAA"), ("default.svc.cluster.local", "A")]:
        reply = ask(name, qtype)
        assert reply.header.rcode == RCODE.NOERROR and reply.rr == [], name


def test_names_outside_the_cluster_domain_are_refused_without_recursion():
    reply = ask("example.com")
    assert reply.header.rcode == RCODE.REFUSED and reply.header.ra == 0 and reply.rr == []


def test_services_without_cluster_ip_are_not_in_dns():
    idx = build_index([service("pending", "", [("", "TCP", 80)])], [], DOMAIN)
    assert answer(DNSRecord.question("pending.default.svc.cluster.local"), idx).header.rcode == RCODE.NXDOMAIN


def test_wire_format_round_trip_and_garbage_is_ignored():
    query = DNSRecord.question("multi-worker.default.svc.cluster.local")
    reply = DNSRecord.parse(answer_bytes(query.pack(), index()))
    assert reply.header.id == query.header.id and str(reply.a.rdata) == "10.96.0.20"
    assert answer_bytes(b"\x00\x01garbage", index()) is None
    assert answer_bytes(reply.pack(), index()) is None  # a response is never answered
