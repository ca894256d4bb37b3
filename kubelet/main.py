"""``pykubelet``: the node agent, in the foreground.

    pykubelet --kubeconfig kubelet.conf --node-name n1 --podman-url unix:///run/pykube/n1/podman.sock

Stops cleanly on SIGTERM or Ctrl-C, leaving the node's containers running (a
restarted kubelet adopts them)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from client.api import AsyncAPI
from client.config import ConfigError, add_connection_flags, component_settings
from component_base.logs import add_log_format_flag, configure_logging
from component_base.service import run_until_signalled
from kubelet.config import KubeletConfig, add_settings_flags, config_from_flags
from kubelet.kubelet import Kubelet
from component_base.netns import netns_executor

log = structlog.get_logger("kubelet")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, KubeletConfig]:
    parser = argparse.ArgumentParser(prog="pykubelet", description=__doc__.splitlines()[0])
    add_connection_flags(parser)
    parser.add_argument("--node-name", required=True, help="this node's name (a DNS-1123 subdomain)")
    parser.add_argument("--runtime", choices=("podman", "fake"), default="podman",
                        help="podman (real containers) or fake (hollow node: no containers)")
    parser.add_argument("--podman-url", default="", metavar="unix:///PATH",
                        help="the node's Podman API socket (podman system service)")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="where the kubelet's own service (logs) listens (default %(default)s)")
    parser.add_argument("--probe-netns", default="", metavar="PATH",
                        help="network namespace to run httpGet/tcpSocket probes from (the node's)")
    add_settings_flags(parser)
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    if args.runtime == "podman" and not args.podman_url:
        parser.error("--podman-url is required with --runtime podman")
    try:
        args.settings = component_settings(args.server, args.kubeconfig)
    except ConfigError as err:
        parser.error(str(err))
    host, _, port = args.listen.rpartition(":")
    config = config_from_flags(args, args.node_name, listen_host=host or "127.0.0.1", listen_port=int(port or 0),
                               probe_netns=args.probe_netns)
    configure_logging(args.log_format)
    return args, config


def make_runtime(args: argparse.Namespace, config: KubeletConfig):
    if args.runtime == "fake":
        from kubelet.runtime.fake import FakeRuntime
        return FakeRuntime(node_name=config.node_name, any_image=True, record_calls=False)
    from kubelet.runtime.podman import PodmanRuntime
    # Container defaults (ulimits, OCI runtime, cgroup manager) come from the node's
    # containers.conf, written for this host by cluster.podman_node.
    return PodmanRuntime(args.podman_url, config.node_name)


async def serve(args: argparse.Namespace, config: KubeletConfig) -> None:
    api = AsyncAPI(args.settings.server, tls=args.settings.tls)
    runtime = make_runtime(args, config)
    executor = None
    if config.probe_netns:
        executor = netns_executor(config.probe_netns)
    kubelet = Kubelet(api, runtime, config, executor)
    from kubelet.log_server import start_log_server
    server, port = await start_log_server(runtime, kubelet.find_container,
                                          listen=f"{config.listen_host}:{config.listen_port}")

    async def stop() -> None:
        await kubelet.stop()
        await server.stop(1.0)
        await runtime.close()
        await api.close()
        if executor is not None:
            executor.shutdown(wait=False)
        log.info("kubelet stopped", node=config.node_name)
    await run_until_signalled("kubelet", lambda: kubelet.start(port), stop)


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    try:
        asyncio.run(serve(args, config))
    except OSError as err:
        print(f"pykubelet: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
