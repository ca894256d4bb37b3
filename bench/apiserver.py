"""Apiserver benchmark: a real ``pykube-apiserver`` process, driven over gRPC.

    python -m bench.apiserver [--clients N] [--objects M] [--watchers W] [--quick] [--out DIR]

Phases (each bounded by a timeout):

1. creates  - N concurrent clients (one grpc.aio channel, so one TCP connection, each)
              create M Pods in total; per-call latency and throughput.
2. updates  - the same clients update their own Pods (a label change, compare-and-swap
              on the resourceVersion they got back); conflicts must be 0.
3. watch    - W watchers stream Pods of one namespace; one writer makes K writes in a
              row (creates, then updates); each event's delivery latency is measured
              against the time its write call returned (and, beside it, was sent).
              Every watcher must see every event.

References, measured in the same run:

* etcd 3.4 (``etcd`` binary + the ``aetcd`` package), when present: the same creates and
  updates as etcd transactions (create-if-absent, compare-and-swap on mod_revision, as
  Kubernetes' etcd3 storage does), same values (the serialized Pods), same concurrency.
* the apiserver's own SQLiteStore, in-process: the same number of single-change commits,
  to show what the gRPC + registry layers add on top of the store.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Sequence

import grpc

from apimachinery.kinds import wrap
from bench.common import (CALL_TIMEOUT, CHANNEL_OPTIONS, HOST, NAMESPACE, START_TIMEOUT, CallStats, ChildProcess,
                          Record, Timing, append_results, apiserver_healthy, call_records, create_pods, free_port,
                          make_pod, measure, merge, mode, open_channels, percentile, print_phase, print_table,
                          run_benchmark, run_clients, split, start_apiserver, timed, update_pods, wait_until)
from bench.targets import describe_conditions
from apiserver.storage import MUST_NOT_EXIST, Change
from apiserver.storage.sqlite import SQLiteStore
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2

WATCH_NAMESPACE = "bench-watch"
SYNC_POD = "bench-sync"


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    clients: int
    objects: int
    watchers: int
    watch_events: int
    phase_timeout: float  # seconds, per phase
    quick: bool = False


QUICK = Settings(clients=8, objects=2000, watchers=50, watch_events=200, phase_timeout=20.0, quick=True)
DEFAULT = Settings(clients=16, objects=10000, watchers=100, watch_events=1000, phase_timeout=120.0)


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.apiserver", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, metavar="N", help=f"concurrent clients (default {DEFAULT.clients})")
    parser.add_argument("--objects", type=int, metavar="M", help=f"Pods created/updated (default {DEFAULT.objects})")
    parser.add_argument("--watchers", type=int, metavar="W", help=f"concurrent watchers (default {DEFAULT.watchers})")
    parser.add_argument("--watch-events", type=int, metavar="K",
                        help=f"writes made while the watchers watch (default {DEFAULT.watch_events})")
    parser.add_argument("--quick", action="store_true",
                        help=f"small run, well under 30 s ({QUICK.clients} clients, {QUICK.objects} objects, "
                             f"{QUICK.watchers} watchers, {QUICK.watch_events} watch events)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    settings = Settings(
        clients=args.clients or base.clients,
        objects=args.objects or base.objects,
        watchers=args.watchers or base.watchers,
        watch_events=args.watch_events or base.watch_events,
        phase_timeout=base.phase_timeout,
        quick=args.quick,
    )
    if min(settings.clients, settings.objects, settings.watchers, settings.watch_events) < 1:
        parser.error("--clients, --objects, --watchers and --watch-events must be at least 1")
    return settings, args.out


# ------------------------------------------------------------------ figures


def etcd_available() -> str | None:
    """None when the etcd peer can run; otherwise why not."""
    missing = []
    if shutil.which("etcd") is None:
        missing.append("the etcd binary (apt-get install etcd-server)")
    if importlib.util.find_spec("aetcd") is None:
        missing.append("the aetcd package (pip install aetcd)")
    return " and ".join(missing) if missing else None


def etcd_version() -> str:
    """"etcd 3.4.23", from `etcd --version`."""
    try:
        first = subprocess.run(["etcd", "--version"], capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    except (OSError, subprocess.TimeoutExpired):
        return "etcd"
    return "etcd " + first.split(":", 1)[1].strip() if ":" in first else "etcd"


def start_etcd(work: Path) -> tuple[ChildProcess, int]:
    client_port, peer_port = free_port(), free_port()
    client_url, peer_url = f"http://{HOST}:{client_port}", f"http://{HOST}:{peer_port}"
    argv = ["etcd", "--name", "bench", "--data-dir", str(work / "etcd"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"bench={peer_url}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-level", "warn"]
    return ChildProcess("etcd", argv, work / "etcd.log"), client_port


# ------------------------------------------------------------------ watch


@dataclass
class WatchStats:
    watchers: int
    writes: int
    # Per write: revision -> (time sent, time returned), perf_counter seconds.
    write_times: dict[int, tuple[float, float]] = field(default_factory=dict)
    # Per watcher: revision -> time received.
    received: list[dict[int, float]] = field(default_factory=list)
    first_sent: float = 0.0
    timing: Timing = field(default_factory=Timing)

    def latencies(self, since_returned: bool) -> list[float]:
        pick = 1 if since_returned else 0
        return [at - self.write_times[rev][pick]
                for got in self.received for rev, at in got.items() if rev in self.write_times]

    @property
    def delivered(self) -> int:
        return sum(len(got.keys() & self.write_times.keys()) for got in self.received)

    @property
    def missing(self) -> int:
        return self.watchers * self.writes - self.delivered

    @property
    def server_us_per_event(self) -> float:
        return self.timing.server_cpu / self.delivered * 1e6 if self.delivered else math.nan

    @property
    def events_per_s(self) -> float:
        last = max((at for got in self.received for at in got.values()), default=self.first_sent)
        return self.delivered / (last - self.first_sent) if last > self.first_sent else math.nan


async def watch_pods(stub: api_pb2_grpc.APIStub, ready: asyncio.Event, received: dict[int, float],
                     expected: int) -> None:
    """Stream Pod events of the watch namespace until `expected` benchmark events arrived.

    Events for the sync Pod only prove the stream is live (they set `ready`)."""
    call = stub.Watch(api_pb2.WatchRequest(kind="Pod", namespace=WATCH_NAMESPACE))
    try:
        async for event in call:
            now = time.perf_counter()
            meta = event.object.pod.metadata
            if meta.name == SYNC_POD:
                ready.set()
                continue
            received[int(meta.resource_version)] = now
            if len(received) >= expected:
                return
    finally:
        call.cancel()


async def sync_watchers(stub: api_pb2_grpc.APIStub, ready: Sequence[asyncio.Event], timeout: float) -> None:
    """Touch the sync Pod until every watcher has seen an event for it: then all streams are live."""
    sync = make_pod(0, 0, WATCH_NAMESPACE)
    sync.metadata.name = SYNC_POD
    current = (await stub.Create(api_pb2.CreateRequest(object=wrap(sync)), timeout=CALL_TIMEOUT)).pod
    deadline = time.monotonic() + timeout
    touch = 0
    while not all(event.is_set() for event in ready):
        if time.monotonic() > deadline:
            live = sum(event.is_set() for event in ready)
            raise TimeoutError(f"only {live} of {len(ready)} watchers became live in {timeout:.0f} s")
        await asyncio.sleep(0.2)
        touch += 1
        current.metadata.labels["touch"] = str(touch)
        current = (await stub.Update(api_pb2.UpdateRequest(object=wrap(current)), timeout=CALL_TIMEOUT)).pod


async def write_for_watchers(stub: api_pb2_grpc.APIStub, writes: int, stats: WatchStats) -> None:
    """One writer, one call at a time: create ceil(K/2) Pods, then update them until K writes."""
    async def write(call: Awaitable[api_pb2.Object]) -> core_pb2.Pod:
        sent = time.perf_counter()
        pod = (await call).pod
        stats.write_times[int(pod.metadata.resource_version)] = (sent, time.perf_counter())
        return pod

    stats.first_sent = time.perf_counter()
    creates = (writes + 1) // 2
    pods = [await write(stub.Create(api_pb2.CreateRequest(object=wrap(make_pod(i, 0, WATCH_NAMESPACE))),
                                    timeout=CALL_TIMEOUT)) for i in range(creates)]
    for pod in pods[:writes - creates]:
        pod.metadata.labels["version"] = "v2"
        await write(stub.Update(api_pb2.UpdateRequest(object=wrap(pod)), timeout=CALL_TIMEOUT))


async def watch_phase(server: ChildProcess, address: str, settings: Settings) -> WatchStats:
    stats = WatchStats(watchers=settings.watchers, writes=settings.watch_events)
    stats.received = [{} for _ in range(settings.watchers)]
    ready = [asyncio.Event() for _ in range(settings.watchers)]
    writer_channel, *watch_channels = await open_channels(address, 1 + settings.watchers)
    writer = api_pb2_grpc.APIStub(writer_channel)
    await writer.Create(api_pb2.CreateRequest(object=api_pb2.Object(
        namespace=core_pb2.Namespace(metadata=meta_pb2.ObjectMeta(name=WATCH_NAMESPACE)))), timeout=CALL_TIMEOUT)
    tasks = [asyncio.create_task(watch_pods(api_pb2_grpc.APIStub(channel), ready[i], stats.received[i],
                                            settings.watch_events))
             for i, channel in enumerate(watch_channels)]
    try:
        await sync_watchers(writer, ready, settings.phase_timeout / 4)

        async def write_and_deliver() -> None:
            await asyncio.wait_for(write_for_watchers(writer, settings.watch_events, stats), settings.phase_timeout)
            # Every watcher stops by itself once it has all K events; the timeout catches losses.
            await asyncio.wait(tasks, timeout=settings.phase_timeout / 4)

        _, stats.timing = await measure(server, write_and_deliver())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in (writer_channel, *watch_channels)))
    return stats


@dataclass
class PykubeResults:
    creates: CallStats
    updates: CallStats
    watch: WatchStats
    values: list[bytes]  # the stored Pods as serialized after the creates, for the references
    updated_values: list[bytes]


async def run_pykube(work: Path, settings: Settings) -> PykubeResults:
    server, address = start_apiserver(work)
    try:
        await wait_until(lambda: apiserver_healthy(address), server, START_TIMEOUT)
        print(f"pykube-apiserver pid {server.pid} serving on {address}", flush=True)
        channels = await open_channels(address, settings.clients)
        stubs = [api_pb2_grpc.APIStub(c) for c in channels]
        shares = split([make_pod(i, i % settings.clients) for i in range(settings.objects)], settings.clients)
        created, timing = await run_clients(
            server, [create_pods(stub, share) for stub, share in zip(stubs, shares)], settings.phase_timeout)
        creates = merge([s for s, _ in created], timing)
        print_phase("pykube creates", creates)

        updated, timing = await run_clients(
            server, [update_pods(stub, pods) for stub, (_, pods) in zip(stubs, created)], settings.phase_timeout)
        updates = merge([s for s, _ in updated], timing)
        print_phase("pykube updates", updates)
        await asyncio.gather(*(c.close() for c in channels))

        watch = await watch_phase(server, address, settings)
        print_watch(watch)
        return PykubeResults(
            creates, updates, watch,
            values=[wrap(p).SerializeToString() for _, pods in created for p in pods],
            updated_values=[wrap(p).SerializeToString() for _, pods in updated for p in pods])
    finally:
        server.stop()


# ------------------------------------------------------------------ references


def timed_commits(store: SQLiteStore, changes: Sequence[Change]) -> tuple[CallStats, list[int]]:
    """Commit each change on its own; latencies, timing (this process is the server) and revisions."""
    stats, revisions = CallStats(), []
    cpu, start = time.process_time(), time.perf_counter()
    for change in changes:
        t0 = time.perf_counter()
        revisions.extend(store.commit([change]))
        stats.latencies.append(time.perf_counter() - t0)
    used = time.process_time() - cpu
    stats.timing = Timing(time.perf_counter() - start, server_cpu=used, bench_cpu=used)
    return stats, revisions


def run_sqlite_store(work: Path, values: Sequence[bytes], updated: Sequence[bytes]) -> tuple[CallStats, CallStats]:
    """The apiserver's store alone: one single-change commit per create, then per CAS update."""
    keys = [f"/Pod/{NAMESPACE}/ref-{i:06d}" for i in range(len(values))]
    with SQLiteStore.open_in(work / "sqlite-ref") as store:
        creates, revisions = timed_commits(store, [Change(k, v, MUST_NOT_EXIST) for k, v in zip(keys, values)])
        updates, _ = timed_commits(store, [Change(k, v, rev) for k, v, rev in zip(keys, updated, revisions)])
    return creates, updates


