"""``pykube-controller-manager``: run the cluster's controllers, in the foreground.

The Deployment, ReplicaSet, node lifecycle and garbage-collector controllers share
one set of informers.

    pykube-controller-manager --server 127.0.0.1:6443 [--controllers deployment,replicaset,...]

Logs JSON lines to stderr ("controller-manager running" once its caches synced) and
stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import structlog

from client.api import AsyncAPI
from client.logs import configure_logging
from client.service import run_until_signalled
from controllers.manager import ALL_CONTROLLERS, ControllerManager, ManagerConfig
from controllers.node_lifecycle import NodeLifecycleConfig

log = structlog.get_logger("controller-manager")


def _seconds(text: str) -> float:
    value = float(text.rstrip("s"))  # "8" or "8s"
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, ManagerConfig]:
    parser = argparse.ArgumentParser(prog="pykube-controller-manager", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:6443", metavar="HOST:PORT", help="the apiserver")
    parser.add_argument("--controllers", default=",".join(ALL_CONTROLLERS), metavar="NAME,...",
                        help="controllers to run (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=4, help="workers per controller (default %(default)s)")
    parser.add_argument("--node-monitor-period", type=_seconds, default=1.0, metavar="SECONDS",
                        help="how often node health is checked (default %(default)s)")
    parser.add_argument("--node-monitor-grace-period", type=_seconds, default=8.0, metavar="SECONDS",
                        help="silence after which a node is NotReady (default %(default)s)")
    parser.add_argument("--pod-eviction-timeout", type=_seconds, default=0.0, metavar="SECONDS",
                        help="how long Pods stay on a NotReady node before deletion (default %(default)s)")
    parser.add_argument("--terminating-pod-gc-delay", type=_seconds, default=10.0, metavar="SECONDS",
                        help="Terminating Pods on an unreachable node are force-deleted after this "
                             "(default %(default)s)")
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    args = parser.parse_args(argv)
    names = tuple(n.strip() for n in args.controllers.split(",") if n.strip())
    unknown = [n for n in names if n not in ALL_CONTROLLERS]
    if unknown:
        parser.error(f'unknown controller "{unknown[0]}" (known: {", ".join(ALL_CONTROLLERS)})')
    if not names:
        parser.error("--controllers names no controller")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.node_monitor_period <= 0:
        parser.error("--node-monitor-period must be positive")
    configure_logging(args.log_format)
    config = ManagerConfig(
        controllers=names, workers=args.workers, host=socket.gethostname(),
        node=NodeLifecycleConfig(monitor_period=args.node_monitor_period,
                                 grace_period=args.node_monitor_grace_period,
                                 pod_eviction_timeout=args.pod_eviction_timeout,
                                 terminating_pod_gc_delay=args.terminating_pod_gc_delay))
    return args, config


async def serve(args: argparse.Namespace, config: ManagerConfig) -> None:
    api = AsyncAPI(args.server)
    manager = ControllerManager(api, config)

    async def stop() -> None:
        await manager.stop()
        await api.close()
        log.info("controller-manager stopped")
    await run_until_signalled("controller-manager", manager.start, stop)


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    try:
        asyncio.run(serve(args, config))
    except OSError as err:
        print(f"pykube-controller-manager: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
