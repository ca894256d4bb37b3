"""bench.network's parts that need no cluster: the manifests, the page and DNS checks, the
Pod watch's bookkeeping, the probe loop and the DNS timing against servers on 127.0.0.1, the
records against the targets. Nothing here asserts a time."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import dnslib
import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import wrap
from bench.network import (
    NODES,
    QUICK,
    PodsSeen,
    Settings,
    app_deployment,
    check_http,
    dns_answer_ok,
    dns_latencies,
    dns_query,
    first_answer_from,
    interleaved,
    manifests,
    network_records,
    new_ready_pod,
    other_node,
    parse_args,
    served_by,
)
from bench.targets import TARGETS, evaluate
from protos import api_pb2, core_pb2, meta_pb2


def test_every_manifest_converts_and_the_service_targets_the_named_port():
    objects = [from_dict(m) for m in manifests()]
    kinds = [type(o).__name__ for o in objects]
    assert kinds.count("Pod") == 4 and kinds.count("Service") == 2 and kinds.count("Deployment") == 1
    app = next(o for o in objects if type(o).__name__ == "Service" and o.metadata.name == "net-bench")
    assert app.spec.ports[0].port == 80 and app.spec.ports[0].target_port.str_val == "http"
    clients = [o for o in objects if o.metadata.name.startswith("net-client-")]
    assert sorted(c.spec.node_selector["kubernetes.io/hostname"] for c in clients) == list(NODES)
    assert from_dict(app_deployment(2)).spec.replicas == 2


def test_the_page_names_its_pod_and_only_a_200_counts():
    page = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nmulti-client served by net-bench-7c9-x2 (10.88.2.5)\n"
    assert served_by(check_http(page)) == "net-bench-7c9-x2"
    assert served_by(b"HTTP/1.0 200 OK\r\n\r\n<h1>multi-worker</h1>") is None
    with pytest.raises(OSError):
        check_http(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
    with pytest.raises(OSError):
        check_http(b"")


def test_the_client_is_always_on_another_node_and_both_paths_go_first_equally_often():
    assert all(other_node(n) != n for n in NODES)
    order = interleaved(10)
    assert all(a != b for a, b in order)
    assert sum(first for first, _ in order) == 5


def test_dns_reply_checks():
    query = dnslib.DNSRecord.parse(dns_query("net-bench.default.svc.cluster.local", 7))
    assert query.header.id == 7 and str(query.q.qname) == "net-bench.default.svc.cluster.local."
    reply = query.reply()
    reply.add_answer(dnslib.RR(query.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("10.96.4.2"), ttl=5))
    assert dns_answer_ok(reply.pack(), 7, "10.96.4.2")
    assert not dns_answer_ok(reply.pack(), 8, "10.96.4.2")   # another query's reply
    assert not dns_answer_ok(reply.pack(), 7, "10.96.4.3")   # the wrong address
    nx = query.reply()
    nx.header.rcode = dnslib.RCODE.NXDOMAIN
    assert not dns_answer_ok(nx.pack(), 7, "10.96.4.2")
    assert not dns_answer_ok(b"\x00", 7, "10.96.4.2")


def pod_event(kind: str, name: str, node: str = "n2", ready: bool = False, deleting: bool = False,
              revision: str = "5") -> api_pb2.WatchEvent:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", resource_version=revision))
    pod.spec.node_name = node
    if ready:
        pod.status.conditions.add(type="Ready", status="True")
    if deleting:
        pod.metadata.deletion_timestamp.seconds = 1
    return api_pb2.WatchEvent(type=kind, object=wrap(pod))


def test_pods_seen_notes_the_first_ready_moment_the_node_and_who_is_alive():
    seen = PodsSeen()
    seen.on_event(pod_event("ADDED", "old", ready=True, revision="3"), 1.0)
    seen.on_event(pod_event("ADDED", "new", node="n3"), 2.0)
    assert new_ready_pod({"old"})(seen) is None  # not Ready yet
    seen.on_event(pod_event("MODIFIED", "new", node="n3", ready=True), 3.0)
    seen.on_event(pod_event("MODIFIED", "new", node="n3", ready=True), 4.0)  # Ready again: the first moment stays
    assert new_ready_pod({"old"})(seen) == "new"
    assert seen.ready == {"old": 1.0, "new": 3.0} and seen.node["new"] == "n3" and seen.revision == "5"
    seen.on_event(pod_event("MODIFIED", "old", ready=True, deleting=True), 5.0)
    assert seen.live == {"new"}
    seen.on_event(pod_event("DELETED", "new", node="n3", ready=True), 6.0)
    assert seen.live == set() and new_ready_pod({"old"})(seen) is None


class _Pages(http.server.BaseHTTPRequestHandler):
    """A page naming one of two Pods in turn, like a ClusterIP balancing two endpoints."""

    count = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).count += 1
        body = f"multi-client served by pod-{type(self).count % 2} (10.88.1.2)\n".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def pages():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()


def test_first_answer_from_waits_for_the_named_pod_and_gives_up_at_its_deadline(pages):
    with ThreadPoolExecutor(2) as client:
        began = time.monotonic()
        hit = first_answer_from(client, pages, "pod-1", deadline=began + 10)
        assert began <= hit <= time.monotonic()
        with pytest.raises(TimeoutError):
            first_answer_from(client, pages, "pod-7", deadline=time.monotonic() + 0.2)


def test_dns_latencies_times_each_answered_lookup_and_counts_wrong_answers():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    served = {"n": 0}

    def answer():
        while served["n"] < 60:
            data, peer = server.recvfrom(4096)
            query = dnslib.DNSRecord.parse(data)
            reply = query.reply()
            served["n"] += 1
            address = "10.96.0.99" if served["n"] == 45 else "10.96.0.20"  # one wrong answer, after warm-up
            reply.add_answer(dnslib.RR(query.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(address)))
            server.sendto(reply.pack(), peer)
    threading.Thread(target=answer, daemon=True).start()
    try:
        with ThreadPoolExecutor(1) as client:
            latencies, failures = dns_latencies(client, "net-bench.default.svc.cluster.local", "10.96.0.20", 40,
                                                server=server.getsockname())
    finally:
        server.close()
    assert len(latencies) == 39 and failures == 1
    assert all(t > 0 for t in latencies)


def test_the_records_are_the_ones_the_targets_judge():
    records = network_records([0.2, 0.3], 0, [0.002] * 10, 0, [0.0019] * 10, 0, [0.001] * 10, 0)
    by_name = {r.name: r for r in records}
    network_targets = [t for t in TARGETS if t.record.startswith("network.")]
    assert {t.record for t in network_targets} == {"network.programming_latency.p99",
                                                   "network.clusterip_vs_pod_ip.p50", "network.dns_lookup.p99"}
    conditions = {"mode": "full", "nodes": 3, "scale_ups": 30, "requests": 2000, "lookups": 1000}
    for target in network_targets:
        record = by_name[target.record]
        outcome = evaluate(target, {"name": record.name, "value": record.value, "unit": record.unit,
                                    "peer_value": record.peer_value, "conditions": conditions})
        assert outcome.met is True, (target.record, outcome.verdict)
    assert by_name["network.clusterip_vs_pod_ip.p50"].peer == "straight to the Pod IP"


def test_quick_mode_and_overrides():
    settings, out = parse_args(["--quick"])
    assert settings == QUICK and out is None
    settings, _ = parse_args(["--scale-ups", "40", "--lookups", "10"])
    assert (settings.scale_ups, settings.requests, settings.lookups) == (40, Settings.requests, 10)
    assert not settings.quick
