"""``pykube-proxy``: a node's Service rules, host-gw routes and cluster DNS, in the foreground.

    pykube-proxy --kubeconfig proxy.conf --node-name n1 [--netns /run/netns/pykube-c-n1]
    pykube-proxy --cleanup [--netns PATH]

Watches Services, EndpointSlices and Nodes and programs the node's network namespace (its own,
or the one of --netns): the nftables table ``ip pykube-proxy`` (ClusterIPs, NodePorts,
masquerade), routes to the other nodes' pod CIDRs, ip_forward, and a DNS server for the
cluster domain on the cluster DNS address. Logs "proxy running" once the first full sync is
programmed. SIGTERM or Ctrl-C stops it and leaves the rules in place (kube-proxy does the
same); --cleanup removes them."""

from __future__ import annotations

import asyncio
import sys

import structlog

from client.api import AsyncAPI
from client.config import ConfigError, Settings, component_settings
from component_base.logs import configure_logging
from component_base.service import run_until_signalled
from proxy.config import ProxyConfig, parse_config
from proxy.program import Programmer, ProgramError, missing_tools
from proxy.proxier import Proxier

log = structlog.get_logger("proxy")


async def serve(config: ProxyConfig, settings: Settings) -> None:
    api = AsyncAPI(settings.server, tls=settings.tls)
    proxier = Proxier(api, config)

    async def stop() -> None:
        await proxier.stop()
        await api.close()
        log.info("proxy stopped", syncs=proxier.syncs)
    await run_until_signalled("proxy", proxier.start, stop)


def main(argv: list[str] | None = None) -> int:
    config, log_format = parse_config(argv, __doc__.splitlines()[0])
    missing = missing_tools()
    if missing:
        print(f"pykube-proxy: needs {', '.join(missing)}: install it (scripts/bootstrap.sh does, as root)",
              file=sys.stderr)
        return 1
    configure_logging(log_format)
    try:
        settings = component_settings(config.server, config.kubeconfig)
    except ConfigError as err:
        print(f"pykube-proxy: {err}", file=sys.stderr)
        return 1
    try:
        if config.cleanup:
            asyncio.run(Programmer(config.netns).cleanup())
            log.info("proxy cleaned up", netns=config.netns or None)
        else:
            asyncio.run(serve(config, settings))
    except (OSError, ProgramError) as err:
        print(f"pykube-proxy: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
