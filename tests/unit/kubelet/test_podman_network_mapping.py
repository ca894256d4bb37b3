"""The Pod network in Podman's words: the ``pykube`` bridge on the podCIDR and the pod-create
fields that put a sandbox on it with its resolv.conf (pure)."""

import pytest

from kubelet.runtime import DNSConfig
from kubelet.runtime.podman_mapping import (
    POD_NETWORK,
    network_subnets,
    pod_network_body,
    sandbox_network_fields,
)


def test_the_pod_network_is_a_bridge_on_the_pod_cidr_with_the_gateway_first():
    assert pod_network_body("10.88.3.0/24") == {
        "name": "pykube", "driver": "bridge",
        "subnets": [{"subnet": "10.88.3.0/24", "gateway": "10.88.3.1"}]}


@pytest.mark.parametrize("bad", ["10.88.3.7/24", "nonsense", "fd00::/64", "10.88.3.0/31"])
def test_a_bad_pod_cidr_is_refused(bad):
    with pytest.raises(ValueError):
        pod_network_body(bad)


def test_network_subnets_from_an_inspect():
    assert network_subnets({"name": "pykube", "subnets": [{"subnet": "10.88.3.0/24", "gateway": "10.88.3.1"}]}) \
        == ["10.88.3.0/24"]
    assert network_subnets({}) == []


def test_a_sandbox_joins_the_pod_network_with_the_pods_dns():
    dns = DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"], options=["ndots:5"])
    assert sandbox_network_fields(POD_NETWORK, dns) == {
        "netns": {"nsmode": "bridge"}, "Networks": {"pykube": {}},
        "dns_server": ["10.96.0.10"], "dns_search": ["default.svc.cluster.local"], "dns_option": ["ndots:5"]}


def test_without_a_network_podman_picks_its_default_and_empty_dns_means_no_resolv_conf_of_ours():
    assert sandbox_network_fields("", DNSConfig()) == {"no_manage_resolv_conf": True}
