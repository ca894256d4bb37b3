"""Network benchmark on `pykube up --nodes 3`: how fast a Service learns a new Pod, what the
ClusterIP costs a request, how fast the cluster DNS answers.

    sudo .venv/bin/python -m bench.network [--scale-ups N] [--requests R] [--lookups L] [--quick] [--out DIR]

Every request and lookup is made from inside a *client Pod's* network namespace: one busybox
Pod per node (``net-client-nI``, pinned with ``nodeSelector kubernetes.io/hostname``). This
process finds the Pod's container PID through its node's Podman and runs its client threads in
``/proc/PID/ns/net`` (:func:`component_base.netns.netns_executor`), so a packet takes exactly a
Pod's path (the Pod's eth0, its node's bridge, the node's nftables and routes, the cluster
network) while the clock is read around the socket calls alone: no process start-up, no exec
channel, no shell in the figures. The same client code runs for both sides of a comparison.

1. network programming latency   Deployment ``net-bench`` (multi-client: its page names the Pod
                                 that served it; a readiness probe on its port) behind the
                                 ClusterIP Service ``net-bench`` (named targetPort ``http``).
                                 Each run scales it from 1 to 2 replicas; a Pod watch notes the
                                 moment the new Pod is first seen Ready (the watch event's
                                 arrival, here; the Ready condition's lastTransitionTime has
                                 whole seconds only). From then on a client on *another* node
                                 sends requests to the ClusterIP (fresh connections, two
                                 threads) until one is answered by the new Pod; the figure is
                                 that request's start minus the Ready moment. Then the
                                 Deployment goes back to 1 replica (untimed). Kubernetes' SLO
                                 for this figure (network programming latency) is p99 ≤ 30 s;
                                 pykube's target is 1 s, over ≥ 30 scale-ups.
2. ClusterIP vs Pod IP           A multi-worker Pod (static page, busybox httpd) on n2 is the
                                 only endpoint of the Service ``net-target``. The client on n1
                                 times, interleaved (A B B A ...), a whole HTTP/1.0 exchange on a
                                 fresh connection (connect, GET, read to EOF, close) to the
                                 ClusterIP and straight to the Pod IP: the same Pod, the same
                                 route across nodes; the only difference is the DNAT of the
                                 first packet and conntrack for the rest. p50 ratio ≤ 1.1.
3. DNS lookup                    The client on n1 sends A queries for
                                 ``net-bench.default.svc.cluster.local`` (what a Pod's resolver
                                 tries first for ``net-bench``: search path, ndots:5) over UDP to
                                 the cluster DNS 10.96.0.10 (served on the client's own node)
                                 and times send → reply; every reply is checked (id, NOERROR,
                                 the ClusterIP). p99 ≤ 5 ms.

A run, request or lookup that fails or times out is a failure (an infinite latency in the
percentiles, counted in the records; the targets allow none); the benchmark carries on.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import grpc

from apimachinery.convert import from_dict
from apimachinery.kinds import unwrap, wrap
from apimachinery.network import CLUSTER_DNS_IP, CLUSTER_DOMAIN
from bench.cluster import wait
from bench.common import Record, append_results, latency_records, mode, print_table
from client.connection import connect
from cluster.lab import environment_problems
from cluster.local_cluster import LocalCluster
from component_base.netns import netns_executor
from protos import api_pb2, api_pb2_grpc

NAMESPACE = "default"
NODES = ("n1", "n2", "n3")
APP = "net-bench"          # the Deployment scaled up, and its ClusterIP Service
TARGET = "net-target"      # one static-page Pod on n2, the only endpoint of its Service
APP_IMAGE = "docker.io/library/multi-client:1.0"
TARGET_IMAGE = "docker.io/library/multi-worker:1.0"
CLIENT_IMAGE = "docker.io/library/busybox:1.36"
SERVICE_PORT, APP_PORT, TARGET_PORT = 80, 3000, 8080
HTTP_REQUEST = b"GET / HTTP/1.0\r\nHost: bench\r\nAccept: text/plain\r\n\r\n"
SERVED_BY = re.compile(rb"served by (\S+)")
CALL_TIMEOUT = 1.0         # one request or lookup
PROBE_THREADS = 2          # concurrent requests while waiting for the new Pod to answer
WARM_UP = 20               # untimed requests (lookups) before the timed ones


@dataclass
class Settings:
    scale_ups: int = 30
    requests: int = 2000   # per side of the ClusterIP / Pod IP comparison
    lookups: int = 1000
    reach_timeout: float = 30.0  # Ready → answered via the ClusterIP, before a run counts as failed
    quick: bool = False


QUICK = Settings(scale_ups=5, requests=200, lookups=200, quick=True)


# ------------------------------------------------------------------ manifests


def client_pod(node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"net-client-{node}", "namespace": NAMESPACE, "labels": {"bench": "net-client"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "client", "image": CLIENT_IMAGE, "command": ["sleep", "86400"]}]}}


def app_deployment(replicas: int) -> dict:
    container = {"name": "web", "image": APP_IMAGE, "ports": [{"name": "http", "containerPort": APP_PORT}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": APP, "namespace": NAMESPACE, "labels": {"app": APP}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                     "template": {"metadata": {"labels": {"app": APP}},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}}


def target_pod() -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": TARGET, "namespace": NAMESPACE, "labels": {"bench-target": TARGET}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": "n2"}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "web", "image": TARGET_IMAGE,
                                     "ports": [{"containerPort": TARGET_PORT}]}]}}


def service(name: str, selector: dict, port: int, target_port: int | str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target_port}]}}


def manifests() -> list[dict]:
    """Everything the benchmark creates at the start (the Deployment with 1 replica)."""
    return [*(client_pod(n) for n in NODES), app_deployment(1), service(APP, {"app": APP}, SERVICE_PORT, "http"),
            target_pod(), service(TARGET, {"bench-target": TARGET}, TARGET_PORT, TARGET_PORT)]


def service_fqdn(name: str) -> str:
    return f"{name}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}"


# ------------------------------------------------------------------ pure helpers


def served_by(response: bytes) -> str | None:
    """The Pod a multi-client page names (None for any other answer)."""
    found = SERVED_BY.search(response)
    return found.group(1).decode() if found else None


def check_http(response: bytes) -> bytes:
    """The response if its status is 200 (else OSError: a failed request)."""
    status = response.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/") or status[1] != b"200":
        raise OSError(f"not a 200 answer: {response[:60]!r}")
    return response


def other_node(node: str) -> str:
    """The client node for a Pod on `node`: the next one round the ring (always another)."""
    return NODES[(NODES.index(node) + 1) % len(NODES)] if node in NODES else NODES[0]


def is_ready(pod) -> bool:
    return not pod.metadata.HasField("deletion_timestamp") and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def dns_query(name: str, ident: int) -> bytes:
    import dnslib  # the cluster DNS's own library (pykube-proxy's dependency)
    query = dnslib.DNSRecord.question(name, "A")
    query.header.id = ident
    return query.pack()


def dns_answer_ok(reply: bytes, ident: int, want_ip: str) -> bool:
    """The reply answers query `ident` with NOERROR and an A record of want_ip."""
    import dnslib
    try:
        record = dnslib.DNSRecord.parse(reply)
    except dnslib.DNSError:
        return False
    return (record.header.id == ident and record.header.rcode == dnslib.RCODE.NOERROR
            and any(rr.rtype == dnslib.QTYPE.A and str(rr.rdata) == want_ip for rr in record.rr))


def interleaved(count: int) -> list[tuple[bool, bool]]:
    """ABBA order of `count` pairs: (first is the ClusterIP?, second is the ClusterIP?); both sides
    go first equally often, so neither gains from the other's warm caches."""
    return [(True, False) if i % 2 == 0 else (False, True) for i in range(count)]


