"""Hollow nodes: many real kubelets in one process, on the fake runtime (like kubemark).

    python -m kubelet.hollow --kubeconfig hollow.conf --nodes 1000 [--prefix hollow-]
                             [--stopped-file PATH]

Each hollow node is a real ``kubelet.kubelet.Kubelet``: it registers its Node, renews
its Lease, watches the Pods bound to it (its own informer, field selector
``spec.nodeName=<node>``), runs them through its pod workers against its own
``FakeRuntime`` (any image pulls, nothing is recorded; node number I hands out Pod IPs
from its own ``10.(128 + I // 256).(I % 256).0/24``) and reports their status.
What they share is the process, the event loop and one gRPC channel to the
apiserver (one ``AsyncAPI``): N kubelets cost N sets of Python objects and 2 N
watch streams on one HTTP/2 connection, not N processes and N connections.
``pykube up --hollow-nodes N`` runs this one process for all of its hollow nodes.

No log server: a hollow node has no container output worth serving; its Node
advertises the kubelet port it would have (10250).

One identity for all: the channel is one, so every hollow kubelet's call carries the same
client certificate (``--kubeconfig``). ``pykube up`` gives it ``pykube:hollow-nodes`` in
``system:masters``, not ``system:node:<name>``: the Node authorizer needs one node per
certificate, i.e. one channel per hollow node, which is what hollow nodes avoid (kubemark's
hollow nodes share one kubeconfig too). Hollow nodes are a load-test device with no
containers; the real kubelets' rights are tested with real kubelets. Starts are staggered a little
so that registration and the first Leases do not arrive as one burst, and so the
Lease heartbeats of N nodes spread over the interval instead of beating together.

Power cuts (``pykube stop-node hollow-K``): ``--stopped-file PATH`` names a text file
listing node names, one a line (``#`` comments and blank lines ignored; a missing file
lists none). A listed node is powered off: at start it is not started, and on SIGHUP
(the file is re-read then) a running one loses power: its kubelet's loops stop with no
goodbye (its Lease is no longer renewed, so the node lifecycle controller marks the Node
NotReady, as for a real node) and its fake containers die (exit 137, sandboxes gone
not-ready), as a Podman service finds them after a reboot. A node taken off the list
boots again: a fresh ``Kubelet`` on the same ``FakeRuntime`` re-registers, adopts the
dead containers and restarts those of Pods still bound to it (RESTARTS goes up).
Each re-read logs ``hollow nodes reconfigured`` with the stopped names, which is what
``pykube stop-node`` waits for.

Containers that finish (``--exit-after IMAGE=SECONDS[:CODE]``, repeatable): a container of
IMAGE exits by itself SECONDS after it started, with CODE (default 0), on every hollow node;
other images run until stopped. That is what lets the Pods of a Job succeed on hollow nodes
(bench.jobs); its figures are the fake runtime's, labelled ``kubelets: hollow``.

The process's own lines (``hollow nodes running`` with the nodes count and the RSS per
node, ``hollow nodes reconfigured``, ``hollow nodes stopped``) are logged at info
whatever ``--log-level`` says; the N kubelets log at ``--log-level`` (default warning).

Stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import structlog

from client.api import AsyncAPI
from client.batcher import Batcher
from client.config import ConfigError, add_connection_flags, component_settings
from component_base.logs import configure_logging
from component_base.service import run_until_signalled
from kubelet.config import KubeletConfig, add_settings_flags, config_from_flags
from kubelet.kubelet import Kubelet
from kubelet.runtime.fake import FakeRuntime, ImageBehavior

# The process's own few lifecycle lines: always at info, however quiet the kubelets are.
log = structlog.wrap_logger(None, wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                            logger_factory_args=("hollow",))

HOLLOW_KUBELET_PORT = 10250


def node_names(count: int, prefix: str = "hollow-", first: int = 1) -> list[str]:
    return [f"{prefix}{i}" for i in range(first, first + count)]


def hollow_pod_cidr(number: int) -> str:
    """Hollow node number ``number``'s pod subnet: a /24 of its own in 10.128.0.0/9 (real
    nodes have 10.88.I.0/24), so Pod IPs are unique cluster-wide, as they are with real nodes."""
    if not 0 <= number < 127 * 256:
        raise ValueError(f"no pod subnet for hollow node number {number}")
    return f"10.{128 + number // 256}.{number % 256}.0/24"


def read_stopped_file(path: str | Path | None) -> set[str]:
    """The node names a stopped file lists (one a line, ``#`` comments); none if it is missing."""
    if not path:
        return set()
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return set()
    names = set()
    for line in text.splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.add(name)
    return names


def parse_exit_after(value: str) -> tuple[str, ImageBehavior]:
    """``IMAGE=SECONDS[:CODE]`` -> (image, the behaviour: exit after SECONDS with CODE)."""
    image, sep, rest = value.rpartition("=")
    seconds, _, code = rest.partition(":")
    try:
        behavior = ImageBehavior(exit_after=float(seconds), exit_code=int(code or 0))
    except ValueError:
        behavior = None
    if not sep or not image or behavior is None or behavior.exit_after < 0 or not 0 <= behavior.exit_code <= 255:
        raise ValueError(f"--exit-after {value!r}: want IMAGE=SECONDS[:CODE] (SECONDS >= 0, CODE 0..255)")
    return image, behavior


def rss_bytes() -> int:
    """This process's resident set size (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


class HollowNodes:
    """N kubelets on fake runtimes sharing one AsyncAPI and one event loop.

    ``runtimes`` holds every node's FakeRuntime (its "machine", which outlives a power
    cut); ``kubelets`` the kubelets that run now (a powered-off node has none: dropping
    the object is the power cut, and costs nothing while it lasts)."""

    def __init__(self, api: AsyncAPI, names: list[str], *, config_template: KubeletConfig | None = None,
                 start_concurrency: int = 50, stopped: Iterable[str] = (), first: int = 1,
                 behaviors: Mapping[str, ImageBehavior] | None = None) -> None:
        """first: the number of the first node (its pod subnet is ``hollow_pod_cidr(first)``);
        behaviors: image -> what its containers do on every node (default: run until stopped)."""
        self.api = api
        self.batcher = Batcher(api, max_batch=200)  # every hollow node's status writes, batched together
        self.names = list(names)
        self._template = config_template or KubeletConfig(node_name="")
        self.runtimes: dict[str, FakeRuntime] = {
            name: FakeRuntime(node_name=name, any_image=True, record_calls=False,
                              pod_cidr=hollow_pod_cidr(number))
            for number, name in enumerate(self.names, first)}
        for runtime in self.runtimes.values():
            for image, behavior in (behaviors or {}).items():
                runtime.behave(image, behavior)
        self.stopped: set[str] = set(stopped) & set(self.names)
        self.kubelets: dict[str, Kubelet] = {
            name: self._new_kubelet(name) for name in self.names if name not in self.stopped}
        self._slots = asyncio.Semaphore(start_concurrency)
        self._lock = asyncio.Lock()  # one start / reconfigure at a time
        self.started = 0
        self._rss_before = rss_bytes()

    def _new_kubelet(self, name: str) -> Kubelet:
        config = KubeletConfig(**{**vars(self._template), "node_name": name})
        return Kubelet(self.api, self.runtimes[name], config, batcher=self.batcher)

    async def _start_one(self, kubelet: Kubelet, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._slots:
            await kubelet.start(HOLLOW_KUBELET_PORT)
        self.started += 1

    async def start(self) -> None:
        """Start every kubelet not listed as stopped (registration, informers, Leases);
        returns when all run."""
        async with self._lock:
            n = len(self.kubelets)
            # Spread the first Lease renewals over one interval: their loops keep that phase.
            spread = min(self._template.lease_interval, 0.002 * n) if n else 0.0
            await asyncio.gather(*(self._start_one(k, random.uniform(0, spread))
                                   for k in list(self.kubelets.values())))
        rss = rss_bytes()
        log.info("hollow nodes running", nodes=len(self.names), running=n, stopped=sorted(self.stopped),
                 rss_mib=round(rss / 2**20, 1),
                 per_node_kib=round((rss - self._rss_before) / 1024 / max(1, len(self.names)), 1))

    async def power_off(self, name: str) -> None:
        """Node ``name`` loses power: its kubelet's loops stop (no status, no Lease, no
        goodbye) and its containers die, as a power cut leaves them for the next boot."""
        kubelet = self.kubelets.pop(name, None)
        self.stopped.add(name)
        if kubelet is not None:
            await kubelet.stop()
        runtime = self.runtimes[name]
        for sandbox_id in list(runtime.sandboxes):
            await runtime.stop_sandbox(sandbox_id)  # every container exits 137, sandbox not ready

    async def power_on(self, name: str) -> None:
        """Boot node ``name`` again: a new kubelet on the node's runtime (what a reboot runs)."""
        self.stopped.discard(name)
        if name in self.kubelets:
            return
        kubelet = self.kubelets[name] = self._new_kubelet(name)
        await kubelet.start(HOLLOW_KUBELET_PORT)

    async def set_stopped(self, wanted: Iterable[str]) -> None:
        """Make exactly the nodes in ``wanted`` powered off (names not ours are ignored)."""
        wanted = set(wanted)
        unknown = sorted(wanted - set(self.names))
        if unknown:
            log.warning("hollow nodes: ignoring unknown names in the stopped file", names=unknown[:20])
        wanted &= set(self.names)
        async with self._lock:
            for name in sorted(wanted - self.stopped):
                await self.power_off(name)
            await asyncio.gather(*(self.power_on(name) for name in sorted(self.stopped - wanted)))
        log.info("hollow nodes reconfigured", nodes=len(self.names), running=len(self.kubelets),
                 stopped=sorted(self.stopped))

    async def stop(self) -> None:
        await asyncio.gather(*(k.stop() for k in self.kubelets.values()), return_exceptions=True)
        await self.batcher.close()
        await asyncio.gather(*(r.close() for r in self.runtimes.values()), return_exceptions=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubelet.hollow", description=__doc__.splitlines()[0])
    add_connection_flags(parser)
    parser.add_argument("--nodes", type=int, required=True, metavar="N", help="how many hollow nodes")
    parser.add_argument("--prefix", default="hollow-", help="node names are PREFIX1..PREFIXN (default %(default)s)")
    parser.add_argument("--first", type=int, default=1, metavar="I", help="number of the first node (default 1)")
    parser.add_argument("--stopped-file", default="", metavar="PATH",
                        help="names of powered-off nodes, one a line; re-read on SIGHUP")
    parser.add_argument("--exit-after", action="append", default=[], metavar="IMAGE=SECONDS[:CODE]",
                        help="containers of IMAGE exit SECONDS after starting, with CODE (default 0); repeatable")
    add_settings_flags(parser)  # the kubelet's own settings: `pykube up --kubelet-arg=...` reaches these too
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    parser.add_argument("--log-level", default="warning",
                        help="the kubelets' (default %(default)s: N kubelets are chatty)")
    args = parser.parse_args(argv)
    if args.nodes < 1 or args.first < 0 or args.first + args.nodes > 127 * 256:
        parser.error("--nodes must be >= 1, and --first + --nodes at most 32512 (pod subnets)")
    try:
        args.behaviors = dict(parse_exit_after(value) for value in args.exit_after)
    except ValueError as err:
        parser.error(str(err))
    try:
        args.settings = component_settings(args.server, args.kubeconfig)
    except ConfigError as err:
        parser.error(str(err))
    return args


def config_template(args: argparse.Namespace) -> KubeletConfig:
    return config_from_flags(args, node_name="")


async def serve(args: argparse.Namespace) -> None:
    api = AsyncAPI(args.settings.server, tls=args.settings.tls)
    hollow = HollowNodes(api, node_names(args.nodes, args.prefix, args.first), first=args.first,
                         config_template=config_template(args), stopped=read_stopped_file(args.stopped_file),
                         behaviors=args.behaviors)

    # SIGHUP: re-read the stopped file. Installed before anything starts (the default action
    # of SIGHUP would end the process); reloads queue behind a start in progress.
    reload = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload.set)

    async def reloader() -> None:
        while True:
            await reload.wait()
            reload.clear()
            if not args.stopped_file:
                log.warning("hollow nodes: SIGHUP without --stopped-file, nothing to re-read")
                continue
            try:
                await hollow.set_stopped(read_stopped_file(args.stopped_file))
            except Exception:  # one bad reload must not end N nodes
                log.exception("hollow nodes: reconfiguring failed")
    reloading = asyncio.create_task(reloader(), name="stopped-file")

    async def stop() -> None:
        reloading.cancel()
        await asyncio.gather(reloading, return_exceptions=True)
        await hollow.stop()
        await api.close()
        log.info("hollow nodes stopped", nodes=len(hollow.names), rss_mib=round(rss_bytes() / 2**20, 1))
    await run_until_signalled("hollow-kubelets", hollow.start, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_format, getattr(logging, args.log_level.upper(), logging.WARNING))
    try:
        asyncio.run(serve(args))
    except OSError as err:
        print(f"hollow kubelets: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
