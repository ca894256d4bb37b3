"""EndpointSlices through the Registry (Kubernetes' defaults and ValidateEndpointSlice), and
the Pod field the cluster DNS depends on (dnsPolicy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apimachinery.convert import message_from_dict, to_dict
from apimachinery.kinds import kind_info
from apiserver.registry.registry import Registry
from services_testlib import endpoint_slice, open_registry, refused


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = open_registry(tmp_path)
    yield reg
    reg.store.close()


def ready_endpoint(ip: str) -> dict:
    return {"addresses": [ip], "conditions": {"ready": True}, "nodeName": "n1",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}}


def test_slice_port_defaults(registry: Registry) -> None:
    created = registry.create(endpoint_slice(addressType="IPv4", endpoints=[ready_endpoint("10.88.1.5")],
                                             ports=[{"port": 8080}]))
    assert to_dict(created)["ports"] == [{"name": "", "protocol": "TCP", "port": 8080}]


INVALID = [
    (dict(), "addressType: Required value"),
    (dict(addressType="IPv5"), 'addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"'),
    (dict(addressType="IPv4", endpoints=[{"addresses": []}]),
     "endpoints[0].addresses: Required value: must contain at least 1 address"),
    (dict(addressType="IPv4", endpoints=[ready_endpoint("10.88.1")]),
     'endpoints[0].addresses[0]: Invalid value: "10.88.1": must be a valid IPv4 address'),
    (dict(addressType="IPv4", endpoints=[ready_endpoint("10.88.1.5")] * 1001),
     "endpoints: Too many: 1001: must have at most 1000 items"),
    (dict(addressType="IPv4", ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]),
     'ports[1].name: Duplicate value: "http"'),
    (dict(addressType="IPv4", ports=[{"port": 0}]), "ports[0].port: Invalid value: 0: must be between 1 and 65535"),
    (dict(addressType="IPv4", ports=[{"port": 80, "protocol": "ICMP"}]), 'ports[0].protocol: Unsupported value: "ICMP"'),
]


@pytest.mark.parametrize("fields, message", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_slices_are_refused(registry: Registry, fields: dict, message: str) -> None:
    text = refused(registry.create, endpoint_slice(**fields))
    assert text.startswith('EndpointSlice.discovery.k8s.io "web-abcde" is invalid: ') and message in text


def test_address_type_is_immutable(registry: Registry) -> None:
    registry.create(endpoint_slice(addressType="IPv4"))
    changed = endpoint_slice(addressType="IPv6")
    assert 'addressType: Invalid value: "IPv6": field is immutable' in refused(registry.update, changed)


def pod(**spec: object):  # type: ignore[no-untyped-def]
    body = {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}], **spec}}
    return message_from_dict(body, kind_info("Pod").message, "Pod")


def test_pods_default_to_cluster_first_dns(registry: Registry) -> None:
    assert registry.create(pod()).spec.dns_policy == "ClusterFirst"


def test_unknown_dns_policy_is_refused(registry: Registry) -> None:
    assert ('spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", '
            '"ClusterFirstWithHostNet", "Default", "None"') in refused(registry.create, pod(dnsPolicy="Cluster"))
