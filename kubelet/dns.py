"""A Pod's ``/etc/resolv.conf``, as the kubelet decides it (Kubernetes' pkg/kubelet/network/dns).

By the Pod's ``dnsPolicy``:

* ``ClusterFirst`` (the default; ``ClusterFirstWithHostNet`` is the same here, pykube has no
  host-network Pods): the cluster DNS server (``--cluster-dns``), the search path
  ``<namespace>.svc.<domain> svc.<domain> <domain>`` and ``options ndots:5``, so that
  ``wget http://multi-worker:8080`` finds the Service of the Pod's own namespace and every
  name with fewer than five dots tries the cluster's names first. Without a cluster DNS
  address the kubelet falls back to ``Default``, as Kubernetes' does;
* ``Default``: the node's own resolver config (``--resolv-conf``);
* ``None``: nothing (a Pod's ``dnsConfig`` would fill it; pykube has none yet).

Pure functions, so the rules are unit-tested without a runtime.
"""

from __future__ import annotations

from kubelet.runtime import DNSConfig
from protos import core_pb2

NDOTS = "ndots:5"


def parse_resolv_conf(text: str) -> DNSConfig:
    """nameserver / search / options lines of a resolv.conf (``domain`` counts as a search)."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2:
            continue
        if words[0] == "nameserver":
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = words[1:]  # the last one wins, as in the resolver
        elif words[0] == "options":
            options += words[1:]
    return DNSConfig(servers=servers, searches=searches, options=options)


def read_resolv_conf(path: str) -> DNSConfig:
    """The node's resolv.conf; a missing file is an empty one (no DNS on the node)."""
    try:
        with open(path) as f:
            return parse_resolv_conf(f.read())
    except OSError:
        return DNSConfig()


def cluster_searches(namespace: str, domain: str) -> list[str]:
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


def pod_dns(pod: core_pb2.Pod, cluster_dns: str, cluster_domain: str, node: DNSConfig) -> DNSConfig:
    """The DNSConfig of ``pod``'s sandbox; ``node`` is the node's own (for dnsPolicy Default)."""
    policy = pod.spec.dns_policy or "ClusterFirst"
    if policy == "None":
        return DNSConfig()
    servers = [s.strip() for s in cluster_dns.split(",") if s.strip()]
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and servers:
        return DNSConfig(servers=servers, searches=cluster_searches(pod.metadata.namespace, cluster_domain),
                         options=[NDOTS])
    return node