# ------------------------------------------------------------------ clients in a Pod's netns


def http_get(address: tuple[str, int], timeout: float = CALL_TIMEOUT) -> bytes:
    """One HTTP/1.0 exchange on a fresh connection; call it from a thread in the client's netns."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(HTTP_REQUEST)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return check_http(b"".join(chunks))


def timed_get(address: tuple[str, int]) -> float | None:
    began = time.perf_counter()
    try:
        http_get(address)
    except OSError:
        return None
    return time.perf_counter() - began


def first_answer_from(executor: ThreadPoolExecutor, address: tuple[str, int], pod: str, deadline: float) -> float:
    """Monotonic start time of the first request to `address` that `pod` answered (TimeoutError at deadline)."""
    hits: list[float] = []
    found = threading.Event()

    def probe() -> None:
        while not found.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                answer = http_get(address)
            except OSError:
                found.wait(0.005)  # refused or timed out: try again shortly, without spinning
                continue
            if served_by(answer) == pod:
                hits.append(began)
                found.set()
    for future in [executor.submit(probe) for _ in range(PROBE_THREADS)]:
        future.result()
    if not hits:
        raise TimeoutError(f"{pod} never answered through {address[0]}:{address[1]}")
    return min(hits)


# ------------------------------------------------------------------ the cluster side


@dataclass
class PodsSeen:
    """What a Pod watch has shown so far: when each Pod was first seen Ready (monotonic), its
    node, which are alive (neither deleted nor terminating), and the revision to resume from."""

    ready: dict[str, float] = field(default_factory=dict)
    node: dict[str, str] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    revision: str = ""

    def on_event(self, event: api_pb2.WatchEvent, now: float) -> None:
        pod = unwrap(event.object)
        name = pod.metadata.name
        self.revision = pod.metadata.resource_version or self.revision
        if event.type == "BOOKMARK":
            return
        if event.type == "DELETED" or pod.metadata.HasField("deletion_timestamp"):
            self.live.discard(name)
        else:
            self.live.add(name)
        if pod.spec.node_name:
            self.node[name] = pod.spec.node_name
        if event.type != "DELETED" and name not in self.ready and is_ready(pod):
            self.ready[name] = now


class ReadyWatch:
    """One Pod watch over the Deployment's Pods, in a thread, feeding a :class:`PodsSeen`;
    :meth:`wait` blocks until a check on it holds."""

    def __init__(self, stub: api_pb2_grpc.APIStub) -> None:
        self.stub = stub
        self.seen = PodsSeen()
        self.changed = threading.Condition()
        self.closed = False
        self.call = None
        self.thread = threading.Thread(target=self._run, name="ready-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.closed:
            self.call = self.stub.Watch(api_pb2.WatchRequest(kind="Pod", namespace=NAMESPACE,
                                                             label_selector=f"app={APP}",
                                                             resource_version=self.seen.revision))
            try:
                for event in self.call:
                    with self.changed:
                        self.seen.on_event(event, time.monotonic())
                        self.changed.notify_all()
            except grpc.RpcError:
                if self.closed:
                    return
                time.sleep(0.1)  # the stream broke: reopen from the last revision

    def wait(self, what: str, check: Callable[[PodsSeen], object], timeout: float):
        with self.changed:
            result = self.changed.wait_for(lambda: check(self.seen), timeout)
        if not result:
            raise TimeoutError(f"timed out waiting for {what}")
        return result

    def close(self) -> None:
        self.closed = True
        if self.call is not None:
            self.call.cancel()
        self.thread.join(5)


@dataclass
class Bench:
    """A running cluster with the benchmark's objects, and a thread pool in each client Pod's netns."""

    cluster: LocalCluster
    stub: api_pb2_grpc.APIStub
    clients: dict[str, ThreadPoolExecutor] = field(default_factory=dict)

    def apply(self, *objects: dict) -> None:
        self.stub.Apply(api_pb2.ApplyRequest(objects=[wrap(from_dict(o)) for o in objects]), timeout=30)

    def get(self, kind: str, name: str):
        return unwrap(self.stub.Get(api_pb2.GetRequest(kind=kind, namespace=NAMESPACE, name=name), timeout=10))

    def running_pod(self, name: str):
        def check():
            pod = self.get("Pod", name)
            return pod if pod.status.pod_ip and is_ready(pod) else None
        return wait(f"Pod {name} Running and Ready", check, timeout=180)

    def pod_netns(self, pod) -> str:
        """``/proc/PID/ns/net`` of the Pod's container, found through its node's Podman."""
        container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
        node = self.cluster.podman_node(self.cluster.spec(), pod.spec.node_name)
        pid = node.remote("inspect", "--format", "{{.State.Pid}}", container_id).stdout.strip()
        return f"/proc/{int(pid)}/ns/net"

    def start_clients(self) -> None:
        for node in NODES:
            pod = self.running_pod(f"net-client-{node}")
            self.clients[node] = netns_executor(self.pod_netns(pod), max_workers=PROBE_THREADS,
                                                thread_name_prefix=f"client-{node}")

    def close(self) -> None:
        for executor in self.clients.values():
            executor.shutdown(wait=True, cancel_futures=True)


def reachable(executor: ThreadPoolExecutor, address: tuple[str, int], timeout: float = 60.0) -> None:
    """Wait (untimed) until address answers from the client: the Service is programmed."""
    deadline = time.monotonic() + timeout
    while executor.submit(timed_get, address).result() is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{address[0]}:{address[1]} did not answer within {timeout:.0f} s")


def new_ready_pod(known: set[str]) -> Callable[[PodsSeen], str | None]:
    """A ReadyWatch check: the name of an alive, Ready Pod not in known."""
    return lambda seen: next((n for n in seen.ready if n not in known and n in seen.live), None)


def programming_latencies(bench: Bench, settings: Settings, cluster_ip: str) -> tuple[list[float], list[str]]:
    """Scale-ups of net-bench from 1 to 2 replicas: Ready → first answer via the ClusterIP."""
    watch = ReadyWatch(bench.stub)
    latencies: list[float] = []
    failures: list[str] = []
    try:
        watch.wait("1 net-bench Pod Ready", lambda seen: len(seen.live) == 1 and seen.live <= set(seen.ready), 180)
        known = set(watch.seen.live)
        for run in range(settings.scale_ups):
            try:
                bench.apply(app_deployment(2))
                new = watch.wait("the new Pod Ready", new_ready_pod(known), timeout=120)
                known.add(new)
                ready_at, node = watch.seen.ready[new], watch.seen.node[new]
                client = bench.clients[other_node(node)]
                hit = first_answer_from(client, (cluster_ip, SERVICE_PORT), new, ready_at + settings.reach_timeout)
                latencies.append(hit - ready_at)
                print(f"  scale-up {run + 1}: {new} on {node} answered {(hit - ready_at) * 1000:.0f} ms after Ready",
                      flush=True)
            except TimeoutError as err:
                failures.append(str(err))
                print(f"  scale-up {run + 1} failed: {err}", file=sys.stderr, flush=True)
            finally:
                bench.apply(app_deployment(1))
                watch.wait("net-bench back to 1 Pod", lambda seen: len(seen.live) == 1, 120)
                known |= watch.seen.live
    finally:
        watch.close()
    return latencies, failures


def path_latencies(client: ThreadPoolExecutor, via_service: tuple[str, int], straight: tuple[str, int],
                   count: int) -> tuple[list[float], int, list[float], int]:
    """Interleaved requests to the ClusterIP and the Pod IP: latencies and failures of each."""
    def run() -> tuple[list[float], int, list[float], int]:
        samples: dict[bool, list[float]] = {True: [], False: []}
        failures = {True: 0, False: 0}
        for _ in range(WARM_UP):  # untimed, both paths
            timed_get(via_service), timed_get(straight)
        for pair in interleaved(count):
            for is_service in pair:
                took = timed_get(via_service if is_service else straight)
                if took is None:
                    failures[is_service] += 1
                else:
                    samples[is_service].append(took)
        return samples[True], failures[True], samples[False], failures[False]
    return client.submit(run).result()


def dns_latencies(client: ThreadPoolExecutor, name: str, want_ip: str, count: int,
                  server: tuple[str, int] = (CLUSTER_DNS_IP, 53)) -> tuple[list[float], int]:
    """`count` A lookups of name at the cluster DNS (server) from the client, each timed send → reply."""
    def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        failures = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(CALL_TIMEOUT)
            sock.connect(server)
            for i in range(count + WARM_UP):  # the first WARM_UP untimed
                ident = (os.getpid() + i) & 0xFFFF
                query = dns_query(name, ident)
                began = time.perf_counter()
                try:
                    sock.send(query)
                    reply = sock.recv(4096)
                    while reply[:2] != ident.to_bytes(2, "big"):
                        reply = sock.recv(4096)  # a late reply to an earlier, timed-out query
                    took = time.perf_counter() - began
                except OSError:
                    reply, took = b"", 0.0
                if i < WARM_UP:
                    continue
                if dns_answer_ok(reply, ident, want_ip):
                    latencies.append(took)
                else:
                    failures += 1
        return latencies, failures
    return client.submit(run).result()


# ------------------------------------------------------------------ the run


def measure(bench: Bench, settings: Settings) -> list[Record]:
    bench.apply(*manifests())
    bench.start_clients()
    target = bench.running_pod(TARGET)
    app_ip = bench.get("Service", APP).spec.cluster_ip
    target_ip = bench.get("Service", TARGET).spec.cluster_ip
    n1 = bench.clients["n1"]
    reachable(n1, (target_ip, TARGET_PORT))
    reachable(n1, (app_ip, SERVICE_PORT))

    print(f"network programming latency: {settings.scale_ups} scale-ups of {APP}", flush=True)
    programming, failed_runs = programming_latencies(bench, settings, app_ip)
    print(f"request latency: {settings.requests} requests each, ClusterIP {target_ip} vs Pod IP "
          f"{target.status.pod_ip} ({TARGET} on n2, client on n1)", flush=True)
    service, service_failures, pod, pod_failures = path_latencies(
        n1, (target_ip, TARGET_PORT), (target.status.pod_ip, TARGET_PORT), settings.requests)
    print(f"DNS: {settings.lookups} lookups of {service_fqdn(APP)} at {CLUSTER_DNS_IP} from n1", flush=True)
    lookups, lookup_failures = dns_latencies(n1, service_fqdn(APP), app_ip, settings.lookups)

    return network_records(programming, len(failed_runs), service, service_failures, pod, pod_failures,
                           lookups, lookup_failures)


def network_records(programming: list[float], failed_runs: int, service: list[float], service_failures: int,
                    pod: list[float], pod_failures: int, lookups: list[float], lookup_failures: int) -> list[Record]:
    """The figures (latencies in seconds in, records in the targets' units out)."""
    records = latency_records("network.programming_latency", programming, failed_runs, (50, 99), "s")
    records += latency_records("network.clusterip_vs_pod_ip", service, service_failures, (50, 99), "ms",
                               "straight to the Pod IP", pod, pod_failures)
    records += latency_records("network.dns_lookup", lookups, lookup_failures, (50, 99), "ms")
    return records


def run(settings: Settings, out: Path | None) -> int:
    problems = environment_problems()
    if problems:
        print("bench.network cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pkn-") as tmp:
        cluster = LocalCluster(Path(tmp) / "state", name=f"net{os.getpid() % 10000}", out=lambda *a, **k: None)
        bench: Bench | None = None
        try:
            cluster.up(nodes=3, kubeconfig=False)
            bench = Bench(cluster, connect(cluster.address, call_timeout=None, tls=cluster.admin_tls()).stub)
            records = measure(bench, settings)
        finally:
            if bench is not None:
                bench.close()
            cluster.down(purge=True)
    print_table(records)
    if out is not None:
        conditions = {"mode": mode(settings.quick), "nodes": 3, "scale_ups": settings.scale_ups,
                      "requests": settings.requests, "lookups": settings.lookups}
        print(f"results appended to {append_results(out, records, conditions)}")
    return 0


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__.splitlines()[0])
    parser.add_argument("--scale-ups", type=int, help=f"scale-ups timed (default {Settings.scale_ups})")
    parser.add_argument("--requests", type=int, help=f"requests per path (default {Settings.requests})")
    parser.add_argument("--lookups", type=int, help=f"DNS lookups (default {Settings.lookups})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.scale_ups} scale-ups, {QUICK.requests} requests, {QUICK.lookups} lookups")
    parser.add_argument("--out", type=Path, help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    given = {name: getattr(args, name) for name in ("scale_ups", "requests", "lookups") if getattr(args, name)}
    return replace(settings, **given), args.out


def main(argv: Sequence[str] | None = None) -> int:
    settings, out = parse_args(argv)
    try:
        return run(settings, out)
    except TimeoutError as err:
        print(f"benchmark aborted: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
