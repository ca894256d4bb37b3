"""Services and EndpointSlices: how a Pod is reached by a stable name and address.

A Service is a selector, ports, and an address that outlives every Pod behind it: a
ClusterIP from the service CIDR and, for type NodePort, a port on every node. Those two are
the only things in pykube the apiserver hands out, so ServiceStrategy owns the allocators
(``allocators.py``) and the registry calls its reserve/release/restore hooks around every
write, keeping what is allocated equal to what the stored Services hold.

Defaults, validation messages and the update rules (an allocated value kept when an update
leaves it out, nodePorts dropped when the type changes away from NodePort) follow
Kubernetes' ``pkg/apis/core`` and the Service REST storage. pykube serves types ClusterIP
and NodePort (and headless ``clusterIP: None``), IPv4 single-stack.

An EndpointSlice is written by the EndpointSlice controller (or by hand, for a Service
without a selector); the apiserver only checks its shape.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable

import structlog

from apimachinery.network import CLUSTER_DNS_IP, NODE_PORT_RANGE, SERVICE_CIDR
from apiserver.registry import validation as v
from apiserver.registry.allocators import AllocationError, ClusterIPAllocator, NodePortAllocator
from apiserver.registry.base import Strategy
from protos import core_pb2, discovery_pb2

log = structlog.get_logger("apiserver")

HEADLESS = "None"
SERVICE_TYPES = ("ClusterIP", "NodePort")
PROTOCOLS = ("SCTP", "TCP", "UDP")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
# Kubernetes' EndpointSlice limits.
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_SLICE_PORTS = 20000
IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


@dataclass(frozen=True)
class ServiceRanges:
    """What the apiserver hands out (--service-cluster-ip-range, --service-node-port-range)."""

    cluster_ip_range: str = SERVICE_CIDR
    node_ports: tuple[int, int] = NODE_PORT_RANGE
    # Given only to a Service that asks for them by number.
    on_request_only: tuple[str, ...] = field(default=(CLUSTER_DNS_IP,))


# ----------------------------------------------------------- service shapes


def is_headless(svc: core_pb2.Service) -> bool:
    return svc.spec.cluster_ip == HEADLESS


def needs_cluster_ip(svc: core_pb2.Service) -> bool:
    return svc.spec.type in SERVICE_TYPES and not is_headless(svc)


def needs_node_ports(svc: core_pb2.Service) -> bool:
    return svc.spec.type == "NodePort"


def held_cluster_ips(svc: core_pb2.Service | None) -> set[str]:
    if svc is None or not needs_cluster_ip(svc) or not svc.spec.cluster_ip:
        return set()
    return {svc.spec.cluster_ip}


def held_node_ports(svc: core_pb2.Service | None) -> set[int]:
    if svc is None or not needs_node_ports(svc):
        return set()
    return {port.node_port for port in svc.spec.ports if port.node_port}


def _target_port_unset(port: core_pb2.ServicePort) -> bool:
    kind = port.target_port.WhichOneof("value")
    return kind is None or (kind == "int_val" and port.target_port.int_val == 0) or \
        (kind == "str_val" and not port.target_port.str_val)


def _go_service_port(port: core_pb2.ServicePort) -> v.GoLiteral:
    """The key Kubernetes reports a duplicate port with, as Go's %#v prints it."""
    return v.GoLiteral(f'core.ServicePort{{Name:"", Protocol:"{port.protocol}", AppProtocol:(*string)(nil), '
                       f'Port:{port.port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, '
                       f'NodePort:0}}')


# -------------------------------------------------------------- validation


def _port_name(path: str, name: str, names: set[str]) -> list[v.FieldError]:
    """A port's name: a DNS label, unique among the ports (names collects them)."""
    errs = v.dns1123_label(f"{path}.name", name) if name else []
    if name in names:
        errs.append(v.duplicate(f"{path}.name", name))
    names.add(name)
    return errs


