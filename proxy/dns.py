"""The cluster DNS: Service names answered from the proxy's watch-fed caches, on dnslib.

Kubernetes runs CoreDNS with its ``kubernetes`` plugin behind the kube-dns Service; CoreDNS is
not packaged here, so pykube-proxy serves the same answers itself, node-locally (as NodeLocal
DNSCache does): a dummy interface ``pykube-dns`` in the node's namespace holds the cluster DNS
address (10.96.0.10/32) and this server listens there on port 53, UDP and TCP. A Pod's
resolv.conf names that address; its query reaches its own node and never leaves it.

The answers follow the Kubernetes DNS specification (the parts pykube has):

* ``<svc>.<ns>.svc.<domain>`` A → the ClusterIP; for a headless Service one A per ready
  endpoint address (not-ready ones too with publishNotReadyAddresses);
* ``<hostname>.<svc>.<ns>.svc.<domain>`` A → a headless endpoint with a hostname (a Pod with
  hostname + subdomain), and ``<a-b-c-d>.<svc>...`` for one without;
* ``_<port>._<proto>.<svc>.<ns>.svc.<domain>`` SRV for named ports: target the Service name,
  or each endpoint's name for a headless Service (with its A records as additional answers);
* an existing name asked for another type (AAAA...): NOERROR with no answer (NODATA), so
  resolvers do not give up on the name; unknown names in the cluster domain: NXDOMAIN; both
  with the zone's SOA for negative caching;
* names outside the cluster domain: REFUSED at once. The lab has no upstream resolver (CoreDNS
  would forward to the node's), and this server is authoritative for the cluster domain only
  and does not recurse (RA is 0), which is what REFUSED says;
* TTL 5 s, as CoreDNS' kubernetes plugin.

The answer logic is pure (:func:`build_index`, :func:`answer`); :class:`DnsServer` is the thin
asyncio server around it, which reads the current index on every query.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field
from typing import Callable

import structlog
from dnslib import QTYPE, RCODE, RR, SOA, SRV, A, DNSRecord, DNSError

from apimachinery.ports import protocol_of
from component_base.netns import socket_in_netns
from protos import core_pb2, discovery_pb2
from proxy.rules import is_ready, port_endpoints, slices_by_service

log = structlog.get_logger("proxy")

TTL = 5


@dataclass(frozen=True, order=True)
class SrvTarget:
    priority: int
    weight: int
    port: int
    target: str


@dataclass
class DnsIndex:
    """Every name of the cluster domain and its records (names lower case, without final dot)."""

    domain: str
    a: dict[str, list[str]] = field(default_factory=dict)
    srv: dict[str, list[SrvTarget]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def seal(self) -> "DnsIndex":
        """Record every existing name: those with records and those above them
        (``<ns>.svc.<domain>``), which get NODATA, not NXDOMAIN, for a type they lack."""
        self.names = {self.domain}
        for name in (*self.a, *self.srv):
            while name != self.domain and name not in self.names:
                self.names.add(name)
                name = name.split(".", 1)[1]
        return self

    def exists(self, name: str) -> bool:
        return name in self.names


def _dashed(ip: str) -> str:
    return ip.replace(".", "-")


def build_index(services: list[core_pb2.Service], slices: list[discovery_pb2.EndpointSlice],
                domain: str) -> DnsIndex:
    index = DnsIndex(domain.lower().strip("."))
    groups = slices_by_service(slices)
    for svc in services:
        ns, name = svc.metadata.namespace, svc.metadata.name
        fqdn = f"{name}.{ns}.svc.{index.domain}"
        ip = svc.spec.cluster_ip
        if svc.spec.type == "ExternalName" or not ip:
            continue
        mine = groups.get((ns, name), [])
        headless = ip == "None"
        if headless:
            include = svc.spec.publish_not_ready_addresses
            addresses, names = [], {}
            for s in mine:
                for ep in s.endpoints:
                    if not (include or is_ready(ep)):
                        continue
                    for address in ep.addresses:
                        addresses.append(address)
                        names[address] = ep.hostname if ep.HasField("hostname") and ep.hostname else _dashed(address)
            index.a[fqdn] = sorted(set(addresses))
            for address, host in names.items():
                index.a.setdefault(f"{host}.{fqdn}", []).append(address)
        else:
            index.a[fqdn] = [ip]
        for port in svc.spec.ports:
            if not port.name:
                continue  # SRV records exist for named ports only
            protocol = protocol_of(port).lower()
            srv_name = f"_{port.name}._{protocol}.{fqdn}"
            if not headless:
                index.srv[srv_name] = [SrvTarget(0, 100, port.port, fqdn)]
                continue
            targets = port_endpoints(port.name, protocol, mine, svc.spec.publish_not_ready_addresses)
            weight = 100 // len(targets) if targets else 0
            index.srv[srv_name] = sorted(SrvTarget(0, weight, t.port, f"{names[t.ip]}.{fqdn}")
                                         for t in targets if t.ip in names)
    for records in index.a.values():
        records.sort()
    return index.seal()


def _soa(domain: str) -> RR:
    return RR(domain + ".", QTYPE.SOA, ttl=TTL,
              rdata=SOA(f"ns.dns.{domain}.", f"hostmaster.{domain}.", (1, 7200, 1800, 86400, TTL)))


def answer(request: DNSRecord, index: DnsIndex) -> DNSRecord:
    """The reply to one query (pure)."""
    reply = request.reply()  # copies id and question, sets QR, AA and RA
    reply.header.ra = 0
    if not request.questions:
        reply.header.rcode = RCODE.FORMERR
        return reply
    question = request.q
    name = str(question.qname).lower().rstrip(".")
    qtype = question.qtype
    if name != index.domain and not name.endswith("." + index.domain):
        reply.header.aa = 0
        reply.header.rcode = RCODE.REFUSED
        return reply
    if qtype in (QTYPE.A, QTYPE.ANY):
        for ip in index.a.get(name, []):
            reply.add_answer(RR(name + ".", QTYPE.A, ttl=TTL, rdata=A(ip)))
    if qtype in (QTYPE.SRV, QTYPE.ANY):
        for srv in index.srv.get(name, []):
            reply.add_answer(RR(name + ".", QTYPE.SRV, ttl=TTL,
                                rdata=SRV(srv.priority, srv.weight, srv.port, srv.target + ".")))
            for ip in index.a.get(srv.target, []):
                reply.add_ar(RR(srv.target + ".", QTYPE.A, ttl=TTL, rdata=A(ip)))
    if qtype == QTYPE.SOA and name == index.domain:
        reply.add_answer(_soa(index.domain))
    if not reply.rr:
        if not index.exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(_soa(index.domain))
    return reply


def answer_bytes(data: bytes, index: DnsIndex) -> bytes | None:
    """Wire format in, wire format out; None for a packet that is not a DNS query at all."""
    try:
        request = DNSRecord.parse(data)
    except (DNSError, struct.error, IndexError, ValueError):
        return None
    if request.header.qr:  # a response, not a query: never answer (no loops)
        return None
    return answer(request, index).pack()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, index: Callable[[], DnsIndex]) -> None:
        self.index = index
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        response = answer_bytes(data, self.index())
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)


class DnsServer:
    """UDP and TCP on ``address:port``, inside ``netns`` when given; answers from ``index()``."""

    def __init__(self, address: str, port: int, index: Callable[[], DnsIndex], netns: str = "") -> None:
        self.address, self.port, self.index, self.netns = address, port, index, netns
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.AbstractServer | None = None

    def _socket(self, kind: int) -> socket.socket:
        if self.netns:
            return socket_in_netns(self.netns, socket.AF_INET, kind)
        return socket.socket(socket.AF_INET, kind)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        udp = self._socket(socket.SOCK_DGRAM)
        tcp = self._socket(socket.SOCK_STREAM)
        try:
            udp.bind((self.address, self.port))
            self.port = udp.getsockname()[1]  # port 0 (tests): TCP takes the one UDP got
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.address, self.port))
        except OSError:
            udp.close()
            tcp.close()
            raise
        self.udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self.index), sock=udp)
        self.tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)
        log.info("dns serving", address=self.address, port=self.port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 7766: each message prefixed by its 2-byte length; many per connection."""
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                response = answer_bytes(await reader.readexactly(length), self.index())
                if response is None:
                    break
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
            await self.tcp.wait_closed()
