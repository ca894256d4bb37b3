"""``pykube-controller-manager``: run the cluster's controllers, in the foreground.

The Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob, node lifecycle, garbage-collector, EndpointSlice,
PersistentVolume binder, local-path provisioner and node IPAM controllers share one set of informers.

    pykube-controller-manager --kubeconfig controller-manager.conf [--controllers deployment,replicaset,...]

Logs JSON lines to stderr ("controller-manager running" once its caches synced) and
stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import structlog

from client.api import AsyncAPI
from client.config import ConfigError, add_connection_flags, component_settings
from component_base.flags import add_config_flag, bool_arg, field_default, non_negative_duration_arg
from component_base.logs import add_log_format_flag, configure_logging
from component_base.service import run_until_signalled
from controllers.endpointslice import EndpointSliceConfig
from controllers.local_path import LocalPathConfig
from controllers.manager import ALL_CONTROLLERS, ControllerManager, ManagerConfig
from controllers.node_ipam import NodeIPAMConfig, check_config
from controllers.node_lifecycle import NodeLifecycleConfig

log = structlog.get_logger("controller-manager")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, ManagerConfig]:
    parser = argparse.ArgumentParser(prog="pykube-controller-manager", description=__doc__.splitlines()[0])
    add_connection_flags(parser)
    parser.add_argument("--controllers", default=",".join(field_default(ManagerConfig, "controllers")),
                        metavar="NAME,...", help="controllers to run (default: %(default)s)")
    add_config_flag(parser, "--workers", ManagerConfig, "workers", help="workers per controller")
    for flag, name, text in (
            ("--node-monitor-period", "monitor_period", "how often node health is checked"),
            ("--node-monitor-grace-period", "grace_period", "silence after which a node is NotReady"),
            ("--pod-eviction-timeout", "pod_eviction_timeout",
             "how long Pods stay on a NotReady node before deletion"),
            ("--terminating-pod-gc-delay", "terminating_pod_gc_delay",
             "Terminating Pods on an unreachable node are force-deleted after this")):
        add_config_flag(parser, flag, NodeLifecycleConfig, name, type=non_negative_duration_arg,
                        metavar="SECONDS", help=text)
    add_config_flag(parser, "--max-endpoints-per-slice", EndpointSliceConfig, "max_endpoints_per_slice",
                    metavar="N", help="the most endpoints one EndpointSlice holds")
    add_config_flag(parser, "--endpointslice-updates-batch-period", EndpointSliceConfig, "updates_batch_period",
                    type=non_negative_duration_arg, metavar="SECONDS",
                    help="how long Pod changes wait to be written to EndpointSlices together")
    add_config_flag(parser, "--allocate-node-cidrs", NodeIPAMConfig, "allocate_node_cidrs", type=bool_arg,
                    nargs="?", const=True, metavar="BOOL", help="give each Node a podCIDR of the cluster CIDR")
    add_config_flag(parser, "--cluster-cidr", NodeIPAMConfig, "cluster_cidr", metavar="CIDR",
                    help="the range of every Pod IP")
    add_config_flag(parser, "--node-cidr-mask-size", NodeIPAMConfig, "node_cidr_mask_size", metavar="BITS",
                    help="the prefix length of each Node's podCIDR")
    add_config_flag(parser, "--local-path-helper-image", LocalPathConfig, "helper_image", metavar="IMAGE",
                    help="the image of the local-path provisioner's helper Pod (rm -rf of a deleted volume)")
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    try:
        args.settings = component_settings(args.server, args.kubeconfig)
    except ConfigError as err:
        parser.error(str(err))
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
    if not 1 <= args.max_endpoints_per_slice <= 1000:
        parser.error("--max-endpoints-per-slice must be between 1 and 1000")
    ipam = NodeIPAMConfig(allocate_node_cidrs=args.allocate_node_cidrs, cluster_cidr=args.cluster_cidr,
                          node_cidr_mask_size=args.node_cidr_mask_size)
    if ipam.allocate_node_cidrs and (problem := check_config(ipam)):
        parser.error(problem)
    configure_logging(args.log_format)
    config = ManagerConfig(
        controllers=names, workers=args.workers, host=socket.gethostname(),
        node=NodeLifecycleConfig(monitor_period=args.node_monitor_period,
                                 grace_period=args.node_monitor_grace_period,
                                 pod_eviction_timeout=args.pod_eviction_timeout,
                                 terminating_pod_gc_delay=args.terminating_pod_gc_delay),
        endpointslice=EndpointSliceConfig(max_endpoints_per_slice=args.max_endpoints_per_slice,
                                          updates_batch_period=args.endpointslice_updates_batch_period),
        ipam=ipam, local_path=LocalPathConfig(helper_image=args.local_path_helper_image))
    return args, config


async def serve(args: argparse.Namespace, config: ManagerConfig) -> None:
    api = AsyncAPI(args.settings.server, tls=args.settings.tls)
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
