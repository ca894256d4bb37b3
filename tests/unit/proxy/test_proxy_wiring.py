"""The proxier against a real in-process apiserver: informers in, programmings out (a recording
programmer stands in for nft and ip), and the real DNS server on loopback."""

from __future__ import annotations

import asyncio

from dnslib import DNSRecord

from apimachinery.kinds import wrap
from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from protos import api_pb2
from proxy import nftables
from proxy.config import ProxyConfig
from proxy.proxier import Proxier
from proxy.routes import Route
from proxy_testlib import endpoint_slice, node, service


class RecordingProgrammer:
    """What the proxier asked for, instead of running nft and ip; ``kernel`` is the table's
    listing as the kernel would show it."""

    def __init__(self) -> None:
        self.rules: list[str] = []  # the table after each write
        self.transactions: list[str] = []
        self.kernel = ""
        self.routes: list[list[Route]] = []
        self.flows: list = []
        self.hairpins = 0

    async def setup_node(self, dns_ip: str, service_cidr: str) -> list[Route]:
        return [Route(service_cidr, device="pykube-dns")]

    async def apply_rules(self, old, new) -> None:
        self.transactions.append(nftables.update_transaction(old, new))
        self.rules.append(nftables.render(new))
        self.kernel = self.rules[-1]

    async def listing(self) -> str:
        return self.kernel

    async def hairpin_bridge_ports(self) -> None:
        self.hairpins += 1

    async def clear_udp_flows(self, flows) -> None:
        self.flows.extend(flows)

    async def apply_routes(self, wanted: list[Route]) -> list[str]:
        self.routes.append(list(wanted))
        return []


async def eventually(what: str, check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"no {what} within {timeout}s"
        await asyncio.sleep(0.01)


def run(scenario) -> None:
    async def main() -> None:
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        programmer = RecordingProgrammer()
        config = ProxyConfig(server=server.address, node_name="n1", cluster_dns_ip="127.0.0.1", dns_port=0)
        proxier = Proxier(api, config, programmer)  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(scenario(api, proxier, programmer), 30)
        finally:
            await proxier.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


def test_first_sync_is_programmed_before_start_returns_and_dns_answers():
    async def scenario(api, proxier, programmer):
        await api.create(service("web", "10.96.0.20", [("http", "TCP", 80)]))
        await api.create(endpoint_slice("web", [("http", "TCP", 8080)], [("10.88.1.2", True, "n1")]))
        await api.create(node("n2", "10.88.2.0/24", "10.87.0.3"))
        await proxier.start()
        assert len(programmer.rules) == 1 and "dnat to 10.88.1.2:8080" in programmer.rules[0]
        assert programmer.routes == [[Route("10.96.0.0/16", device="pykube-dns"), Route("10.88.2.0/24", "10.87.0.3")]]
        query = DNSRecord.question("web.default.svc.cluster.local")
        loop = asyncio.get_running_loop()
        reply = DNSRecord.parse(await loop.run_in_executor(
            None, lambda: query.send("127.0.0.1", proxier.dns.port, timeout=2)))
        assert [str(r.rdata) for r in reply.rr] == ["10.96.0.20"]
    run(scenario)


def test_a_burst_of_changes_is_programmed_in_few_transactions():
    async def scenario(api, proxier, programmer):
        await proxier.start()
        ops = [api_pb2.BatchOp(create=api_pb2.CreateRequest(object=wrap(
            service(f"s{i}", f"10.96.1.{i}", [("", "TCP", 80)])))) for i in range(50)]
        await api.batch(ops)
        await eventually("all 50 Services programmed",
                         lambda: programmer.rules and all(f"10.96.1.{i} " in programmer.rules[-1] for i in range(50)))
        assert len(programmer.rules) < 1 + 50  # not one transaction per object
    run(scenario)


def test_an_unrelated_node_update_reprograms_nothing():
    async def scenario(api, proxier, programmer):
        n2 = await api.create(node("n2", "10.88.2.0/24", "10.87.0.3"))
        await proxier.start()
        syncs = proxier.syncs
        n2.metadata.labels["touched"] = "yes"
        await api.update(n2)
        await eventually("a sync", lambda: proxier.syncs > syncs)
        assert len(programmer.rules) == 1 and len(programmer.routes) == 1
        await api.delete("Node", "n2")
        await eventually("the route withdrawn", lambda: programmer.routes[-1] == [
            Route("10.96.0.0/16", device="pykube-dns")])
    run(scenario)


def test_the_first_sync_replaces_the_table_later_ones_change_only_what_differs():
    async def scenario(api, proxier, programmer):
        await api.create(service("web", "10.96.0.20", [("http", "TCP", 80)]))
        await proxier.start()
        assert programmer.transactions[0].startswith("add table ip pykube-proxy\ndelete table ip pykube-proxy\n")
        await api.create(endpoint_slice("web", [("http", "TCP", 8080)], [("10.88.1.2", True, "n1")]))
        await eventually("the endpoint programmed", lambda: "dnat to 10.88.1.2:8080" in programmer.rules[-1])
        update = programmer.transactions[-1]
        assert "delete table" not in update and "flush chain" not in update  # nothing was replaced
        assert "delete element ip pykube-proxy no-endpoint-services { 10.96.0.20 . tcp . 80 }" in update
        assert "add element ip pykube-proxy service-ips { 10.96.0.20 . tcp . 80 : goto service-" in update
    run(scenario)


def test_a_table_changed_by_someone_else_is_replaced_at_the_next_periodic_sync():
    async def scenario(api, proxier, programmer):
        await api.create(service("web", "10.96.0.20", [("http", "TCP", 80)]))
        await proxier.start()
        await proxier.sync(force=True)
        assert len(programmer.transactions) == 1  # unchanged: nothing written
        programmer.kernel = "table ip pykube-proxy {\n}\n"  # flushed by hand
        await proxier.sync(force=True)
        assert len(programmer.transactions) == 2 and programmer.transactions[1].startswith("add table ip pykube-proxy\ndelete")
        assert programmer.rules[1] == programmer.rules[0]
    run(scenario)
