"""describe service and endpointslice, as kubectl's describers write them.

A Service's ``Endpoints:`` line comes from its EndpointSlices (label
``kubernetes.io/service-name``), ready endpoints only, ``ip:port`` of the first three. One
line kubectl does not have: ``Not endpoints:`` names the Pods the selector picks that are no
endpoint because they lack the port a named targetPort asks for, since that is the first
thing to look for when a Service answers nobody.
"""

from __future__ import annotations

from typing import Sequence

from apimachinery.kinds import kind_info
from apimachinery.ports import find_port
from apimachinery.selectors import LabelSelector
from apimachinery.tables.cells import NONE, format_labels
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter
from kubectl.verbs.describe.common import (
    LEVEL_0,
    LEVEL_1,
    LEVEL_2,
    LEVEL_3,
    annotations_multiline,
    describe_events,
    go_bool,
    int_or_string,
    labels_multiline,
)
from kubectl.watching import Query, list_objects
from protos import core_pb2, discovery_pb2, meta_pb2

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
UNSET = "<unset>"
ENDPOINTS_SHOWN = 3


def endpoints_text(slices: Sequence[discovery_pb2.EndpointSlice], port_name: str) -> str:
    """``10.88.1.5:3000,10.88.2.7:3000 + 2 more...`` for the Service port named port_name
    (kubectl's formatEndpointSlices: ``<none>`` without slices, empty when none is ready)."""
    if not slices:
        return NONE
    shown: list[str] = []
    count = 0
    for eps in slices:
        ports = [p.port if p.HasField("port") else None for p in eps.ports if p.name == port_name] \
            if eps.ports else [None]
        for port in ports:
            for endpoint in eps.endpoints:
                if not endpoint.addresses or (endpoint.conditions.HasField("ready") and not endpoint.conditions.ready):
                    continue
                address = f"[{endpoint.addresses[0]}]" if ":" in endpoint.addresses[0] else endpoint.addresses[0]
                count += 1
                if len(shown) < ENDPOINTS_SHOWN:
                    shown.append(address if port is None else f"{address}:{port}")
    text = ",".join(shown)
    return f"{text} + {count - ENDPOINTS_SHOWN} more..." if count > ENDPOINTS_SHOWN else text


def lacks_named_port(pod: core_pb2.Pod, port: core_pb2.ServicePort) -> bool:
    """A named targetPort no container port of the Pod answers (Kubernetes' FindPort)."""
    return find_port(pod, port) is None


def _slices_of(ctx: Context, svc: core_pb2.Service) -> list[discovery_pb2.EndpointSlice]:
    query = Query(kind_info("EndpointSlice"), svc.metadata.namespace, f"{SERVICE_NAME_LABEL}={svc.metadata.name}")
    slices, _ = list_objects(ctx.api, query)
    return slices  # type: ignore[return-value]


def _selected_pods(ctx: Context, svc: core_pb2.Service) -> list[core_pb2.Pod]:
    """The Pods a named targetPort is resolved in (none needed when every targetPort is a number)."""
    named = any(p.target_port.WhichOneof("value") == "str_val" for p in svc.spec.ports)
    if not svc.spec.selector or not named:
        return []
    selector = LabelSelector.from_proto(meta_pb2.LabelSelector(match_labels=svc.spec.selector))
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), svc.metadata.namespace, str(selector)))
    return [pod for pod in pods if selector.matches(pod.metadata.labels)]  # type: ignore[misc]


def describe_service(ctx: Context, svc: core_pb2.Service, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec = svc.metadata, svc.spec
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Selector:\t{format_labels(spec.selector)}\n")
    w.write(LEVEL_0, f"Type:\t{spec.type}\n")
    if spec.ip_family_policy:
        w.write(LEVEL_0, f"IP Family Policy:\t{spec.ip_family_policy}\n")
    w.write(LEVEL_0, f"IP Families:\t{','.join(spec.ip_families) or NONE}\n")
    w.write(LEVEL_0, f"IP:\t{spec.cluster_ip}\n")
    w.write(LEVEL_0, f"IPs:\t{','.join(spec.cluster_ips) or NONE}\n")
    slices = _slices_of(ctx, svc)
    pods = _selected_pods(ctx, svc)
    for port in spec.ports:
        name = port.name or UNSET
        w.write(LEVEL_0, f"Port:\t{name}\t{port.port}/{port.protocol}\n")
        w.write(LEVEL_0, f"TargetPort:\t{int_or_string(port.target_port)}/{port.protocol}\n")
        if port.app_protocol:
            w.write(LEVEL_0, f"AppProtocol:\t{port.app_protocol}\n")
        if port.node_port:
            w.write(LEVEL_0, f"NodePort:\t{name}\t{port.node_port}/{port.protocol}\n")
        w.write(LEVEL_0, f"Endpoints:\t{endpoints_text(slices, port.name)}\n")
        missing = [pod.metadata.name for pod in pods if lacks_named_port(pod, port)]
        if missing:
            why = f'(no container port named "{port.target_port.str_val}")'
            w.write(LEVEL_0, f"Not endpoints:\t{', '.join(f'{name} {why}' for name in missing)}\n")
    w.write(LEVEL_0, f"Session Affinity:\t{spec.session_affinity}\n")
    if spec.external_traffic_policy:
        w.write(LEVEL_0, f"External Traffic Policy:\t{spec.external_traffic_policy}\n")
    if spec.internal_traffic_policy:
        w.write(LEVEL_0, f"Internal Traffic Policy:\t{spec.internal_traffic_policy}\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def describe_endpoint_slice(ctx: Context, eps: discovery_pb2.EndpointSlice,
                            events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    w.write(LEVEL_0, f"Name:\t{eps.metadata.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{eps.metadata.namespace}\n")
    labels_multiline(w, "Labels", eps.metadata.labels)
    annotations_multiline(w, "Annotations", eps.metadata.annotations)
    w.write(LEVEL_0, f"AddressType:\t{eps.address_type}\n")
    if not eps.ports:
        w.write(LEVEL_0, f"Ports: {UNSET}\n")
    else:
        w.write(LEVEL_0, "Ports:\n")
        w.write(LEVEL_1, "Name\tPort\tProtocol\n")
        w.write(LEVEL_1, "----\t----\t--------\n")
        for port in eps.ports:
            number = str(port.port) if port.HasField("port") else UNSET
            w.write(LEVEL_1, f"{port.name or UNSET}\t{number}\t{port.protocol}\n")
    if not eps.endpoints:
        w.write(LEVEL_0, f"Endpoints: {NONE}\n")
    else:
        w.write(LEVEL_0, "Endpoints:\n")
    for endpoint in eps.endpoints:
        w.write(LEVEL_1, f"- Addresses:\t{','.join(endpoint.addresses) or NONE}\n")
        w.write(LEVEL_2, "Conditions:\n")
        ready = go_bool(endpoint.conditions.ready) if endpoint.conditions.HasField("ready") else UNSET
        w.write(LEVEL_3, f"Ready:\t{ready}\n")
        w.write(LEVEL_2, f"Hostname:\t{endpoint.hostname if endpoint.HasField('hostname') else UNSET}\n")
        if endpoint.HasField("target_ref"):
            w.write(LEVEL_2, f"TargetRef:\t{endpoint.target_ref.kind}/{endpoint.target_ref.name}\n")
        w.write(LEVEL_2, f"NodeName:\t{endpoint.node_name if endpoint.HasField('node_name') else UNSET}\n")
        w.write(LEVEL_2, f"Zone:\t{endpoint.zone if endpoint.HasField('zone') else UNSET}\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()
