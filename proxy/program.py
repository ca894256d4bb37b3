"""The thin executor: puts the proxy's pure decisions into the node's network namespace.

Everything goes through the ordinary tools, as kube-proxy's nftables mode does (``nft``,
``ip``, ``sysctl``), each run inside the node's namespace with ``nsenter --net=<path>`` when
the proxy was given ``--netns`` (the local cluster), or in its own namespace (a VM).

* rules: one ``nft -f -`` transaction per change, applied whole or not at all: the full table
  the first time (``add table``, ``delete table``, the definition: nothing stale survives a
  restart), then only what changed (proxy/nftables.py says why);
* UDP flows: ``conntrack -D`` for flows left pointing at a removed endpoint (rules.StaleFlow);
* routes: ``ip route replace <cidr> via <node IP> proto 112`` for each wanted route, ``ip route
  del`` for routes of protocol 112 no longer wanted;
* node set-up: ``net.ipv4.ip_forward=1``, and the dummy interface ``pykube-dns`` (a bridge without
  ports where the kernel has no dummy driver) holding the
  cluster DNS address (/32) and the route of the service CIDR. That route is what lets the
  node's own processes connect to ClusterIPs although the lab's namespaces have no default
  route (a real node's default route plays that part): the packet is routed to the dummy, then
  the nat output hook DNATs it to a Pod and it is routed again. A ClusterIP without endpoints
  arriving from a Pod is routed there too, so the forward hook can reject it.
"""

from __future__ import annotations

import asyncio
import json
import shutil

import structlog

from component_base.netns import nsenter_prefix
from proxy import nftables, rules
from proxy.nftables import Table
from proxy.routes import ROUTE_PROTO, Route

log = structlog.get_logger("proxy")

DNS_INTERFACE = "pykube-dns"
TOOLS = {"nft": "nftables", "ip": "iproute2", "bridge": "iproute2", "conntrack": "conntrack", "sysctl": "procps",
         "nsenter": "util-linux"}


class ProgramError(RuntimeError):
    """A command failed; the message names it and what it said."""


def missing_tools() -> list[str]:
    """The tools pykube-proxy runs that are not installed, as 'nft (package nftables)'."""
    return [f"{tool} (package {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]


class Programmer:
    def __init__(self, netns: str = "") -> None:
        self.prefix = nsenter_prefix(netns) if netns else []

    async def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix, *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        if check and proc.returncode != 0:
            raise ProgramError(f"{' '.join(argv[:4])}: {err.decode().strip() or f'exit {proc.returncode}'}")
        return out.decode()

    async def apply_rules(self, old: Table | None, new: Table) -> None:
        """Turn table ip pykube-proxy from ``old`` (what this proxy last wrote; None: unknown)
        into ``new``, in one transaction that touches only what differs (see proxy/nftables.py)."""
        transaction = nftables.update_transaction(old, new)
        if transaction:
            await self.run("nft", "-f", "-", stdin=transaction)

    async def listing(self) -> str:
        """``nft list table ip pykube-proxy`` as the kernel has it now ("" when there is none): compared
        with the listing after the last write, it shows whether anybody else changed the table."""
        return await self.run("nft", "list", "table", "ip", rules.TABLE, check=False)

    async def hairpin_bridge_ports(self) -> None:
        """Hairpin mode on every bridge port of the node, so that a Pod reaching itself through
        its Service gets its packets back on the port they came from. Kubernetes' kubelet does
        this (``--hairpin-mode=hairpin-veth``, the CNI bridge plugin's ``hairpinMode``); Podman's
        netavark has no such option, so the node's network agent does it for the Pods' bridge."""
        out = await self.run("bridge", "-d", "-j", "link", "show", check=False)
        for port in json.loads(out or "[]"):
            if port.get("master") and port.get("hairpin") is False:
                await self.run("ip", "link", "set", port["ifname"], "type", "bridge_slave", "hairpin", "on",
                               check=False)

    async def clear_udp_flows(self, flows: list[rules.StaleFlow]) -> None:
        """``conntrack -D`` per stale flow; "0 flow entries deleted" (exit 1) is no error."""
        for flow in flows:
            argv = ["conntrack", "-D", "-p", "udp", "--orig-port-dst", str(flow.port)]
            if flow.destination:
                argv += ["--orig-dst", flow.destination]
            if flow.endpoint:
                argv += ["--dst-nat", flow.endpoint]
            await self.run(*argv, check=False)

    async def setup_node(self, dns_ip: str, service_cidr: str) -> list[Route]:
        """ip_forward, the DNS dummy interface with its address; returns the route to keep for the
        service CIDR (applied with the host-gw routes)."""
        await self.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        links = await self.run("ip", "-j", "link", "show", "dev", DNS_INTERFACE, check=False)
        if not links.strip():
            try:
                await self.run("ip", "link", "add", DNS_INTERFACE, "type", "dummy")
            except ProgramError as err:
                # Kernels built without the dummy driver (some microVMs): a bridge without ports
                # holds an address and a route just as well.
                log.info("no dummy interfaces here, using a bridge without ports", error=str(err))
                await self.run("ip", "link", "add", DNS_INTERFACE, "type", "bridge")
        await self.run("ip", "addr", "replace", f"{dns_ip}/32", "dev", DNS_INTERFACE)
        await self.run("ip", "link", "set", DNS_INTERFACE, "up")
        return [Route(service_cidr, device=DNS_INTERFACE)]

    async def current_routes(self) -> set[str]:
        out = await self.run("ip", "-j", "-4", "route", "show", "proto", str(ROUTE_PROTO))
        return {r["dst"] for r in json.loads(out or "[]")}

    async def apply_routes(self, wanted: list[Route]) -> list[str]:
        """Make pykube-proxy's routes exactly ``wanted``; returns the errors of routes that could
        not be set (e.g. a gateway not on any connected network), which do not stop the others."""
        errors = []
        for route in wanted:
            try:
                await self.run("ip", "route", "replace", *route.args(), "proto", str(ROUTE_PROTO))
            except ProgramError as err:
                errors.append(str(err))
        keep = {r.destination for r in wanted}
        for destination in sorted(await self.current_routes() - keep):
            await self.run("ip", "route", "del", destination, "proto", str(ROUTE_PROTO), check=False)
        return errors

    async def cleanup(self) -> None:
        """``--cleanup``: the table, the routes and the DNS interface go (whatever exists)."""
        await self.run("nft", "-f", "-", stdin=rules.cleanup_transaction())
        await self.apply_routes([])
        await self.run("ip", "link", "del", DNS_INTERFACE, check=False)
