"""The proxy's loop: informers in, one programming per burst of changes out.

Services, EndpointSlices and Nodes are watched with the shared informers every component uses.
Any change only marks the state dirty; the sync loop then computes everything from the caches
(the pure functions of rules.py, routes.py and dns.py) and applies what differs from the last
successful sync: the nft transaction of what changed in the table (then ``conntrack -D`` of the
UDP flows the change left stale), the routes when the wanted set changed; the DNS index is
swapped in every time. Every --sync-period the table in the kernel is compared with what the
proxy wrote (``nft list``), and replaced whole if anybody changed it. The first change
after a quiet moment is programmed at once; changes that arrive while a sync runs are taken
together by the next one (at most one per --min-sync-period), so a burst costs two syncs, not
one per object. A failed sync is retried with back-off, keeping the dirty mark.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from client.api import AsyncAPI
from client.informer import SharedInformers
from proxy import rules
from proxy.config import ProxyConfig
from proxy.dns import DnsIndex, DnsServer, build_index
from proxy.program import Programmer, ProgramError
from proxy.routes import Route, host_gw_routes

log = structlog.get_logger("proxy")

RETRY_INITIAL, RETRY_MAX = 0.1, 5.0


class Proxier:
    def __init__(self, api: AsyncAPI, config: ProxyConfig, programmer: Programmer | None = None) -> None:
        self.config = config
        self.facts = rules.NodeFacts(node_name=config.node_name, cluster_cidr=config.cluster_cidr)
        self.programmer = programmer or Programmer(config.netns)
        self.informers = SharedInformers(api)
        self.services = self.informers.get("Service")
        self.slices = self.informers.get("EndpointSlice")
        self.nodes = self.informers.get("Node")
        self.dirty = asyncio.Event()
        for informer in (self.services, self.slices, self.nodes):
            informer.add_handler(lambda *_: self.dirty.set())
        self.dns_index = DnsIndex(config.cluster_domain)
        self.dns = DnsServer(config.cluster_dns_ip, config.dns_port, lambda: self.dns_index, config.netns)
        self.fixed_routes: list[Route] = []
        self.last_table: rules.Table | None = None  # what the kernel holds, as this proxy wrote it
        self.last_listing = ""  # ``nft list table`` right after that write
        self.last_ports: list[rules.ServicePortRules] | None = None
        self.last_routes: list[Route] | None = None
        self.syncs = 0
        self.loop_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Node set-up, first full sync, DNS up, then "proxy running" and the loop."""
        self.fixed_routes = await self.programmer.setup_node(self.config.cluster_dns_ip,
                                                             self.config.service_cluster_ip_range)
        self.informers.start()
        await self.informers.wait_synced()
        self.dirty.clear()
        await self.sync()
        await self.dns.start()
        log.info("proxy running", node=self.config.node_name, netns=self.config.netns or None,
                 services=len(self.services.cache), endpointslices=len(self.slices.cache))
        self.loop_task = asyncio.create_task(self._loop(), name="proxy-sync")

    async def sync(self, force: bool = False) -> None:
        services, slices = self.services.items(), self.slices.items()
        self.dns_index = build_index(services, slices, self.config.cluster_domain)
        ports = rules.service_ports(services, slices)
        table = rules.table(ports, self.facts)
        started = time.monotonic()
        if force and self.last_table is not None and await self.programmer.listing() != self.last_listing:
            log.warning("table changed by someone else, replacing it", table=rules.TABLE)
            self.last_table = None
        if table != self.last_table:
            try:
                await self.programmer.apply_rules(self.last_table, table)
            except ProgramError:
                self.last_table = None  # the kernel's table is not what we think: the retry replaces it
                raise
            self.last_table = table
            if self.last_ports is not None:  # after a restart nothing is known to be stale
                await self.programmer.clear_udp_flows(rules.stale_udp_flows(self.last_ports, ports))
            await self.programmer.hairpin_bridge_ports()  # endpoints changed: new Pods may be among them
            self.last_listing = await self.programmer.listing()  # for the periodic comparison, last
        elif force:
            await self.programmer.hairpin_bridge_ports()
        self.last_ports = ports
        wanted = self.fixed_routes + host_gw_routes(self.nodes.items(), self.config.node_name)
        if force or wanted != self.last_routes:
            for error in await self.programmer.apply_routes(wanted):
                log.warning("route not programmed", error=error)
            self.last_routes = wanted
        self.syncs += 1
        log.debug("proxy synced", seconds=round(time.monotonic() - started, 4))

    async def _loop(self) -> None:
        delay = RETRY_INITIAL
        last = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self.dirty.wait(), self.config.sync_period)
                force = False
            except asyncio.TimeoutError:
                force = True
            wait = last + self.config.min_sync_period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.dirty.clear()
            last = time.monotonic()
            try:
                await self.sync(force)
                delay = RETRY_INITIAL
            except ProgramError as err:
                log.error("proxy sync failed, retrying", error=str(err), retry_in=delay)
                self.dirty.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def stop(self) -> None:
        """Rules and routes stay (as kube-proxy leaves them): traffic keeps flowing while the
        proxy restarts, and the next start replaces them from API state."""
        if self.loop_task is not None:
            self.loop_task.cancel()
            await asyncio.gather(self.loop_task, return_exceptions=True)
        await self.dns.stop()
        await self.informers.stop()
