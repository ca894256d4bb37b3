"""A Pod's resolv.conf by dnsPolicy, as Kubernetes' kubelet writes it (pure)."""

from kubelet.dns import parse_resolv_conf, pod_dns
from kubelet.runtime import DNSConfig
from protos import core_pb2, meta_pb2

NODE = DNSConfig(servers=["192.0.2.53"], searches=["lab.example"], options=["edns0"])


def pod(policy: str = "", namespace: str = "shop") -> core_pb2.Pod:
    return core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name="web", namespace=namespace),
                        spec=core_pb2.PodSpec(dns_policy=policy))


def test_cluster_first_is_the_default():
    expected = DNSConfig(servers=["10.96.0.10"],
                         searches=["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"],
                         options=["ndots:5"])
    assert pod_dns(pod(), "10.96.0.10", "cluster.local", NODE) == expected
    assert pod_dns(pod("ClusterFirst"), "10.96.0.10", "cluster.local", NODE) == expected
    assert pod_dns(pod("ClusterFirstWithHostNet"), "10.96.0.10", "cluster.local", NODE) == expected


def test_other_domain_and_several_servers():
    got = pod_dns(pod(namespace="default"), "10.96.0.10, 10.96.0.11", "corp.internal", NODE)
    assert got.servers == ["10.96.0.10", "10.96.0.11"]
    assert got.searches == ["default.svc.corp.internal", "svc.corp.internal", "corp.internal"]


def test_default_is_the_nodes_and_none_is_nothing():
    assert pod_dns(pod("Default"), "10.96.0.10", "cluster.local", NODE) == NODE
    assert pod_dns(pod("None"), "10.96.0.10", "cluster.local", NODE) == DNSConfig()


def test_cluster_first_without_cluster_dns_falls_back_to_the_nodes():
    assert pod_dns(pod(), "", "cluster.local", NODE) == NODE


def test_parse_resolv_conf():
    text = "# comment\nnameserver 192.0.2.1\nnameserver 192.0.2.2 ; x\ndomain old.example\n" \
           "search a.example b.example\noptions ndots:2 edns0\nbogus\n"
    assert parse_resolv_conf(text) == DNSConfig(servers=["192.0.2.1", "192.0.2.2"],
                                                searches=["a.example", "b.example"],
                                                options=["ndots:2", "edns0"])
    assert parse_resolv_conf("") == DNSConfig()
