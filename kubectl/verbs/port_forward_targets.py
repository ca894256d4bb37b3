"""What ``pykubectl port-forward`` forwards to: the Pod, and the port numbers, as kubectl decides.

Pure functions over API objects (unit-tested without a server):

* :func:`pod_selector` — ``svc/NAME``, ``deployment/NAME`` and ``rs/NAME`` forward to one Pod of
  their selector, and :func:`pick_pod` chooses it as kubectl does (the most "active" first:
  bound, Running, Ready, fewest restarts, oldest);
* :func:`translate_service_ports` — for a Service, ``[LOCAL:]PORT`` names the *Service* port
  (number or name), mapped to its targetPort on the chosen Pod (a named targetPort through the
  Pod's container ports); without LOCAL the local port stays the Service port, so
  ``port-forward svc/client 3050`` listens on 3050 and reaches the Pod's 3000;
* :func:`convert_named_ports` — for a Pod, ``[LOCAL:]NAME`` names one of its container ports;
* :func:`parse_ports` — client-go's parsePorts: ``8080``, ``8080:80``, ``:80`` and ``0:80`` (a
  free local port), with its messages for anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from apimachinery.selectors import LabelSelector, Requirement
from kubectl.errors import CliError
from protos import apps_pb2, core_pb2

PHASE_RANK = {"Running": 2, "Unknown": 1}  # anything else (Pending) ranks 0


@dataclass(frozen=True)
class ForwardedPort:
    local: int  # 0: any free port
    remote: int


def _go_uint16(text: str) -> str | None:
    """Why Go's strconv.ParseUint(text, 10, 16) fails, or None when it parses."""
    if not text.isascii() or not text.isdigit():
        return f'strconv.ParseUint: parsing "{text}": invalid syntax'
    if int(text) > 65535:
        return f'strconv.ParseUint: parsing "{text}": value out of range'
    return None


def split_port(spec: str) -> tuple[str, str]:
    """kubectl's splitPort: ``LOCAL:REMOTE`` → both; ``PORT`` → (PORT, PORT); more colons are
    refused here (kubectl would quietly take the first part)."""
    parts = spec.split(":")
    if len(parts) > 2:
        raise CliError(f"invalid port format '{spec}'")
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[0])


def parse_ports(specs: Sequence[str]) -> list[ForwardedPort]:
    """client-go's parsePorts, with its error messages."""
    forwards = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) == 1:
            local_text = remote_text = parts[0]
        elif len(parts) == 2:
            local_text, remote_text = parts[0] or "0", parts[1]
        else:
            raise CliError(f"invalid port format '{spec}'")
        if (why := _go_uint16(local_text)) is not None:
            raise CliError(f"error parsing local port '{local_text}': {why}")
        if (why := _go_uint16(remote_text)) is not None:
            raise CliError(f"error parsing remote port '{remote_text}': {why}")
        if int(remote_text) == 0:
            raise CliError("remote port must be > 0")
        forwards.append(ForwardedPort(int(local_text), int(remote_text)))
    return forwards


def container_port_by_name(pod: core_pb2.Pod, name: str) -> int:
    for container in pod.spec.containers:
        for port in container.ports:
            if port.name == name:
                return port.container_port
    raise CliError(f"Pod '{pod.metadata.name}' does not have a named port '{name}'")


def convert_named_ports(specs: Sequence[str], pod: core_pb2.Pod) -> list[str]:
    """kubectl's convertPodNamedPortToNumber: ``[LOCAL:]NAME`` → ``LOCAL:NUMBER``."""
    converted = []
    for spec in specs:
        local, remote = split_port(spec)
        number = remote if remote.isdigit() else str(container_port_by_name(pod, remote))
        converted.append(number if local == remote else f"{local}:{number}")
    return converted


def target_port_of(service: core_pb2.Service, pod: core_pb2.Pod, port: int) -> int:
    """kubectl's LookupContainerPortNumberByServicePort: the Pod's port behind a Service port."""
    for spec in service.spec.ports:
        if spec.port != port:
            continue
        if service.spec.cluster_ip == "None":
            return port
        target = spec.target_port
        if target.WhichOneof("value") == "str_val" and target.str_val:
            return container_port_by_name(pod, target.str_val)
        return target.int_val or spec.port  # targetPort omitted: the Service port
    raise CliError(f"Service {service.metadata.name} does not have a service port {port}")


def translate_service_ports(specs: Sequence[str], service: core_pb2.Service, pod: core_pb2.Pod) -> list[str]:
    """kubectl's translateServicePortToTargetPort: ``[LOCAL:]SERVICE_PORT`` → ``LOCAL:TARGET_PORT``."""
    translated = []
    for spec in specs:
        local, remote = split_port(spec)
        if remote.isdigit():
            number = int(remote)
        else:
            named = [p.port for p in service.spec.ports if p.name == remote]
            if not named:
                raise CliError(f"Service '{service.metadata.name}' does not have a named port '{remote}'")
            number = named[0]
            if local == remote:
                local = str(number)
        target = str(target_port_of(service, pod, number))
        translated.append(target if local == target else f"{local}:{target}")
    return translated


def go_type(kind: str, api_version: str) -> str:
    """``*v1.Service``: how kubectl names a type in its messages."""
    return f"*{api_version.rpartition('/')[2]}.{kind}"


def pod_selector(obj: core_pb2.Service | apps_pb2.Deployment | apps_pb2.ReplicaSet) -> LabelSelector:
    """The selector whose Pods an object forwards to (kubectl's attachablePodForObject)."""
    if isinstance(obj, core_pb2.Service):
        if not obj.spec.selector:
            raise CliError(f"cannot attach to *v1.Service: invalid service '{obj.metadata.name}': "
                           "Service is defined without a selector")
        return LabelSelector(tuple(Requirement(key, "=", frozenset({value}))
                                   for key, value in sorted(obj.spec.selector.items())))
    return LabelSelector.from_proto(obj.spec.selector)


def _ready(pod: core_pb2.Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def activity(pod: core_pb2.Pod) -> tuple[bool, int, bool, int, float]:
    """Sort key, the most active Pod first (kubectl sorts by ActivePods, reversed)."""
    restarts = max((s.restart_count for s in pod.status.container_statuses), default=0)
    created = pod.metadata.creation_timestamp
    return (not pod.spec.node_name, -PHASE_RANK.get(pod.status.phase, 0), not _ready(pod), restarts,
            created.seconds + created.nanos / 1e9)


def pick_pod(pods: Sequence[core_pb2.Pod]) -> core_pb2.Pod | None:
    return min(pods, key=activity, default=None)