async def etcd_creates(client: Any, items: Sequence[tuple[bytes, bytes]]) -> tuple[CallStats, list[int]]:
    """Create-if-absent, as Kubernetes' etcd3 store does: Txn(mod_revision == 0, put)."""
    stats, revisions = CallStats(), []
    tx = client.transactions
    for key, value in items:
        ok, responses = await timed(stats.latencies, client.transaction(
            compare=[tx.mod(key) == 0], success=[tx.put(key, value)], failure=[]))
        if not ok:
            raise RuntimeError(f"etcd create of {key!r} found the key already there")
        revisions.append(responses[0].response_put.header.revision)
    return stats, revisions


async def etcd_updates(client: Any, items: Sequence[tuple[bytes, bytes, int]]) -> CallStats:
    """Compare-and-swap, as Kubernetes' GuaranteedUpdate: Txn(mod_revision == held, put)."""
    stats = CallStats()
    tx = client.transactions
    for key, value, revision in items:
        ok, _ = await timed(stats.latencies, client.transaction(
            compare=[tx.mod(key) == revision], success=[tx.put(key, value)], failure=[]))
        stats.conflicts += not ok
    return stats


async def etcd_healthy(port: int) -> bool:
    import aetcd
    client = aetcd.Client(HOST, port, timeout=1)
    try:
        await client.status()
        return True
    finally:
        await client.close()


