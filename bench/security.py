"""Security benchmark: what mutual TLS and Node,RBAC cost, side by side with a plaintext peer.

    python -m bench.security [--clients N] [--objects M] [--rounds R] [--handshakes H] [--quick] [--out DIR]
                             [--profile DIR]

Two real ``pykube-apiserver`` processes of the same build run at once:

* the peer: plaintext, AlwaysAllow (every caller is ``system:unsecured`` in system:masters);
* mutual TLS (a cluster CA made here, a serving certificate for 127.0.0.1) with
  ``--authorization-mode Node,RBAC``, driven as ``bench-editor``: a user with no group but
  ``system:authenticated``, allowed to write Pods in the benchmark's namespace only by a
  RoleBinding of the ``edit`` ClusterRole. A system:masters client would short-circuit
  RBAC; this one is authorized by the Node authorizer (no opinion) and RBAC on every call.

Phases (each bounded by a timeout), in R rounds that alternate which server goes first
(ABBA...), so that a drift of the machine (other work, a growing store) falls on both:

1. creates - N concurrent clients (one TCP connection each, opened before timing) create
             M/R Pods per server and round; per-call latency and throughput.
2. updates - the same clients change a label on each of their Pods (compare-and-swap on
             the resourceVersion they hold); conflicts must be 0.
3. handshakes - H new connections per server, alternating between them, each timed from
             creating the channel through the TCP connect, the TLS handshake (client
             certificate verified, identity and authorization worked out) to the answer of
             a first small call (Version); then the channel is closed. The client's
             credentials are loaded once, as a client that reconnects has them.

Figures: ``security.create.*`` and ``security.update.*`` (throughput, p50, p99, server CPU
per call), ``security.mutating.p50/p99`` (creates and updates together) and
``security.handshake.p50/p99``, each with the plaintext peer's beside it. With ``--profile
DIR`` both servers are sampled by py-spy while they are measured (bench.profile), and
DIR/profile-security.md summarises where their CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from apimachinery.kinds import RBAC_GROUP, wrap
from bench.common import (CALL_TIMEOUT, CHANNEL_OPTIONS, HOST, START_TIMEOUT, CallStats, ChildProcess, Record,
                          Timing, append_results, apiserver_healthy, call_records, create_pods, free_port,
                          latency_records, make_pod, merge, mode, open_channels, print_phase, print_table,
                          run_benchmark, run_clients, split, start_apiserver, update_pods, wait_until)
from bench.profile import Profiles, summary
from bench.targets import describe_conditions
from client import pki
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2, rbac_pb2

PEER = "plaintext + AlwaysAllow"
NAMESPACE = "bench-security"
USER = "bench-editor"
ADMIN = ("system:admin", ("system:masters",))
ROLE_BINDING = "bench-editor-edit"
PROBE_POD = "bench-probe"


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    clients: int
    objects: int  # Pods per server, over all rounds
    rounds: int
    handshakes: int  # new connections per server
    phase_timeout: float  # seconds, per phase
    quick: bool = False
    profile: Path | None = None  # py-spy both servers while measured, into this directory


QUICK = Settings(clients=8, objects=1000, rounds=2, handshakes=50, phase_timeout=20.0, quick=True)
DEFAULT = Settings(clients=16, objects=10000, rounds=10, handshakes=500, phase_timeout=120.0)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.security", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, metavar="N", help=f"concurrent clients (default {DEFAULT.clients})")
    parser.add_argument("--objects", type=int, metavar="M",
                        help=f"Pods created and updated per server (default {DEFAULT.objects})")
    parser.add_argument("--rounds", type=int, metavar="R",
                        help=f"rounds, alternating which server goes first (default {DEFAULT.rounds})")
    parser.add_argument("--handshakes", type=int, metavar="H",
                        help=f"new connections timed per server (default {DEFAULT.handshakes})")
    parser.add_argument("--quick", action="store_true",
                        help=f"small run, well under a minute ({QUICK.clients} clients, {QUICK.objects} Pods, "
                             f"{QUICK.rounds} rounds, {QUICK.handshakes} handshakes per server)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy both apiservers while measured; folded stacks and a summary into DIR")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    settings = Settings(clients=args.clients or base.clients, objects=args.objects or base.objects,
                        rounds=args.rounds or base.rounds, handshakes=args.handshakes or base.handshakes,
                        phase_timeout=base.phase_timeout, quick=args.quick, profile=args.profile)
    if min(settings.clients, settings.objects, settings.rounds, settings.handshakes) < 1:
        parser.error("--clients, --objects, --rounds and --handshakes must be at least 1")
    if settings.objects < settings.rounds:
        parser.error("--objects must be at least --rounds (each round creates some)")
    return settings, args.out


# ------------------------------------------------------------------ the two servers


@dataclass
class Credentials:
    """The files of the mTLS server and the client credentials of its two users."""

    directory: Path
    admin: grpc.ChannelCredentials
    user: grpc.ChannelCredentials

    def apiserver_args(self) -> list[str]:
        d = self.directory
        return ["--tls-cert-file", str(d / "apiserver.crt"), "--tls-private-key-file", str(d / "apiserver.key"),
                "--client-ca-file", str(d / "ca.crt"), "--authorization-mode", "Node,RBAC"]


def make_credentials(directory: Path) -> Credentials:
    """A cluster CA, the apiserver's serving certificate (127.0.0.1), an admin and the benchmark's user."""
    ca = pki.create_ca()
    pki.write_cert_key(directory, "ca", ca)
    pki.write_cert_key(directory, "apiserver", pki.issue_serving_cert(ca, "kube-apiserver", ips=[HOST],
                                                                       dns_names=["localhost"]))

    def client(user: str, groups: tuple[str, ...]) -> grpc.ChannelCredentials:
        pair = pki.issue_client_cert(ca, user, groups)
        return grpc.ssl_channel_credentials(root_certificates=ca.cert_pem(), private_key=pair.key_pem(),
                                            certificate_chain=pair.cert_pem())
    return Credentials(directory, admin=client(*ADMIN), user=client(USER, ()))


def start_mtls_apiserver(work: Path, creds: Credentials) -> tuple[ChildProcess, str]:
    address = f"{HOST}:{free_port()}"
    argv = [sys.executable, "-m", "apiserver.main", "--listen", address, "--data-dir", str(work / "apiserver-mtls"),
            *creds.apiserver_args()]
    return ChildProcess("pykube-apiserver (mTLS)", argv, work / "apiserver-mtls.log"), address


async def mtls_healthy(address: str, credentials: grpc.ChannelCredentials) -> bool:
    async with grpc.aio.secure_channel(address, credentials) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


@dataclass
class Side:
    """One server under measurement and what was measured on it."""

    label: str
    server: ChildProcess
    address: str
    credentials: grpc.ChannelCredentials | None  # the benchmark user's; None: plaintext
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    creates: list[CallStats] = field(default_factory=list)
    updates: list[CallStats] = field(default_factory=list)
    handshakes: list[float] = field(default_factory=list)
    handshake_failures: int = 0

    @property
    def stubs(self) -> list[api_pb2_grpc.APIStub]:
        return [api_pb2_grpc.APIStub(c) for c in self.channels]


def rbac_objects() -> list[api_pb2.Object]:
    """The namespace, and bench-editor's RoleBinding of the edit ClusterRole there."""
    subject = rbac_pb2.Subject(kind="User", name=USER, api_group=RBAC_GROUP)
    binding = rbac_pb2.RoleBinding(metadata=meta_pb2.ObjectMeta(name=ROLE_BINDING, namespace=NAMESPACE),
                                   subjects=[subject],
                                   role_ref=rbac_pb2.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name="edit"))
    return [wrap(binding)]


