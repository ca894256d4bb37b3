"""get and describe for Services and EndpointSlices: kubectl's columns and describer layout,
plus the selected Pods that are no endpoint for want of a named targetPort."""

from __future__ import annotations


import pytest
from kubectl_cluster_fake import ClusterFake
from kubectl_testlib import NOW, Harness, meta, run_verb

from kubectl.printers import TableOptions, format_table, table_headers, table_row
from apimachinery.kinds import info_of
from protos import core_pb2, discovery_pb2, meta_pb2


pytestmark = pytest.mark.usefixtures("utc")


def table(objects: list, **options: bool) -> str:
    opts = TableOptions(**options)
    return format_table(table_headers(info_of(objects[0]), opts), [table_row(obj, NOW, opts) for obj in objects])


def node_port_service() -> core_pb2.Service:
    svc = core_pb2.Service(metadata=meta("multi-client", "default"))
    svc.spec.type, svc.spec.cluster_ip, svc.spec.session_affinity = "NodePort", "10.96.12.7", "None"
    svc.spec.cluster_ips.append("10.96.12.7")
    svc.spec.ip_families.append("IPv4")
    svc.spec.ip_family_policy = "SingleStack"
    svc.spec.external_traffic_policy = svc.spec.internal_traffic_policy = "Cluster"
    svc.spec.selector["component"] = "web"
    port = svc.spec.ports.add(protocol="TCP", port=3050, node_port=31515)
    port.target_port.int_val = 3000
    return svc


def worker_service(target: str = "http") -> core_pb2.Service:
    svc = core_pb2.Service(metadata=meta("multi-worker", "default"))
    svc.spec.type, svc.spec.cluster_ip, svc.spec.session_affinity = "ClusterIP", "10.96.0.33", "None"
    svc.spec.cluster_ips.append("10.96.0.33")
    svc.spec.selector["app"] = "worker"
    port = svc.spec.ports.add(protocol="TCP", port=8080)
    port.target_port.str_val = target
    return svc


def slice_of(name: str, service: str, addresses: list[str], port: int = 8080, ready: bool = True,
             port_name: str = "") -> discovery_pb2.EndpointSlice:
    eps = discovery_pb2.EndpointSlice(metadata=meta(name, "default", **{"kubernetes.io/service-name": service}),
                                      address_type="IPv4")
    eps.ports.add(name=port_name, protocol="TCP", port=port)
    for i, address in enumerate(addresses):
        endpoint = eps.endpoints.add(addresses=[address], node_name=f"n{i + 1}")
        endpoint.conditions.ready = ready
        endpoint.target_ref.CopyFrom(meta_pb2.ObjectReference(kind="Pod", namespace="default", name=f"w-{i}"))
    return eps


def test_service_table() -> None:
    headless = core_pb2.Service(metadata=meta("db", "default", age_seconds=None))
    headless.spec.type, headless.spec.cluster_ip = "ClusterIP", "None"
    headless.spec.cluster_ips.append("None")
    assert table([node_port_service(), worker_service(), headless]) == (
        "NAME           TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)          AGE\n"
        "multi-client   NodePort    10.96.12.7   <none>        3050:31515/TCP   60s\n"
        "multi-worker   ClusterIP   10.96.0.33   <none>        8080/TCP         60s\n"
        "db             ClusterIP   None         <none>        <none>           <unknown>\n")
    assert table([node_port_service()], wide=True).splitlines()[1].endswith("60s   component=web")


def test_endpoint_slice_table() -> None:
    many = slice_of("multi-worker-x2b4k", "multi-worker", [f"10.88.{i}.5" for i in range(1, 6)])
    empty = discovery_pb2.EndpointSlice(metadata=meta("lonely-abcde", "default"), address_type="IPv4")
    assert table([many, empty]) == (
        "NAME                 ADDRESSTYPE   PORTS     ENDPOINTS                                   AGE\n"
        "multi-worker-x2b4k   IPv4          8080      10.88.1.5,10.88.2.5,10.88.3.5 + 2 more...   60s\n"
        "lonely-abcde         IPv4          <unset>   <unset>                                     60s\n")


