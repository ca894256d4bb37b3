"""Hollow nodes: many real kubelets in one process, on the fake runtime (like kubemark).

    python -m kubelet.hollow --server 127.0.0.1:6443 --nodes 1000 [--prefix hollow-]

Each hollow node is a real ``kubelet.kubelet.Kubelet``: it registers its Node, renews
its Lease, watches the Pods bound to it (its own informer, field selector
``spec.nodeName=<node>``), runs them through its pod workers against its own
``FakeRuntime`` (any image pulls, nothing is recorded) and reports their status.
What they share is the process, the event loop and one gRPC channel to the
apiserver (one ``AsyncAPI``): N kubelets cost N sets of Python objects and 2 N
watch streams on one HTTP/2 connection, not N processes and N connections.

No log server: a hollow node has no container output worth serving; its Node
advertises the kubelet port it would have (10250). Starts are staggered a little
so that registration and the first Leases do not arrive as one burst, and so the
Lease heartbeats of N nodes spread over the interval instead of beating together.

Stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

import structlog

from client.api import AsyncAPI
from client.logs import configure_logging
from client.service import run_until_signalled
from kubelet.config import KubeletConfig
from kubelet.kubelet import Kubelet
from kubelet.runtime.fake import FakeRuntime

log = structlog.get_logger("hollow")

HOLLOW_KUBELET_PORT = 10250


def node_names(count: int, prefix: str = "hollow-", first: int = 1) -> list[str]:
    return [f"{prefix}{i}" for i in range(first, first + count)]


class HollowNodes:
    """N kubelets on fake runtimes sharing one AsyncAPI and one event loop."""

    def __init__(self, api: AsyncAPI, names: list[str], *, config_template: KubeletConfig | None = None,
                 start_concurrency: int = 50) -> None:
        self.api = api
        self.kubelets: list[Kubelet] = []
        template = config_template or KubeletConfig(node_name="")
        for name in names:
            config = KubeletConfig(**{**vars(template), "node_name": name})
            runtime = FakeRuntime(node_name=name, any_image=True, record_calls=False)
            self.kubelets.append(Kubelet(api, runtime, config))
        self._slots = asyncio.Semaphore(start_concurrency)
        self.started = 0

    async def _start_one(self, kubelet: Kubelet, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._slots:
            await kubelet.start(HOLLOW_KUBELET_PORT)
        self.started += 1

    async def start(self) -> None:
        """Start every kubelet (registration, informers, Leases); returns when all run."""
        n = len(self.kubelets)
        # Spread the first Lease renewals over one interval: their loops keep that phase.
        spread = min(self.kubelets[0].config.lease_interval, 0.002 * n) if n else 0.0
        await asyncio.gather(*(self._start_one(k, random.uniform(0, spread)) for k in self.kubelets))
        log.info("hollow nodes running", nodes=n)

    async def stop(self) -> None:
        await asyncio.gather(*(k.stop() for k in self.kubelets), return_exceptions=True)
        await asyncio.gather(*(k.runtime.close() for k in self.kubelets), return_exceptions=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubelet.hollow", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:6443", metavar="HOST:PORT", help="the apiserver")
    parser.add_argument("--nodes", type=int, required=True, metavar="N", help="how many hollow nodes")
    parser.add_argument("--prefix", default="hollow-", help="node names are PREFIX1..PREFIXN (default %(default)s)")
    parser.add_argument("--first", type=int, default=1, metavar="I", help="number of the first node (default 1)")
    parser.add_argument("--node-ip", default="127.0.0.1", help="the address the Nodes advertise")
    parser.add_argument("--lease-interval", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--relist-interval", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--max-pods", type=int, default=110)
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    parser.add_argument("--log-level", default="warning", help="(default %(default)s: N kubelets are chatty)")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be >= 1")
    return args


async def serve(args: argparse.Namespace) -> None:
    api = AsyncAPI(args.server)
    template = KubeletConfig(node_name="", node_ip=args.node_ip, lease_interval=args.lease_interval,
                             relist_interval=args.relist_interval, max_pods=args.max_pods)
    hollow = HollowNodes(api, node_names(args.nodes, args.prefix, args.first), config_template=template)

    async def stop() -> None:
        await hollow.stop()
        await api.close()
        log.warning("hollow nodes stopped", nodes=args.nodes)
    await run_until_signalled("hollow-kubelets", hollow.start, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import logging
    configure_logging(args.log_format, getattr(logging, args.log_level.upper(), logging.WARNING))
    try:
        asyncio.run(serve(args))
    except OSError as err:
        print(f"hollow kubelets: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
