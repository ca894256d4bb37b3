"""Builders for the proxy's unit tests: Services, EndpointSlices and Nodes as the API hands
them to pykube-proxy (Kubernetes' shapes, defaults filled in by the apiserver)."""

from __future__ import annotations

from protos import core_pb2, discovery_pb2, meta_pb2


def service(name: str, cluster_ip: str, ports: list[tuple[str, str, int]], *, namespace: str = "default",
            type: str = "ClusterIP", node_ports: dict[str, int] | None = None,
            external_traffic_policy: str = "") -> core_pb2.Service:
    """ports: (name, protocol, port) triples; node_ports: port name -> nodePort."""
    svc = core_pb2.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = name, namespace
    svc.spec.cluster_ip, svc.spec.type = cluster_ip, type
    if cluster_ip != "None":
        svc.spec.cluster_ips.append(cluster_ip)
    svc.spec.external_traffic_policy = external_traffic_policy or ("Cluster" if type == "NodePort" else "")
    for port_name, protocol, port in ports:
        svc.spec.ports.add(name=port_name, protocol=protocol, port=port,
                           target_port=meta_pb2.IntOrString(int_val=port),
                           node_port=(node_ports or {}).get(port_name, 0))
    return svc


def endpoint_slice(service_name: str, ports: list[tuple[str, str, int]],
                   endpoints: list[tuple[str, bool | None, str]], *, namespace: str = "default",
                   suffix: str = "abcde", hostnames: dict[str, str] | None = None,
                   ) -> discovery_pb2.EndpointSlice:
    """ports: (name, protocol, targetPort); endpoints: (address, ready or None=unset, nodeName)."""
    s = discovery_pb2.EndpointSlice(api_version="discovery.k8s.io/v1", kind="EndpointSlice",
                                    address_type="IPv4")
    s.metadata.name, s.metadata.namespace = f"{service_name}-{suffix}", namespace
    s.metadata.labels["kubernetes.io/service-name"] = service_name
    s.metadata.labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io"
    for port_name, protocol, port in ports:
        s.ports.add(name=port_name, protocol=protocol, port=port)
    for address, ready, node in endpoints:
        ep = s.endpoints.add(addresses=[address], node_name=node)
        if ready is not None:
            ep.conditions.ready = ready
        if hostnames and address in hostnames:
            ep.hostname = hostnames[address]
    return s


def node(name: str, pod_cidr: str = "", internal_ip: str = "") -> core_pb2.Node:
    n = core_pb2.Node(api_version="v1", kind="Node")
    n.metadata.name = name
    if pod_cidr:
        n.spec.pod_cidr = pod_cidr
        n.spec.pod_cidrs.append(pod_cidr)
    if internal_ip:
        n.status.addresses.add(type="InternalIP", address=internal_ip)
    n.status.addresses.add(type="Hostname", address=name)
    return n
