"""The node's Service rules: Services + EndpointSlices → the nftables table ``ip pykube-proxy``.

A pure function, modelled on kube-proxy's nftables mode: the whole table as data
(proxy/nftables.py), whose text is golden-tested, and which reaches the kernel in atomic ``nft -f``
transactions: the full table first, then only what changed (see proxy/nftables.py).

How a packet finds a Pod:

* ``nat-prerouting`` (packets arriving: from Pods, other nodes) and ``nat-output`` (packets of
  the node's own processes) jump to ``services``, which looks the destination up in two verdict
  maps: ``service-ips`` (ClusterIP . protocol . port) and, for destinations that are one of the
  node's own addresses (``fib daddr type local``), ``service-nodeports`` (protocol . nodePort).
* A ``service-<hash>-<ns>/<name>/<proto>/<port>`` chain picks an endpoint evenly with a cascade
  of ``numgen random mod N-i 0 goto endpoint-...`` rules (kube-proxy's iptables mode uses the same
  probabilities); an ``endpoint-...`` chain DNATs to ``podIP:targetPort``.
* Masquerade is decided by a mark (0x4000, as kube-proxy's): traffic to a ClusterIP from outside
  the cluster CIDR (a node process, a host), NodePort traffic (``external-...`` chains, for
  externalTrafficPolicy Cluster: the endpoint may be on another node, whose reply must come back
  through this one), and hairpin traffic (a Pod reaching itself through its Service) is marked,
  and ``masquerading`` (postrouting) masquerades marked packets.
* Pod → Pod traffic inside the cluster CIDR keeps its source address: Podman's netavark
  masquerades everything leaving a pod subnet (its iptables ``nat POSTROUTING``, priority
  srcnat). ``nat-postrouting`` runs earlier (srcnat - 10) and gives such unmarked packets an
  identity SNAT (``snat to ip saddr``): netfilter NATs a connection once, in the first nat chain
  that binds it, so netavark's MASQUERADE never sees it. (flannel inserts an iptables RETURN
  before the masquerade for the same purpose; a separate table at an earlier priority does not
  depend on the order of anybody else's rules.)
* A Service port with no ready endpoint is rejected (``reject``: ICMP port unreachable, so a
  client fails at once instead of timing out), in filter chains of the input, forward and output
  hooks, through the maps ``no-endpoint-services`` / ``no-endpoint-nodeports``.

Headless Services (``clusterIP: None``) and Services without a ClusterIP get no rules. Everything
is sorted, so the same state always gives the same text.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
from dataclasses import dataclass, field

from apimachinery.ports import protocol_of
from protos import core_pb2, discovery_pb2
from proxy import nftables
from proxy.nftables import Chain, Table, VerdictMap

TABLE = "pykube-proxy"
MASQUERADE_MARK = 0x4000
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# nftables allows 256 bytes; kube-proxy keeps chain names readable by truncating long ones.
CHAIN_NAME_MAX = 200


@dataclass(frozen=True)
class NodeFacts:
    """What the rules need to know about the node itself."""

    node_name: str
    cluster_cidr: str


@dataclass(frozen=True, order=True)
class ServicePortName:
    """One port of one Service: kube-proxy's unit of rules (namespace/name/protocol/port-name)."""

    namespace: str
    name: str
    protocol: str  # lower case: tcp, udp, sctp
    port_name: str

    def base(self) -> str:
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name}"


@dataclass(frozen=True, order=True)
class EndpointTarget:
    ip: str
    port: int
    node_name: str = ""

    def sort_key(self) -> tuple[int, int]:
        return int(ipaddress.IPv4Address(self.ip)), self.port


@dataclass
class ServicePortRules:
    """Everything about one Service port the rules are made from."""

    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int = 0
    external_local: bool = False  # externalTrafficPolicy Local
    endpoints: list[EndpointTarget] = field(default_factory=list)


