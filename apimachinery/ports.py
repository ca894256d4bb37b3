"""Which port of a Pod a Service port means: one rule shared by every component.

A Service port's ``targetPort`` is a number, the name of a container port (resolved in each
Pod, so Pods of one Service may listen on different numbers), or unset (the Service's own
port). Kubernetes writes this once, ``podutil.FindPort``; so does pykube: the EndpointSlice
controller resolves ports with it and ``pykubectl describe service`` names the Pods it fails for.
"""

from __future__ import annotations

from protos import core_pb2, discovery_pb2

DEFAULT_PROTOCOL = "TCP"


def protocol_of(port: core_pb2.ServicePort | core_pb2.ContainerPort | discovery_pb2.EndpointPort) -> str:
    """A port's protocol, TCP when unset (Kubernetes' default)."""
    return port.protocol or DEFAULT_PROTOCOL


def find_port(pod: core_pb2.Pod, port: core_pb2.ServicePort) -> int | None:
    """podutil.FindPort: the Pod's port number for one Service port, or None when a named
    targetPort matches no container port of the Pod (by name and protocol)."""
    which = port.target_port.WhichOneof("value")
    if which == "str_val" and port.target_port.str_val:
        name, protocol = port.target_port.str_val, protocol_of(port)
        for container in pod.spec.containers:
            for cport in container.ports:
                if cport.name == name and protocol_of(cport) == protocol:
                    return cport.container_port
        return None
    if which == "int_val" and port.target_port.int_val:
        return port.target_port.int_val
    return port.port  # unset targetPort: the Service's port
