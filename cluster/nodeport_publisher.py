"""Publish every NodePort on the host's ``127.0.0.1:<nodePort>``, as kind's port mappings do.

A NodePort answers on every node's IP (pykube-proxy's rules in each node), but the node IPs
live on the cluster network (:mod:`cluster.cluster_network`), which the root namespace has no
route into, by the lab's safety rule. So this small process (component ``nodeports`` of
`pykube up`) watches the Services and, for each TCP NodePort, listens on the host's loopback
and relays every connection to ``<a Ready node's IP>:<nodePort>``, from a socket created in
the cluster's switch namespace: the host reaches the cluster the way a client on the switch
would, and no route is ever added.

Nodes are tried in turn (each connection starts at the next one, so connections spread), a
node that refuses or does not answer (powered off) is skipped. A port already taken on the
host is logged and reported as a Warning Event on the Service; the others are published still.

The decisions (which ports, which nodes, in which order) are pure functions, unit-tested; the
executor below them opens and closes listeners and relays bytes (with :func:`cluster.relay.splice`).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import sys
from collections.abc import Iterable, Sequence

import structlog

from apimachinery.ports import protocol_of
from client.api import AsyncAPI
from client.config import ConfigError, add_connection_flags, component_settings
from client.events import EventRecorder
from client.informer import Informer
from cluster.cluster_network import NODE_NETWORK
from cluster.relay import splice
from component_base.logs import add_log_format_flag, configure_logging
from component_base.netns import socket_in_netns
from component_base.service import run_until_signalled
from protos import core_pb2

log = structlog.get_logger("nodeports")

HOST = "127.0.0.1"
DIAL_TIMEOUT = 1.0  # seconds: a node that neither answers nor refuses is passed over
NODEPORT_TYPES = ("NodePort", "LoadBalancer")


# --------------------------------------------------------------------------- decisions (pure)


def wanted_ports(services: Iterable[core_pb2.Service]) -> dict[int, str]:
    """nodePort -> "namespace/name" of the Service, for every TCP NodePort (the first Service
    wins if two claim one port, which the apiserver's allocator does not allow anyway)."""
    wanted: dict[int, str] = {}
    for service in services:
        if service.spec.type not in NODEPORT_TYPES:
            continue
        for port in service.spec.ports:
            if port.node_port > 0 and protocol_of(port) == "TCP":
                wanted.setdefault(port.node_port, f"{service.metadata.namespace}/{service.metadata.name}")
    return wanted


def listener_changes(wanted: dict[int, str], open_ports: Iterable[int]) -> tuple[list[int], list[int]]:
    """(ports to open, ports to close), each sorted."""
    current = set(open_ports)
    return sorted(set(wanted) - current), sorted(current - set(wanted))


def node_ips(nodes: Iterable[core_pb2.Node], network: ipaddress.IPv4Network = NODE_NETWORK) -> list[str]:
    """InternalIPs on the cluster network of the Ready nodes, by node name (hollow nodes and
    others off the cluster network have none to offer)."""
    found = []
    for node in sorted(nodes, key=lambda n: n.metadata.name):
        ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
        if ready is None or ready.status != "True":
            continue
        for address in node.status.addresses:
            if address.type == "InternalIP" and _inside(address.address, network):
                found.append(address.address)
                break
    return found


def _inside(address: str, network: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False


def dial_order(ips: Sequence[str], turn: int) -> list[str]:
    """The nodes to try for the ``turn``-th connection: all of them, starting at the next one."""
    if not ips:
        return []
    start = turn % len(ips)
    return [*ips[start:], *ips[:start]]


# --------------------------------------------------------------------------- the executor


class NodePortPublisher:
    def __init__(self, api: AsyncAPI, switch_netns: str, host: str = HOST,
                 node_network: ipaddress.IPv4Network = NODE_NETWORK) -> None:
        self.api = api
        self.switch_netns = switch_netns
        self.host = host
        self.node_network = node_network
        self.services = Informer(api, "Service")
        self.nodes = Informer(api, "Node")
        self.events = EventRecorder(api, "nodeport-publisher")
        self.servers: dict[int, asyncio.AbstractServer] = {}
        self.refused: set[int] = set()  # ports the host would not give us (reported once)
        self._changed = asyncio.Event()
        self._turns = itertools.count()
        self.services.add_handler(lambda event, obj, old: self._changed.set())

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in (self.services, self.nodes)]
        tasks.append(asyncio.create_task(self.events.run()))
        try:
            await self.services.synced.wait()
            await self.nodes.synced.wait()
            await self.sync()
            log.info("nodeport publisher running", ports=sorted(self.servers))
            while True:
                await self._changed.wait()
                self._changed.clear()
                await self.sync()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for server in self.servers.values():
                server.close()

    async def sync(self) -> None:
        wanted = wanted_ports(self.services.items())  # type: ignore[arg-type]
        to_open, to_close = listener_changes(wanted, self.servers)
        for port in to_close:
            self.servers.pop(port).close()
            log.info("nodeport unpublished", port=port)
        self.refused &= set(wanted)
        for port in to_open:
            try:
                self.servers[port] = await asyncio.start_server(
                    lambda r, w, port=port: self._relay(port, r, w), self.host, port)
            except OSError as err:
                if port not in self.refused:
                    self.refused.add(port)
                    self._report_refused(wanted[port], port, err)
                continue
            self.refused.discard(port)
            log.info("nodeport published", port=port, service=wanted[port], address=f"{self.host}:{port}")

    def _report_refused(self, service_key: str, port: int, err: OSError) -> None:
        message = f"cannot publish nodePort {port} on the host's {self.host}:{port}: {err.strerror or err}"
        log.warning("nodeport not published", port=port, service=service_key, error=str(err))
        service = self.services.get(service_key)
        if service is not None:
            self.events.record(service, "Warning", "NodePortNotPublished", message)

    async def _relay(self, port: int, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        order = dial_order(node_ips(self.nodes.items(), self.node_network),  # type: ignore[arg-type]
                           next(self._turns))
        for ip in order:
            try:
                upstream_r, upstream_w = await self._dial(ip, port)
            except OSError as err:
                log.debug("node passed over", node_ip=ip, port=port, error=str(err))
                continue
            await splice(client_r, client_w, upstream_r, upstream_w)
            return
        log.warning("no node answered", port=port, tried=order)
        client_w.close()

    async def _dial(self, ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ip:port from a socket that belongs to the switch namespace."""
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, socket_in_netns, self.switch_netns)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), DIAL_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as err:
            sock.close()
            raise OSError(f"{ip}:{port}: {err or 'timed out'}") from None
        return await asyncio.open_connection(sock=sock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.nodeport_publisher",
                                     description=__doc__.splitlines()[0])
    add_connection_flags(parser)
    parser.add_argument("--switch-netns", required=True, metavar="PATH",
                        help="the cluster network's switch namespace (/run/netns/pykube-<cluster>-net)")
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    try:
        settings = component_settings(args.server, args.kubeconfig)
    except ConfigError as err:
        parser.error(str(err))
    configure_logging(args.log_format)

    async def serve() -> None:
        api = AsyncAPI(settings.server, tls=settings.tls)
        publisher = NodePortPublisher(api, args.switch_netns)
        # run() serves until cancelled (the signal); its failure ends the process with the error.
        await run_until_signalled("nodeports", publisher.run, api.close)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