def test_get_svc_and_get_all_include_services() -> None:
    cluster = ClusterFake()
    cluster.add(node_port_service())
    h = Harness(cluster)
    assert run_verb(h, "get", "svc") == 0
    assert h.stdout.splitlines()[1].split() == ["multi-client", "NodePort", "10.96.12.7", "<none>", "3050:31515/TCP",
                                                "60s"]
    h = Harness(cluster)
    assert run_verb(h, "get", "all") == 0
    assert h.stdout.splitlines()[1].startswith("service/multi-client ")


def test_describe_node_port_service() -> None:
    cluster = ClusterFake()
    cluster.add(node_port_service())
    cluster.add(slice_of("multi-client-ab12c", "multi-client", ["10.88.1.5", "10.88.2.5"], port=3000))
    h = Harness(cluster)
    assert run_verb(h, "describe", "service", "multi-client") == 0
    assert h.stdout == (
        "Name:                     multi-client\n"
        "Namespace:                default\n"
        "Labels:                   <none>\n"
        "Annotations:              <none>\n"
        "Selector:                 component=web\n"
        "Type:                     NodePort\n"
        "IP Family Policy:         SingleStack\n"
        "IP Families:              IPv4\n"
        "IP:                       10.96.12.7\n"
        "IPs:                      10.96.12.7\n"
        "Port:                     <unset>  3050/TCP\n"
        "TargetPort:               3000/TCP\n"
        "NodePort:                 <unset>  31515/TCP\n"
        "Endpoints:                10.88.1.5:3000,10.88.2.5:3000\n"
        "Session Affinity:         None\n"
        "External Traffic Policy:  Cluster\n"
        "Internal Traffic Policy:  Cluster\n"
        "Events:                   <none>\n")


def worker_pod(name: str, port_name: str) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta(name, "default", app="worker"))
    container = pod.spec.containers.add(name="worker", image="worker:1")
    container.ports.add(name=port_name, container_port=8080, protocol="TCP")
    return pod


def test_describe_service_names_pods_without_the_named_target_port() -> None:
    cluster = ClusterFake()
    cluster.add(worker_service("http"))
    cluster.add(worker_pod("worker-good", "http"))
    cluster.add(worker_pod("worker-abc", "web"))
    unready = slice_of("multi-worker-zz9", "multi-worker", ["10.88.3.9"], ready=False)
    cluster.add(unready)
    h = Harness(cluster)
    assert run_verb(h, "describe", "svc", "multi-worker") == 0
    lines = h.stdout.splitlines()
    assert "TargetPort:        http/TCP" in lines
    assert "Endpoints:         <none>" in lines  # the only endpoint is not ready
    assert 'Not endpoints:     worker-abc (no container port named "http")' in lines


def test_describe_endpoint_slice() -> None:
    cluster = ClusterFake()
    cluster.add(slice_of("multi-worker-x2b4k", "multi-worker", ["10.88.1.5"], port_name="http"))
    h = Harness(cluster)
    assert run_verb(h, "describe", "endpointslices", "multi-worker-x2b4k") == 0
    assert h.stdout == (
        "Name:         multi-worker-x2b4k\n"
        "Namespace:    default\n"
        "Labels:       kubernetes.io/service-name=multi-worker\n"
        "Annotations:  <none>\n"
        "AddressType:  IPv4\n"
        "Ports:\n"
        "  Name  Port  Protocol\n"
        "  ----  ----  --------\n"
        "  http  8080  TCP\n"
        "Endpoints:\n"
        "  - Addresses:  10.88.1.5\n"
        "    Conditions:\n"
        "      Ready:    true\n"
        "    Hostname:   <unset>\n"
        "    TargetRef:  Pod/w-0\n"
        "    NodeName:   n1\n"
        "    Zone:       <unset>\n"
        "Events:         <none>\n")