async def prepare(side: Side, admin: api_pb2_grpc.APIStub, rbac: bool, timeout: float) -> None:
    """Create the namespace (and, for RBAC, the binding) as an administrator; then wait until
    the benchmark's user may create a Pod there (RBAC follows its watch, a moment later)."""
    namespace = core_pb2.Namespace(metadata=meta_pb2.ObjectMeta(name=NAMESPACE))
    await admin.Create(api_pb2.CreateRequest(object=wrap(namespace)), timeout=CALL_TIMEOUT)
    for obj in rbac_objects() if rbac else ():
        await admin.Create(api_pb2.CreateRequest(object=obj), timeout=CALL_TIMEOUT)
    probe = make_pod(0, 0, NAMESPACE)
    probe.metadata.name = PROBE_POD
    user = side.stubs[0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            await user.Create(api_pb2.CreateRequest(object=wrap(probe)), timeout=CALL_TIMEOUT)
            return
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.PERMISSION_DENIED or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------ phases


async def creates_and_updates(side: Side, pods: Sequence[core_pb2.Pod], timeout: float) -> None:
    stubs = side.stubs
    shares = split(list(pods), len(stubs))
    created, timing = await run_clients(side.server, [create_pods(s, share) for s, share in zip(stubs, shares)],
                                        timeout)
    side.creates.append(merge([s for s, _ in created], timing))
    updated, timing = await run_clients(side.server, [update_pods(s, made) for s, (_, made) in zip(stubs, created)],
                                        timeout)
    side.updates.append(merge([s for s, _ in updated], timing))


async def handshake(side: Side) -> None:
    """One new connection: channel, TCP, TLS (if any), a first call's answer; then closed."""
    start = time.perf_counter()
    if side.credentials is None:
        channel = grpc.aio.insecure_channel(side.address, options=CHANNEL_OPTIONS)
    else:
        channel = grpc.aio.secure_channel(side.address, side.credentials, options=CHANNEL_OPTIONS)
    try:
        await api_pb2_grpc.APIStub(channel).Version(api_pb2.VersionRequest(), timeout=CALL_TIMEOUT)
        side.handshakes.append(time.perf_counter() - start)
    except grpc.aio.AioRpcError:
        side.handshake_failures += 1
    finally:
        await channel.close()


async def handshakes(sides: Sequence[Side], count: int, timeout: float) -> None:
    async def all_of_them() -> None:
        for i in range(count):
            for side in (sides if i % 2 == 0 else sides[::-1]):
                await handshake(side)
    await asyncio.wait_for(all_of_them(), timeout)


def total(parts: Sequence[CallStats]) -> CallStats:
    """The rounds of one phase as one: every latency, the summed wall and CPU times."""
    timing = Timing(sum(p.timing.wall for p in parts), sum(p.timing.server_cpu for p in parts),
                    sum(p.timing.bench_cpu for p in parts))
    return CallStats(latencies=[x for p in parts for x in p.latencies], timing=timing,
                     conflicts=sum(p.conflicts for p in parts), failures=sum(p.failures for p in parts))


async def measure_sides(plain: Side, secure: Side, settings: Settings) -> None:
    per_round = split(range(settings.objects), settings.rounds)
    for number, indexes in enumerate(per_round):
        order = (plain, secure) if number % 2 == 0 else (secure, plain)
        for side in order:
            pods = [make_pod(i, i % settings.clients, NAMESPACE) for i in indexes]
            await creates_and_updates(side, pods, settings.phase_timeout)
        print(f"round {number + 1}/{settings.rounds}: "
              + "; ".join(f"{s.label} {s.creates[-1].throughput:,.0f} creates/s, "
                          f"{s.updates[-1].throughput:,.0f} updates/s" for s in order), flush=True)
    await handshakes((plain, secure), settings.handshakes, settings.phase_timeout)


async def run_sides(work: Path, settings: Settings) -> tuple[Side, Side]:
    creds = make_credentials(work)
    plain_server, plain_address = start_apiserver(work)
    servers = [plain_server]
    try:
        secure_server, secure_address = start_mtls_apiserver(work, creds)
        servers.append(secure_server)
        await wait_until(lambda: apiserver_healthy(plain_address), plain_server, START_TIMEOUT)
        await wait_until(lambda: mtls_healthy(secure_address, creds.admin), secure_server, START_TIMEOUT)
        print(f"{PEER}: pid {plain_server.pid} on {plain_address}; mTLS + Node,RBAC: pid {secure_server.pid} "
              f"on {secure_address}, as {USER} (edit in {NAMESPACE})", flush=True)
        plain = Side(PEER, plain_server, plain_address, None)
        secure = Side("mTLS + Node,RBAC", secure_server, secure_address, creds.user)
        plain.channels = await open_channels(plain_address, settings.clients)
        secure.channels = await open_channels(secure_address, settings.clients, creds.user)
        admins = [*await open_channels(plain_address, 1), *await open_channels(secure_address, 1, creds.admin)]
        try:
            await prepare(plain, api_pb2_grpc.APIStub(admins[0]), False, START_TIMEOUT)
            await prepare(secure, api_pb2_grpc.APIStub(admins[1]), True, START_TIMEOUT)
            pids = {"plaintext": plain_server.pid, "mtls-rbac": secure_server.pid}
            with Profiles(settings.profile, "security", pids) if settings.profile else contextlib.nullcontext():
                await measure_sides(plain, secure, settings)
        finally:
            await asyncio.gather(*(c.close() for c in (*plain.channels, *secure.channels, *admins)))
        return plain, secure
    finally:
        for server in servers:
            server.stop()


# ------------------------------------------------------------------ report


def build_records(plain: Side, secure: Side) -> list[Record]:
    pc, pu, sc, su = total(plain.creates), total(plain.updates), total(secure.creates), total(secure.updates)
    return [*call_records("security.create", sc, PEER, pc),
            *call_records("security.update", su, PEER, pu),
            Record("security.update.conflicts", sc.conflicts + su.conflicts, "count"),
            *latency_records("security.mutating", sc.latencies + su.latencies, sc.failures + su.failures,
                             peer=PEER, peer_latencies=pc.latencies + pu.latencies,
                             peer_failures=pc.failures + pu.failures),
            *latency_records("security.handshake", secure.handshakes, secure.handshake_failures, peer=PEER,
                             peer_latencies=plain.handshakes, peer_failures=plain.handshake_failures)]


async def run(settings: Settings, out: Path | None) -> int:
    conditions = {"mode": mode(settings.quick), "clients": settings.clients, "objects": settings.objects,
                  "rounds": settings.rounds, "handshakes": settings.handshakes}
    print(f"security benchmark: {describe_conditions(conditions)}; {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="pykube-bench-security-") as tmp:
        plain, secure = await run_sides(Path(tmp), settings)
    for side in (plain, secure):
        print_phase(f"{side.label} creates"[:40], total(side.creates))
        print_phase(f"{side.label} updates"[:40], total(side.updates))
    records = build_records(plain, secure)
    print_table(records)
    if out is not None:
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    if settings.profile is not None:
        doc = settings.profile / "profile-security.md"
        doc.write_text(summary(sorted(settings.profile.glob("security-*.folded")),
                               f"Profiles of bench.security ({describe_conditions(conditions)})"))
        print(f"profiles summarised in {doc}")
    conflicts = sum(s.conflicts for side in (plain, secure) for s in side.updates)
    failed = conflicts + plain.handshake_failures + secure.handshake_failures
    if failed:
        print(f"FAILED: {conflicts} update conflicts, {plain.handshake_failures + secure.handshake_failures} "
              "failed handshakes")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