async def run_etcd(work: Path, settings: Settings, values: Sequence[bytes],
                   updated: Sequence[bytes]) -> tuple[CallStats, CallStats]:
    import aetcd
    server, port = start_etcd(work)
    try:
        await wait_until(lambda: etcd_healthy(port), server, START_TIMEOUT)
        print(f"etcd pid {server.pid} serving on {HOST}:{port}", flush=True)
        clients = [aetcd.Client(HOST, port, timeout=CALL_TIMEOUT, options=dict(CHANNEL_OPTIONS))
                   for _ in range(settings.clients)]
        try:
            await asyncio.gather(*(c.connect() for c in clients))
            await asyncio.gather(*(c.status() for c in clients))  # connections up before timing
            keys = [f"/registry/pods/{NAMESPACE}/multi-worker-{i:06d}".encode() for i in range(len(values))]
            shares = split(list(zip(keys, values)), settings.clients)
            created, timing = await run_clients(server, [etcd_creates(c, s) for c, s in zip(clients, shares)],
                                                settings.phase_timeout)
            creates = merge([s for s, _ in created], timing)
            print_phase("etcd creates", creates)
            new_values = split(updated, settings.clients)
            update_shares = [[(key, new, rev) for (key, _), new, rev in zip(share, news, revs)]
                             for share, news, (_, revs) in zip(shares, new_values, created)]
            results, timing = await run_clients(server, [etcd_updates(c, s) for c, s in zip(clients, update_shares)],
                                                settings.phase_timeout)
            updates = merge(results, timing)
            print_phase("etcd updates", updates)
            return creates, updates
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    finally:
        server.stop()