def _hash_and_truncate(name: str) -> str:
    """kube-proxy's hashAndTruncate: 8 base32 characters of sha256(name), then the name."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    full = f"{digest[:8]}-{name}"
    return full if len(full) <= CHAIN_NAME_MAX else full[:CHAIN_NAME_MAX - 3] + "..."


def service_chain(spn: ServicePortName) -> str:
    return "service-" + _hash_and_truncate(spn.base())


def external_chain(spn: ServicePortName) -> str:
    return "external-" + _hash_and_truncate(spn.base())


def endpoint_chain(spn: ServicePortName, ep: EndpointTarget) -> str:
    return "endpoint-" + _hash_and_truncate(f"{spn.base()}__{ep.ip}/{ep.port}")


def is_ready(endpoint: discovery_pb2.Endpoint) -> bool:
    """EndpointConditions.ready: unset means ready (Kubernetes' reading)."""
    cond = endpoint.conditions
    return not cond.HasField("ready") or cond.ready


def has_cluster_ip(service: core_pb2.Service) -> bool:
    """Headless ("None"), ExternalName and not yet allocated Services get no proxy rules."""
    ip = service.spec.cluster_ip
    if not ip or ip == "None" or service.spec.type == "ExternalName":
        return False
    try:
        return ipaddress.ip_address(ip).version == 4
    except ValueError:
        return False


def slices_by_service(slices: list[discovery_pb2.EndpointSlice]) -> dict[tuple[str, str], list]:
    """EndpointSlices grouped by (namespace, kubernetes.io/service-name)."""
    groups: dict[tuple[str, str], list] = {}
    for s in slices:
        svc = s.metadata.labels.get(SERVICE_NAME_LABEL, "")
        if svc and s.address_type in ("", "IPv4"):
            groups.setdefault((s.metadata.namespace, svc), []).append(s)
    return groups


def port_endpoints(port_name: str, protocol: str, slices: list[discovery_pb2.EndpointSlice],
                   include_not_ready: bool = False) -> list[EndpointTarget]:
    """The (ready) endpoints of one Service port: every slice port with the Service port's name
    and protocol, times that slice's endpoints; duplicates (an address in two slices) once."""
    found: set[EndpointTarget] = set()
    for s in slices:
        for sp in s.ports:
            if sp.name != port_name or protocol_of(sp).upper() != protocol.upper():
                continue
            if not sp.HasField("port"):
                continue
            for ep in s.endpoints:
                if not (include_not_ready or is_ready(ep)):
                    continue
                for address in ep.addresses:
                    found.add(EndpointTarget(address, sp.port, ep.node_name))
    return sorted(found, key=EndpointTarget.sort_key)


def service_ports(services: list[core_pb2.Service],
                  slices: list[discovery_pb2.EndpointSlice]) -> list[ServicePortRules]:
    """Every proxied Service port with its endpoints, sorted by namespace/name/protocol/port."""
    groups = slices_by_service(slices)
    result = []
    for svc in services:
        if not has_cluster_ip(svc):
            continue
        mine = groups.get((svc.metadata.namespace, svc.metadata.name), [])
        for p in svc.spec.ports:
            protocol = protocol_of(p).lower()
            spn = ServicePortName(svc.metadata.namespace, svc.metadata.name, protocol, p.name)
            result.append(ServicePortRules(
                name=spn, cluster_ip=svc.spec.cluster_ip, port=p.port,
                node_port=p.node_port if svc.spec.type in ("NodePort", "LoadBalancer") else 0,
                external_local=svc.spec.external_traffic_policy == "Local",
                endpoints=port_endpoints(p.name, protocol, mine,
                                         svc.spec.publish_not_ready_addresses)))
    return sorted(result, key=lambda r: r.name)


def _base_chains(facts: NodeFacts) -> list[Chain]:
    mark = f"0x{MASQUERADE_MARK:x}"
    return [
        Chain("nat-prerouting", ("jump services",), hook="type nat hook prerouting priority dstnat; policy accept;"),
        Chain("nat-output", ("jump services",), hook="type nat hook output priority -100; policy accept;"),
        Chain("nat-postrouting", (
            f"ip saddr {facts.cluster_cidr} ip daddr {facts.cluster_cidr} "
            f"meta mark & {mark} == 0 snat to ip saddr comment \"pod to pod: no masquerade\"",
            "jump masquerading"), hook="type nat hook postrouting priority srcnat - 10; policy accept;"),
        Chain("filter-input", ("ct state new jump nodeport-endpoints-check",
                               "ct state new jump service-endpoints-check"),
              hook="type filter hook input priority -110; policy accept;"),
        Chain("filter-forward", ("ct state new jump service-endpoints-check",),
              hook="type filter hook forward priority -110; policy accept;"),
        Chain("filter-output", ("ct state new jump service-endpoints-check",),
              hook="type filter hook output priority -110; policy accept;"),
        Chain("services", (
            "ip daddr . meta l4proto . th dport vmap @service-ips",
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports")),
        Chain("service-endpoints-check", ("ip daddr . meta l4proto . th dport vmap @no-endpoint-services",)),
        Chain("nodeport-endpoints-check", (
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports",)),
        Chain("reject-chain", ("reject",)),
        Chain("mark-for-masquerade", (f"meta mark set meta mark | {mark}",)),
        Chain("masquerading", (f"meta mark & {mark} == 0 return",
                               f"meta mark set meta mark ^ {mark}",
                               "masquerade fully-random")),
    ]


def _spread(endpoints: list[EndpointTarget], spn: ServicePortName) -> tuple[str, ...]:
    """Even balancing, as kube-proxy's iptables mode does it: of n endpoints, rule i takes
    endpoint i with probability 1/(n-i), so each gets 1/n, and the last rule takes what is left.
    No set lookup on purpose: a chain's rules switch in one step, but an inline ``numgen ... vmap``
    set of a replaced rule stops matching the moment the change commits, while a packet may
    still be walking the old rules (see proxy/nftables.py)."""
    n = len(endpoints)
    return (*(f"numgen random mod {n - i} 0 goto {endpoint_chain(spn, ep)}" for i, ep in enumerate(endpoints[:-1])),
            f"goto {endpoint_chain(spn, endpoints[-1])}")


def ruleset(services: list[core_pb2.Service], slices: list[discovery_pb2.EndpointSlice],
            facts: NodeFacts) -> str:
    """The complete definition of table ``ip pykube-proxy`` (without the add/delete around it)."""
    return nftables.render(table(service_ports(services, slices), facts))


def _without_clashes(ports: list[ServicePortRules]) -> list[ServicePortRules]:
    """Two Service ports on one ClusterIP:port, or on one NodePort, would be one map key twice
    and fail the whole transaction. The apiserver's allocators prevent it; should it happen
    anyway, the first port in order keeps the address and everything else still works."""
    seen_ips, seen_node_ports, kept = set(), set(), []
    for sp in ports:
        key = (sp.cluster_ip, sp.name.protocol, sp.port)
        if key in seen_ips:
            continue
        seen_ips.add(key)
        if sp.node_port:
            node_key = (sp.name.protocol, sp.node_port)
            if node_key in seen_node_ports:
                sp = dataclasses.replace(sp, node_port=0)
            seen_node_ports.add(node_key)
        kept.append(sp)
    return kept


def table(ports: list[ServicePortRules], facts: NodeFacts) -> Table:
    """The table ``ip pykube-proxy`` from the Service ports (see :func:`service_ports`)."""
    service_ips: list[tuple[str, str]] = []
    nodeports: list[tuple[str, str]] = []
    no_ep_services: list[tuple[str, str]] = []
    no_ep_nodeports: list[tuple[str, str]] = []
    chains: list[Chain] = []
    for sp in _without_clashes(ports):
        spn, proto = sp.name, sp.name.protocol
        svc_chain = service_chain(spn)
        key = f"{sp.cluster_ip} . {proto} . {sp.port}"
        if sp.endpoints:
            service_ips.append((key, f"goto {svc_chain}"))
            chains.append(Chain(svc_chain, (
                f"ip daddr {sp.cluster_ip} {proto} dport {sp.port} "
                f"ip saddr != {facts.cluster_cidr} jump mark-for-masquerade",
                *_spread(sp.endpoints, spn))))
            for ep in sp.endpoints:
                chains.append(Chain(endpoint_chain(spn, ep), (
                    f"ip saddr {ep.ip} jump mark-for-masquerade",
                    f"meta l4proto {proto} dnat to {ep.ip}:{ep.port}")))
        else:
            no_ep_services.append((key, "goto reject-chain"))
        if not sp.node_port:
            continue
        node_key = f"{proto} . {sp.node_port}"
        if sp.external_local:
            # externalTrafficPolicy Local: only this node's endpoints, client source kept.
            local = [ep for ep in sp.endpoints if ep.node_name == facts.node_name]
            if local:
                nodeports.append((node_key, f"goto {external_chain(spn)}"))
                chains.append(Chain(external_chain(spn), _spread(local, spn)))
            else:
                no_ep_nodeports.append((node_key, "drop"))
        elif sp.endpoints:
            nodeports.append((node_key, f"goto {external_chain(spn)}"))
            chains.append(Chain(external_chain(spn), ("jump mark-for-masquerade", f"goto {svc_chain}")))
        else:
            no_ep_nodeports.append((node_key, "goto reject-chain"))
    maps = (VerdictMap("service-ips", "ipv4_addr . inet_proto . inet_service", "ClusterIP traffic",
                       tuple(service_ips)),
            VerdictMap("service-nodeports", "inet_proto . inet_service", "NodePort traffic", tuple(nodeports)),
            VerdictMap("no-endpoint-services", "ipv4_addr . inet_proto . inet_service",
                       "ClusterIPs without a ready endpoint", tuple(no_ep_services)),
            VerdictMap("no-endpoint-nodeports", "inet_proto . inet_service",
                       "NodePorts without a ready endpoint", tuple(no_ep_nodeports)))
    return Table("ip", TABLE, "rules for pykube-proxy", maps, (*_base_chains(facts), *chains))


@dataclass(frozen=True, order=True)
class StaleFlow:
    """UDP conntrack entries to delete after a change (``conntrack -D -p udp ...``).

    UDP has no connection to end: a client that keeps its source port keeps its conntrack
    entry, and with it the endpoint chosen for its first packet, for as long as it sends (30 s
    idle timeout, 120 s for a stream). So, as kube-proxy does, flows DNATed to an endpoint that
    is gone are deleted; and so are the flows to a Service port that had no endpoint (created
    un-NATed while it had none), once it has one.
    """

    destination: str  # a ClusterIP; "" for a NodePort (whatever local address)
    port: int
    endpoint: str = ""  # only flows DNATed to this address; "" for every flow


def stale_udp_flows(before: list[ServicePortRules], after: list[ServicePortRules]) -> list[StaleFlow]:
    """The UDP flows a change from ``before`` to ``after`` leaves pointing at nothing (pure)."""
    old = {p.name: p for p in before if p.name.protocol == "udp"}
    flows = set()
    for port in after:
        if port.name.protocol != "udp":
            continue
        previous = old.get(port.name)
        had = {ep.ip for ep in previous.endpoints} if previous else set()
        has = {ep.ip for ep in port.endpoints}
        if has and not had:
            flows.add(StaleFlow(port.cluster_ip, port.port))
        for ip in had - has:
            flows.add(StaleFlow(previous.cluster_ip, previous.port, ip))
            if previous.node_port:
                flows.add(StaleFlow("", previous.node_port, ip))
    for name in old.keys() - {p.name for p in after}:  # the Service port is gone altogether
        for ep in old[name].endpoints:
            flows.add(StaleFlow(old[name].cluster_ip, old[name].port, ep.ip))
    return sorted(flows)


def cleanup_transaction() -> str:
    """``--cleanup``: remove the table, whether it exists or not."""
    return nftables.cleanup_transaction("ip", TABLE)
