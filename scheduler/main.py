"""``pykube-scheduler``: place unbound Pods on Nodes, in the foreground.

    pykube-scheduler --kubeconfig scheduler.conf [--config scheduler.yaml] [--log-format json|console]

The config file (YAML) may set the profile and the timings; everything has a default:

    schedulerName: default-scheduler
    podInitialBackoffSeconds: 1      # an unschedulable Pod waits 1 s, 2 s, 4 s ... up to
    podMaxBackoffSeconds: 10
    assumedPodTTLSeconds: 30         # forget an assumed Pod unconfirmed this long after its Bind
    parallelBinds: 2                 # Batch calls of Binds in flight at once (each up to 500 Binds)
    plugins:
      filter: [NodeReady, TaintToleration, NodeSelector, ResourcesFit, VolumeBinding, PodSpread]
      score:
        - {name: PodSpread, weight: 2}
        - {name: LeastAllocated, weight: 1}
        - {name: TaintToleration, weight: 1}
    pluginConfig:
      PodSpread: {maxSkew: 1}

Stops cleanly on SIGTERM or Ctrl-C (running Binds get a few seconds to finish)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from client.api import AsyncAPI
from client.config import ConfigError as ClientConfigError, add_connection_flags, component_settings
from component_base.logs import add_log_format_flag, configure_logging
from component_base.service import run_until_signalled
from scheduler.framework import SchedulerConfig, load_config
from scheduler.interface import ConfigError
from scheduler.plugins import REGISTRY
from scheduler.scheduler import Scheduler

log = structlog.get_logger("scheduler")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, SchedulerConfig]:
    parser = argparse.ArgumentParser(prog="pykube-scheduler", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    add_connection_flags(parser)
    parser.add_argument("--config", default=None, metavar="FILE", help="scheduler configuration (YAML)")
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, REGISTRY)
    except ConfigError as err:
        parser.error(f"--config: {err}")
    try:
        args.settings = component_settings(args.server, args.kubeconfig)
    except ClientConfigError as err:
        parser.error(str(err))
    configure_logging(args.log_format)
    return args, config


async def serve(args: argparse.Namespace, config: SchedulerConfig) -> None:
    api = AsyncAPI(args.settings.server, tls=args.settings.tls)
    scheduler = Scheduler(api, config)

    async def stop() -> None:
        await scheduler.stop()
        await api.close()
        log.info("scheduler stopped", **dict(scheduler.stats))
    await run_until_signalled("scheduler", scheduler.start, stop)


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    try:
        asyncio.run(serve(args, config))
    except OSError as err:
        print(f"pykube-scheduler: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