# ------------------------------------------------------------------ report


def print_watch(watch: WatchStats) -> None:
    returned, sent = watch.latencies(True), watch.latencies(False)
    print(f"{'pykube watch':<16} {watch.watchers} watchers x {watch.writes} writes: "
          f"{watch.delivered} events delivered, {watch.missing} missing, {watch.events_per_s:,.0f} events/s; "
          f"latency since write returned p50 {percentile(returned, 50) * 1000:.2f} ms, "
          f"p99 {percentile(returned, 99) * 1000:.2f} ms (since sent p50 {percentile(sent, 50) * 1000:.2f} ms, "
          f"p99 {percentile(sent, 99) * 1000:.2f} ms); CPU: server {watch.timing.server_cpu:.2f} s, "
          f"bench {watch.timing.bench_cpu:.2f} s", flush=True)


def build_records(pykube: PykubeResults, sqlite: tuple[CallStats, CallStats],
                  etcd: tuple[CallStats, CallStats] | None, peer: str | None) -> list[Record]:
    records = [*call_records("apiserver.create", pykube.creates, peer, etcd and etcd[0]),
               *call_records("apiserver.update", pykube.updates, peer, etcd and etcd[1]),
               Record("apiserver.update.conflicts", pykube.updates.conflicts, "count")]
    watch = pykube.watch
    returned, sent = watch.latencies(True), watch.latencies(False)
    records += [Record("apiserver.watch.delivery_p50", percentile(returned, 50) * 1000, "ms"),
                Record("apiserver.watch.delivery_p99", percentile(returned, 99) * 1000, "ms"),
                Record("apiserver.watch.since_sent_p50", percentile(sent, 50) * 1000, "ms"),
                Record("apiserver.watch.since_sent_p99", percentile(sent, 99) * 1000, "ms"),
                Record("apiserver.watch.events", watch.events_per_s, "events/s"),
                Record("apiserver.watch.server_cpu_per_event", watch.server_us_per_event, "us"),
                Record("apiserver.watch.missing", watch.missing, "count")]
    records += [Record("sqlite_store.create.throughput", sqlite[0].throughput, "ops/s"),
                Record("sqlite_store.update.throughput", sqlite[1].throughput, "ops/s")]
    return records