def _validate_ports(svc: core_pb2.Service) -> list[v.FieldError]:
    spec = svc.spec
    errs: list[v.FieldError] = []
    if not spec.ports and not is_headless(svc):
        errs.append(v.required("spec.ports"))
    names: set[str] = set()
    ports: set[tuple[int, str]] = set()
    node_ports: set[tuple[int, str]] = set()
    for i, port in enumerate(spec.ports):
        path = f"spec.ports[{i}]"
        if len(spec.ports) > 1 and not port.name:
            errs.append(v.required(f"{path}.name"))
        elif port.name:
            errs += _port_name(path, port.name, names)
        if port.protocol not in PROTOCOLS:
            errs.append(v.unsupported(f"{path}.protocol", port.protocol, PROTOCOLS))
        errs += v.port_number(f"{path}.port", port.port)
        if port.target_port.WhichOneof("value") == "str_val":
            errs += v.port_name(f"{path}.targetPort", port.target_port.str_val)
        else:
            errs += v.port_number(f"{path}.targetPort", port.target_port.int_val)
        if (port.port, port.protocol) in ports:
            errs.append(v.duplicate(path, _go_service_port(port)))
        ports.add((port.port, port.protocol))
        if port.node_port:
            if spec.type == "ClusterIP":
                errs.append(v.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'"))
                continue
            errs += v.port_number(f"{path}.nodePort", port.node_port)
            if (port.node_port, port.protocol) in node_ports:
                errs.append(v.duplicate(f"{path}.nodePort", port.node_port))
            node_ports.add((port.node_port, port.protocol))
    return errs


def _validate_cluster_ips(svc: core_pb2.Service) -> list[v.FieldError]:
    spec = svc.spec
    errs: list[v.FieldError] = []
    if spec.cluster_ips and spec.cluster_ip != spec.cluster_ips[0]:
        return [v.invalid("spec.clusterIPs", v.go_strings(spec.cluster_ips), "first value must match `clusterIP`")]
    if len(spec.cluster_ips) > 1:
        errs.append(v.too_many("spec.clusterIPs", len(spec.cluster_ips), 1))
    if spec.cluster_ip and not is_headless(svc):
        try:
            ipaddress.ip_address(spec.cluster_ip)
        except ValueError:
            errs.append(v.invalid("spec.clusterIPs[0]", spec.cluster_ip, IP_EXAMPLE))
    if is_headless(svc) and spec.type == "NodePort":
        errs.append(v.invalid("spec.clusterIPs[0]", HEADLESS, "may not be set to 'None' for NodePort services"))
    for i, family in enumerate(spec.ip_families):
        if family not in IP_FAMILIES:
            errs.append(v.unsupported(f"spec.ipFamilies[{i}]", family, IP_FAMILIES))
        elif family != "IPv4":
            errs.append(v.invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster"))
    if spec.ip_family_policy not in IP_FAMILY_POLICIES:
        errs.append(v.unsupported("spec.ipFamilyPolicy", spec.ip_family_policy, IP_FAMILY_POLICIES))
    elif spec.ip_family_policy == "RequireDualStack":
        errs.append(v.invalid("spec.ipFamilyPolicy", spec.ip_family_policy,
                              "this cluster is not configured for dual-stack services"))
    return errs


def validate_service(svc: core_pb2.Service) -> list[v.FieldError]:
    """Kubernetes' ValidateService, for the types pykube serves."""
    spec = svc.spec
    if spec.type not in SERVICE_TYPES:
        return [v.unsupported("spec.type", spec.type, SERVICE_TYPES)]
    errs = _validate_ports(svc) + _validate_cluster_ips(svc)
    errs += v.labels("spec.selector", spec.selector)
    if spec.session_affinity not in SESSION_AFFINITIES:
        errs.append(v.unsupported("spec.sessionAffinity", spec.session_affinity, SESSION_AFFINITIES))
    if spec.external_traffic_policy and not needs_node_ports(svc):
        errs.append(v.invalid("spec.externalTrafficPolicy", spec.external_traffic_policy,
                              "may only be set for externally-accessible services"))
    elif needs_node_ports(svc) and spec.external_traffic_policy not in TRAFFIC_POLICIES:
        errs.append(v.unsupported("spec.externalTrafficPolicy", spec.external_traffic_policy, TRAFFIC_POLICIES))
    if spec.internal_traffic_policy not in TRAFFIC_POLICIES:
        errs.append(v.unsupported("spec.internalTrafficPolicy", spec.internal_traffic_policy, TRAFFIC_POLICIES))
    return errs


# ------------------------------------------------------------------ strategy


class ServiceStrategy(Strategy):
    kind = "Service"

    def __init__(self, ranges: ServiceRanges = ServiceRanges()) -> None:
        super().__init__()
        self.ranges = ranges
        self.cluster_ips = ClusterIPAllocator(ranges.cluster_ip_range, ranges.on_request_only)
        self.node_ports = NodePortAllocator(ranges.node_ports)

    def default(self, obj: core_pb2.Service) -> None:
        spec = obj.spec
        spec.type = spec.type or "ClusterIP"
        spec.session_affinity = spec.session_affinity or "None"
        for port in spec.ports:
            port.protocol = port.protocol or "TCP"
            if _target_port_unset(port):
                port.target_port.int_val = port.port
        if spec.type == "NodePort":
            spec.external_traffic_policy = spec.external_traffic_policy or "Cluster"
        spec.internal_traffic_policy = spec.internal_traffic_policy or "Cluster"
        if spec.cluster_ip and not spec.cluster_ips:
            spec.cluster_ips.append(spec.cluster_ip)
        elif spec.cluster_ips and not spec.cluster_ip:
            spec.cluster_ip = spec.cluster_ips[0]
        if not spec.ip_families:
            spec.ip_families.append("IPv4")
        spec.ip_family_policy = spec.ip_family_policy or "SingleStack"

    def validate(self, obj: core_pb2.Service) -> list[v.FieldError]:
        return validate_service(obj)

    def prepare_for_update(self, new: core_pb2.Service, old: core_pb2.Service) -> None:
        """Keep what was allocated when the update leaves it out (a replace, an apply of a
        manifest that never named it), and drop nodePorts and externalTrafficPolicy the user
        left as they were when the type no longer uses them (Kubernetes' patchAllocatedValues
        and dropTypeDependentFields)."""
        super().prepare_for_update(new, old)
        spec, old_spec = new.spec, old.spec
        if needs_cluster_ip(old) and spec.type in SERVICE_TYPES and not spec.cluster_ip and not spec.cluster_ips:
            spec.cluster_ip = old_spec.cluster_ip
            spec.cluster_ips[:] = old_spec.cluster_ips
        if not spec.ip_families:
            spec.ip_families[:] = old_spec.ip_families
        spec.ip_family_policy = spec.ip_family_policy or old_spec.ip_family_policy
        old_node_ports = {port.name: port.node_port for port in old_spec.ports}
        if needs_node_ports(old) and needs_node_ports(new):
            used = held_node_ports(old) & held_node_ports(new)
            for port in spec.ports:
                if not port.node_port and old_node_ports.get(port.name, 0) not in used:
                    port.node_port = old_node_ports.get(port.name, 0)
        if needs_node_ports(old) and not needs_node_ports(new):
            if all(port.node_port in (0, old_node_ports.get(port.name)) for port in spec.ports):
                for port in spec.ports:
                    port.node_port = 0
            if spec.external_traffic_policy == old_spec.external_traffic_policy:
                spec.external_traffic_policy = ""

    def validate_update(self, new: core_pb2.Service, old: core_pb2.Service) -> list[v.FieldError]:
        if list(old.spec.cluster_ips) and list(new.spec.cluster_ips[:1]) != list(old.spec.cluster_ips[:1]):
            return [v.invalid("spec.clusterIPs[0]", v.go_strings(new.spec.cluster_ips), "may not change once set")]
        return []

    # ----------------------------------------------- ClusterIPs and NodePorts

    def reserve(self, new: core_pb2.Service, old: core_pb2.Service | None) -> list[v.FieldError]:
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        errs: list[v.FieldError] = []
        if needs_cluster_ip(new):
            ip = new.spec.cluster_ip
            try:
                if not ip:
                    ip = self.cluster_ips.allocate_next()
                    taken_ips.append(ip)
                    new.spec.cluster_ip = ip
                    new.spec.cluster_ips[:] = [ip]
                elif ip not in held_cluster_ips(old):
                    self.cluster_ips.allocate(ip)
                    taken_ips.append(ip)
            except AllocationError as err:
                errs.append(v.invalid("spec.clusterIPs[0]", ip, str(err)))
        if needs_node_ports(new):
            already = held_node_ports(old)
            # Ports asked for first, so a port picked at random never takes one asked for.
            for i, port in enumerate(new.spec.ports):
                if port.node_port and port.node_port not in already:
                    try:
                        self.node_ports.allocate(port.node_port)
                        taken_ports.append(port.node_port)
                        already.add(port.node_port)
                    except AllocationError as err:
                        errs.append(v.invalid(f"spec.ports[{i}].nodePort", port.node_port, str(err)))
            # The same service port over TCP and UDP shares one nodePort, as in Kubernetes.
            picked: dict[int, int] = {}
            for i, port in enumerate(new.spec.ports):
                if port.node_port or errs:
                    continue
                try:
                    if port.port not in picked:
                        picked[port.port] = self.node_ports.allocate_next()
                        taken_ports.append(picked[port.port])
                    port.node_port = picked[port.port]
                except AllocationError as err:
                    errs.append(v.invalid(f"spec.ports[{i}].nodePort", 0, str(err)))
        if errs:
            for ip in taken_ips:
                self.cluster_ips.release(ip)
            for node_port in taken_ports:
                self.node_ports.release(node_port)
        return errs

    def release(self, kept: core_pb2.Service | None, dropped: core_pb2.Service | None) -> None:
        for ip in held_cluster_ips(dropped) - held_cluster_ips(kept):
            self.cluster_ips.release(ip)
        for node_port in held_node_ports(dropped) - held_node_ports(kept):
            self.node_ports.release(node_port)

    def restore(self, obj: core_pb2.Service) -> None:
        for ip in held_cluster_ips(obj):
            self._restore_one(obj, "clusterIP", ip, self.cluster_ips.allocate)
        for node_port in held_node_ports(obj):
            self._restore_one(obj, "nodePort", node_port, self.node_ports.allocate)

    def _restore_one(self, obj: core_pb2.Service, what: str, value: object, allocate) -> None:  # type: ignore[no-untyped-def]
        try:
            allocate(value)
        except AllocationError as err:
            # Stored under other flags, or twice: Kubernetes' repair controller reports it too.
            log.warning("service allocation not restored", service=f"{obj.metadata.namespace}/{obj.metadata.name}",
                        field=what, value=value, reason=str(err))


# -------------------------------------------------------------- EndpointSlice


def _validate_address(path: str, address: str, address_type: str) -> list[v.FieldError]:
    if address_type == "FQDN":
        return v.dns1123_subdomain(path, address)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    wanted = 4 if address_type == "IPv4" else 6
    if ip is None or ip.version != wanted:
        return [v.invalid(path, address, f"must be a valid {address_type} address")]
    return []


def _validate_endpoints(endpoints: Iterable[discovery_pb2.Endpoint], address_type: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}]"
        if not endpoint.addresses:
            errs.append(v.required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(endpoint.addresses) > MAX_ADDRESSES:
            errs.append(v.too_many(f"{path}.addresses", len(endpoint.addresses), MAX_ADDRESSES))
        for j, address in enumerate(endpoint.addresses[:MAX_ADDRESSES]):
            if address_type in ADDRESS_TYPES:
                errs += _validate_address(f"{path}.addresses[{j}]", address, address_type)
        if endpoint.HasField("node_name"):
            errs += v.dns1123_subdomain(f"{path}.nodeName", endpoint.node_name)
        if endpoint.HasField("hostname"):
            errs += v.dns1123_label(f"{path}.hostname", endpoint.hostname)
    return errs


def _validate_slice_ports(ports: Iterable[discovery_pb2.EndpointPort]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        errs += _port_name(path, port.name, names)
        if port.protocol not in PROTOCOLS:
            errs.append(v.unsupported(f"{path}.protocol", port.protocol, PROTOCOLS))
        if port.HasField("port"):
            errs += v.port_number(f"{path}.port", port.port)
    return errs


class EndpointSliceStrategy(Strategy):
    kind = "EndpointSlice"

    def default(self, obj: discovery_pb2.EndpointSlice) -> None:
        for port in obj.ports:
            if not port.HasField("name"):
                port.name = ""
            if not port.HasField("protocol"):
                port.protocol = "TCP"

    def validate(self, obj: discovery_pb2.EndpointSlice) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        if not obj.address_type:
            errs.append(v.required("addressType"))
        elif obj.address_type not in ADDRESS_TYPES:
            errs.append(v.unsupported("addressType", obj.address_type, ADDRESS_TYPES))
        if len(obj.endpoints) > MAX_ENDPOINTS:
            errs.append(v.too_many("endpoints", len(obj.endpoints), MAX_ENDPOINTS))
        else:
            errs += _validate_endpoints(obj.endpoints, obj.address_type)
        if len(obj.ports) > MAX_SLICE_PORTS:
            errs.append(v.too_many("ports", len(obj.ports), MAX_SLICE_PORTS))
        else:
            errs += _validate_slice_ports(obj.ports)
        return errs

    def validate_update(self, new: discovery_pb2.EndpointSlice, old: discovery_pb2.EndpointSlice) -> list[v.FieldError]:
        if new.address_type != old.address_type:
            return [v.immutable("addressType", new.address_type)]
        return []
