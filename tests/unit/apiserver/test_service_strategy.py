"""Services through the Registry: Kubernetes' defaults and validation messages, and the
ClusterIPs and NodePorts held exactly while the Services holding them are stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from apimachinery.convert import to_dict
from apiserver.registry.registry import Registry
from services_testlib import open_registry, refused, service
from protos import core_pb2


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = open_registry(tmp_path)
    yield reg
    reg.store.close()


def held(registry: Registry, ip: str = "", node_port: int = 0) -> bool:
    strategy = registry.strategies["Service"]
    return strategy.cluster_ips.is_allocated(ip) if ip else strategy.node_ports.is_allocated(node_port)


def test_cluster_ip_service_defaults(registry: Registry) -> None:
    svc = registry.create(service(ports=[{"port": 8080}]))
    spec = to_dict(svc)["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"port": 8080, "protocol": "TCP", "targetPort": 8080}]
    assert spec["clusterIPs"] == [spec["clusterIP"]] and spec["clusterIP"].startswith("10.96.")
    assert spec["clusterIP"] not in ("10.96.0.0", "10.96.0.1", "10.96.0.10")
    assert (spec["sessionAffinity"], spec["internalTrafficPolicy"]) == ("None", "Cluster")
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert "externalTrafficPolicy" not in spec
    assert held(registry, ip=spec["clusterIP"])


def test_node_port_service_gets_a_node_port(registry: Registry) -> None:
    svc = registry.create(service(type="NodePort", ports=[{"port": 3050, "targetPort": 3000}]))
    port = svc.spec.ports[0]
    assert 30000 <= port.node_port <= 32767 and held(registry, node_port=port.node_port)
    assert svc.spec.external_traffic_policy == "Cluster"
    assert port.target_port.int_val == 3000


def test_headless_service_holds_no_ip(registry: Registry) -> None:
    svc = registry.create(service(clusterIP="None", ports=[]))
    assert (svc.spec.cluster_ip, list(svc.spec.cluster_ips)) == ("None", ["None"])
    assert registry.strategies["Service"].cluster_ips.free() == 65534


def test_requested_values_are_held(registry: Registry) -> None:
    svc = registry.create(service(type="NodePort", clusterIP="10.96.0.20",
                                  ports=[{"port": 3050, "targetPort": "http", "nodePort": 31515}]))
    assert svc.spec.cluster_ip == "10.96.0.20" and svc.spec.ports[0].target_port.str_val == "http"
    assert held(registry, ip="10.96.0.20") and held(registry, node_port=31515)


INVALID = [
    (dict(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]),
     'spec.ports[1].name: Duplicate value: "http"'),
    (dict(ports=[{"port": 80}, {"name": "b", "port": 81}]), "spec.ports[0].name: Required value"),
    (dict(ports=[{"port": 70000}]), "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    (dict(ports=[{"port": 80, "protocol": "ICMP"}]),
     'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
    (dict(ports=[{"port": 80, "targetPort": "web_http"}]),
     'spec.ports[0].targetPort: Invalid value: "web_http": must contain only alpha-numeric characters'),
    (dict(selector={"app": "not ok"}), 'spec.selector: Invalid value: "not ok": a valid label must be'),
    (dict(type="LoadBalancer"), 'spec.type: Unsupported value: "LoadBalancer": supported values: "ClusterIP", "NodePort"'),
    (dict(type="ExternalName"), 'spec.type: Unsupported value: "ExternalName"'),
    (dict(ports=[{"port": 80, "nodePort": 30001}]),
     "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
    (dict(type="NodePort", clusterIP="None"),
     "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"),
    (dict(clusterIP="10.0.0.5"), 'spec.clusterIPs[0]: Invalid value: "10.0.0.5": provided IP is not in the valid '
                                 "range. The range of valid IPs is 10.96.0.0/16"),
    (dict(clusterIP="10.96.0.300"), 'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address'),
    (dict(type="NodePort", ports=[{"port": 80, "nodePort": 40000}]),
     "spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. "
     "The range of valid ports is 30000-32767"),
    (dict(ports=[]), "spec.ports: Required value"),
    (dict(sessionAffinity="Sticky"), 'spec.sessionAffinity: Unsupported value: "Sticky": supported values: '
                                     '"ClientIP", "None"'),
    (dict(externalTrafficPolicy="Local"), 'spec.externalTrafficPolicy: Invalid value: "Local": may only be set '
                                          "for externally-accessible services"),
]


@pytest.mark.parametrize("spec, message", INVALID, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(INVALID)])
def test_invalid_services_are_refused_with_kubernetes_messages(registry: Registry, spec: dict, message: str) -> None:
    text = refused(registry.create, service("bad", **spec))
    assert text.startswith('Service "bad" is invalid: ') and message in text
    assert not registry.list("Service")[0]


def test_taken_values_are_refused_and_nothing_is_held(registry: Registry) -> None:
    registry.create(service("first", type="NodePort", clusterIP="10.96.0.20",
                            ports=[{"port": 3050, "nodePort": 31515}]))
    text = refused(registry.create, service("second", clusterIP="10.96.0.20"))
    assert text == ('Service "second" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.20": '
                    "provided IP is already allocated")
    text = refused(registry.create, service("second", type="NodePort", clusterIP="10.96.0.21",
                                            ports=[{"port": 3050, "nodePort": 31515}]))
    assert text == ('Service "second" is invalid: spec.ports[0].nodePort: Invalid value: 31515: '
                    "provided port is already allocated")
    assert not held(registry, ip="10.96.0.21")  # the IP it got first was given back
    assert [s.metadata.name for s in registry.list("Service")[0]] == ["first"]


def test_dry_run_holds_nothing(registry: Registry) -> None:
    svc = registry.create(service(type="NodePort", clusterIP="10.96.0.20"), dry_run=True)
    assert svc.spec.ports[0].node_port and not held(registry, node_port=svc.spec.ports[0].node_port)
    assert not held(registry, ip="10.96.0.20")
    assert registry.strategies["Service"].cluster_ips.free() == 65534
    registry.create(service(clusterIP="10.96.0.20"))


def test_update_keeps_allocations_the_update_leaves_out(registry: Registry) -> None:
    created = registry.create(service(type="NodePort", ports=[{"name": "http", "port": 80}]))
    replacement = service(type="NodePort", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    updated = registry.update(replacement)
    assert updated.spec.cluster_ip == created.spec.cluster_ip
    assert updated.spec.ports[0].node_port == created.spec.ports[0].node_port


def test_cluster_ip_may_not_change(registry: Registry) -> None:
    created = registry.create(service(clusterIP="10.96.0.20"))
    changed = core_pb2.Service()
    changed.CopyFrom(created)
    changed.spec.cluster_ip = "10.96.0.21"
    del changed.spec.cluster_ips[:]
    text = refused(registry.update, changed)
    assert text == ('Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.0.21"}: '
                    "may not change once set")
    assert held(registry, ip="10.96.0.20") and not held(registry, ip="10.96.0.21")


def test_type_change_allocates_and_releases_node_ports(registry: Registry) -> None:
    registry.create(service())
    to_node_port = registry.update(service(type="NodePort"))
    node_port = to_node_port.spec.ports[0].node_port
    assert node_port and held(registry, node_port=node_port)
    back = registry.update(service(type="ClusterIP"))
    assert back.spec.ports[0].node_port == 0 and back.spec.external_traffic_policy == ""
    assert not held(registry, node_port=node_port)


def test_delete_frees(registry: Registry) -> None:
    svc = registry.create(service(type="NodePort", clusterIP="10.96.0.20", ports=[{"port": 80, "nodePort": 31515}]))
    registry.delete("Service", "default", "web")
    assert not held(registry, ip=svc.spec.cluster_ip) and not held(registry, node_port=31515)
    registry.create(service("again", type="NodePort", clusterIP="10.96.0.20", ports=[{"port": 80, "nodePort": 31515}]))


def test_namespace_deletion_frees(registry: Registry) -> None:
    registry.create(core_pb2.Namespace(metadata={"name": "team"}))
    registry.create(service(namespace="team", type="NodePort", ports=[{"port": 80, "nodePort": 31515}]))
    registry.delete("Namespace", "", "team")
    assert not registry.list("Service", "team")[0] and not held(registry, node_port=31515)


def test_allocations_survive_a_restart(tmp_path: Path) -> None:
    first = open_registry(tmp_path)
    svc = first.create(service(type="NodePort", ports=[{"port": 3050, "nodePort": 31515}]))
    first.store.close()
    again = open_registry(tmp_path)
    try:
        assert held(again, ip=svc.spec.cluster_ip) and held(again, node_port=31515)
        text = refused(again.create, service("second", type="NodePort", ports=[{"port": 3050, "nodePort": 31515}]))
        assert "provided port is already allocated" in text
        again.delete("Service", "default", "web")
        assert not held(again, node_port=31515)
    finally:
        again.store.close()


def test_reapply_keeps_the_allocated_cluster_ip(registry: Registry) -> None:
    manifest = service(type="NodePort", ports=[{"port": 3050, "targetPort": 3000, "nodePort": 31515}])
    [(created, action)] = registry.apply([manifest])
    assert action == "created"
    [(again, action)] = registry.apply([manifest])
    assert action == "unchanged" and again.spec.cluster_ip == created.spec.cluster_ip
    # Dropping type from the manifest makes it a ClusterIP Service again and frees the nodePort.
    [(plain, action)] = registry.apply([service(ports=[{"port": 3050, "targetPort": 3000}])])
    assert action == "configured" and plain.spec.cluster_ip == created.spec.cluster_ip
    assert plain.spec.ports[0].node_port == 0 and not held(registry, node_port=31515)


def test_apply_refused_as_a_whole_holds_nothing(registry: Registry) -> None:
    text = refused(registry.apply, [service("a", type="NodePort", ports=[{"port": 80, "nodePort": 31515}]),
                                    service("b", type="NodePort", ports=[{"port": 80, "nodePort": 31515}])])
    assert text == 'Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 31515: provided port is already allocated'
    assert not held(registry, node_port=31515) and not registry.list("Service")[0]
    assert registry.strategies["Service"].cluster_ips.free() == 65534