async def run(settings: Settings, out: Path | None) -> int:
    conditions = {"mode": mode(settings.quick), "clients": settings.clients, "objects": settings.objects,
                  "watchers": settings.watchers, "watch_events": settings.watch_events}
    print(f"apiserver benchmark: {describe_conditions(conditions)}; {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="pykube-bench-") as tmp:
        work = Path(tmp)
        pykube = await run_pykube(work, settings)
        sqlite = run_sqlite_store(work, pykube.values, pykube.updated_values)
        print_phase("sqlite creates", sqlite[0])
        print_phase("sqlite updates", sqlite[1])
        why_not = etcd_available()
        etcd, peer = None, None
        if why_not is None:
            peer = etcd_version()
            etcd = await run_etcd(work, settings, pykube.values, pykube.updated_values)
        else:
            print(f"etcd peer skipped: missing {why_not}", flush=True)
    records = build_records(pykube, sqlite, etcd, peer)
    print_table(records)
    if etcd is not None:
        print(f"peer: {peer}, driven through the aetcd client with the same concurrency. etcd fsyncs its WAL "
              "on every commit; the apiserver's SQLite store (synchronous=NORMAL) does not (a commit survives "
              "the process dying, not the machine losing power).")
    if out is not None:
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    failed = pykube.updates.conflicts or pykube.watch.missing
    if failed:
        print(f"FAILED: {pykube.updates.conflicts} update conflicts, {pykube.watch.missing} watch events missing")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
