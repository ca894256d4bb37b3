"""What a Pod is to a Service: its endpoint, and the ports it serves the Service's ports on.

Kubernetes' endpointslice utils (podToEndpoint, getEndpointPorts, podutil.FindPort,
ShouldPodBeInEndpoints, setEndpointSliceLabels), as pure functions:

* a Pod is a candidate when it matches the selector, has an IPv4 podIP and is not
  finished (Succeeded/Failed); a Pod that is being deleted stays, marked terminating;
* each Service port resolves per Pod: a number is taken as is (unset: the Service's
  port), a name is looked up among the Pod's container ports by name and protocol
  (unset protocols are TCP). A port that does not resolve is left out for that Pod,
  and a Pod none of whose ports resolve is no endpoint at all (there is nothing
  to send it), so `describe service` does not list it;
* conditions: serving = the Pod's Ready condition is True; terminating = it has a
  deletionTimestamp; ready = serving and not terminating, or always with
  publishNotReadyAddresses (the Service asks for every Pod, ready or not).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from apimachinery.ports import find_port, protocol_of
from controllers.replicaset import is_ready
from protos import core_pb2, discovery_pb2, meta_pb2

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
# Labels the controller owns on its slices: a Service label of the same name is not copied.
RESERVED_LABELS = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
ADDRESS_TYPE = "IPv4"

# The ports of one slice, as a hashable key: (name, protocol, port, appProtocol) sorted.
PortKey = tuple[tuple[str, str, int, str], ...]
# An endpoint's identity inside a Service: the Pod's namespace/name and its addresses.
EndpointKey = tuple[str, tuple[str, ...]]
# The endpoints that share one set of ports: those ports, and the endpoints by identity.
PortGroup = tuple[list[discovery_pb2.EndpointPort], dict[EndpointKey, discovery_pb2.Endpoint]]


def has_selector(service: core_pb2.Service) -> bool:
    """Services without a selector get no slices from this controller (their
    endpoints are someone else's to write)."""
    return bool(service.spec.selector)


def selects(service: core_pb2.Service, labels: Mapping[str, str]) -> bool:
    return has_selector(service) and all(labels.get(k) == v for k, v in service.spec.selector.items())


def pod_ipv4(pod: core_pb2.Pod) -> str:
    """The Pod's IPv4 address, or "" (no IP yet, or only IPv6)."""
    for ip in (pod.status.pod_ip, *(p.ip for p in pod.status.pod_ips)):
        if ip and ipaddress.ip_address(ip).version == 4:
            return ip
    return ""


def is_candidate(pod: core_pb2.Pod) -> bool:
    """ShouldPodBeInEndpoints(pod, includeTerminating=true)."""
    return pod.status.phase not in ("Succeeded", "Failed") and bool(pod_ipv4(pod))


def endpoint_ports(service: core_pb2.Service, pod: core_pb2.Pod) -> list[discovery_pb2.EndpointPort]:
    """One EndpointPort per Service port that resolves for this Pod, in the Service's order."""
    ports = []
    for port in service.spec.ports:
        number = find_port(pod, port)
        if number is None:
            continue
        out = discovery_pb2.EndpointPort(name=port.name, protocol=protocol_of(port), port=number)
        if port.app_protocol:
            out.app_protocol = port.app_protocol
        ports.append(out)
    return ports


def port_key(ports: list[discovery_pb2.EndpointPort] | tuple) -> PortKey:
    """Slices with the same ports (in any order) share a key (NewPortMapKey)."""
    return tuple(sorted((p.name, p.protocol, p.port, p.app_protocol) for p in ports))


def endpoint_key(endpoint: discovery_pb2.Endpoint) -> EndpointKey:
    ref = endpoint.target_ref
    return f"{ref.namespace}/{ref.name}", tuple(sorted(endpoint.addresses))


def _optional(message, name: str):
    return getattr(message, name) if message.HasField(name) else None


def same_endpoint(a: discovery_pb2.Endpoint, b: discovery_pb2.Endpoint) -> bool:
    """endpointsEqualBeyondHash: equal in every field this controller writes (a field the
    apiserver might add must not make every sync rewrite the slice)."""
    def view(e: discovery_pb2.Endpoint) -> tuple:
        ref = e.target_ref
        return (tuple(e.addresses), _optional(e.conditions, "ready"), _optional(e.conditions, "serving"),
                _optional(e.conditions, "terminating"), _optional(e, "hostname"), _optional(e, "node_name"),
                _optional(e, "zone"), (ref.kind, ref.namespace, ref.name, ref.uid))
    return view(a) == view(b)


def pod_endpoint(service: core_pb2.Service, pod: core_pb2.Pod) -> discovery_pb2.Endpoint:
    """podToEndpoint."""
    serving = is_ready(pod)
    terminating = pod.metadata.HasField("deletion_timestamp")
    ready = service.spec.publish_not_ready_addresses or (serving and not terminating)
    endpoint = discovery_pb2.Endpoint(
        addresses=[pod_ipv4(pod)],
        conditions=discovery_pb2.EndpointConditions(ready=ready, serving=serving, terminating=terminating),
        target_ref=meta_pb2.ObjectReference(kind="Pod", namespace=pod.metadata.namespace,
                                            name=pod.metadata.name, uid=pod.metadata.uid))
    if pod.spec.node_name:
        endpoint.node_name = pod.spec.node_name
    if (pod.spec.hostname and pod.spec.subdomain == service.metadata.name
            and pod.metadata.namespace == service.metadata.namespace):
        endpoint.hostname = pod.spec.hostname
    return endpoint


def desired_endpoints(service: core_pb2.Service, pods: list[core_pb2.Pod]) -> dict[PortKey, PortGroup]:
    """The Service's endpoints grouped by the ports they resolve to, Pods in name order."""
    grouped: dict[PortKey, PortGroup] = {}
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        if (pod.metadata.namespace != service.metadata.namespace or not selects(service, pod.metadata.labels)
                or not is_candidate(pod)):
            continue
        ports = endpoint_ports(service, pod)
        if service.spec.ports and not ports:
            continue  # none of the Service's ports exists on this Pod
        endpoint = pod_endpoint(service, pod)
        group = grouped.setdefault(port_key(ports), (ports, {}))
        group[1][endpoint_key(endpoint)] = endpoint
    return grouped


def slice_labels(service: core_pb2.Service) -> dict[str, str]:
    """setEndpointSliceLabels: the Service's own labels, then the controller's."""
    labels = {k: v for k, v in service.metadata.labels.items() if k not in RESERVED_LABELS}
    labels[SERVICE_NAME_LABEL] = service.metadata.name
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    if service.spec.cluster_ip == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def is_managed(slice_: discovery_pb2.EndpointSlice) -> bool:
    return slice_.metadata.labels.get(MANAGED_BY_LABEL) == CONTROLLER_NAME


def service_of(slice_: discovery_pb2.EndpointSlice) -> str:
    """The "namespace/name" key of the Service a slice belongs to ("" without the label)."""
    name = slice_.metadata.labels.get(SERVICE_NAME_LABEL, "")
    return f"{slice_.metadata.namespace}/{name}" if name else ""
