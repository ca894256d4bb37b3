"""The kubelet's settings, with pykube's defaults: Kubernetes' values, except
where a laptop-sized cluster can afford to be faster (the Lease is renewed every
2 s, not 10 s; a pod worker re-syncs every 30 s, not every minute). Each field's
comment says what it tunes."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from apimachinery.network import CLUSTER_DNS_IP, CLUSTER_DOMAIN
from component_base.flags import add_config_flag


@dataclass
class KubeletConfig:
    node_name: str
    # Address the Node advertises (InternalIP): the node's own address on the cluster network.
    node_ip: str = "127.0.0.1"
    # The Node's Hostname address ("" = the node name), as --hostname-override sets it. The
    # apiserver dials kubelets by Hostname first (Kubernetes' --kubelet-preferred-address-types
    # order): a local cluster's kubelets say "localhost", since they listen on loopback.
    hostname_override: str = ""
    # Where the kubelet's own gRPC service (logs) listens.
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    # Lease renewal (the node heartbeat); Kubernetes renews every 10 s.
    lease_interval: float = 2.0
    lease_duration_seconds: int = 40
    # Node status is sent when it changes, and at least this often.
    node_status_interval: float = 60.0
    # Fallback relist of the runtime, when an event was missed.
    relist_interval: float = 10.0
    # Every pod worker re-syncs at least this often, even with nothing new.
    resync_interval: float = 30.0
    # Crash-loop back-off: first restart at once, then initial doubling to max;
    # forgotten after a container ran for reset_after seconds.
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    backoff_reset_after: float = 600.0
    # Image pull back-off after a failed pull, same curve.
    pull_backoff_initial: float = 10.0
    pull_backoff_max: float = 300.0
    max_pods: int = 110
    # Pods' DNS (dnsPolicy ClusterFirst): the cluster DNS server(s) (comma-separated) and domain.
    cluster_dns: str = CLUSTER_DNS_IP
    cluster_domain: str = CLUSTER_DOMAIN
    # The node's resolver config, which dnsPolicy Default Pods get.
    resolv_conf: str = "/etc/resolv.conf"
    # Network namespace to run probes from (a node's sealed netns); "" = our own.
    probe_netns: str = ""
    # Labels the Node registers with (besides kubernetes.io/hostname, os, arch).
    node_labels: dict[str, str] | None = None
    kubelet_version: str = "v0.1.0-pykube"
    # Where Pods' volumes live (pods/<uid>/volumes/...); "": <tmp>/pykube-kubelet-<node name>.
    root_dir: str = ""
    # The local-path provisioner's volumes on this node (published as the Node annotation
    # pykube.io/local-path-root); "": <root_dir>/storage.
    local_storage_dir: str = ""


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """The kubelet's settings as flags, shared by pykubelet and the hollow nodes (so
    that `pykube up --kubelet-arg=...` reaches both)."""
    add_config_flag(parser, "--node-ip", KubeletConfig, "node_ip", help="the address the Node advertises (InternalIP)")
    add_config_flag(parser, "--lease-interval", KubeletConfig, "lease_interval", metavar="SECONDS")
    add_config_flag(parser, "--relist-interval", KubeletConfig, "relist_interval", metavar="SECONDS")
    add_config_flag(parser, "--backoff-initial", KubeletConfig, "backoff_initial", metavar="SECONDS")
    add_config_flag(parser, "--backoff-max", KubeletConfig, "backoff_max", metavar="SECONDS")
    add_config_flag(parser, "--backoff-reset", KubeletConfig, "backoff_reset_after", metavar="SECONDS")
    add_config_flag(parser, "--max-pods", KubeletConfig, "max_pods")
    add_config_flag(parser, "--hostname-override", KubeletConfig, "hostname_override",
                    help="the Node's Hostname address (empty: the node name)")
    add_config_flag(parser, "--cluster-dns", KubeletConfig, "cluster_dns", metavar="IP[,IP]",
                    help="DNS server(s) of dnsPolicy ClusterFirst Pods")
    add_config_flag(parser, "--cluster-domain", KubeletConfig, "cluster_domain",
                    help="the cluster's DNS domain, searched by Pods")
    add_config_flag(parser, "--resolv-conf", KubeletConfig, "resolv_conf", metavar="PATH",
                    help="resolver config that dnsPolicy Default Pods get")
    add_config_flag(parser, "--root-dir", KubeletConfig, "root_dir", metavar="DIR",
                    help="where Pods' volumes live (default: <tmp>/pykube-kubelet-<node name>)")
    add_config_flag(parser, "--local-storage-dir", KubeletConfig, "local_storage_dir", metavar="DIR",
                    help="where local-path volumes of this node live (default: <root-dir>/storage)")
    parser.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE")


def config_from_flags(args: argparse.Namespace, node_name: str, **more: object) -> KubeletConfig:
    """A KubeletConfig from the flags add_settings_flags defined, plus any other fields."""
    labels = dict(item.split("=", 1) for item in args.node_label if "=" in item)
    return KubeletConfig(node_name=node_name, node_ip=args.node_ip, lease_interval=args.lease_interval,
                         relist_interval=args.relist_interval, backoff_initial=args.backoff_initial,
                         backoff_max=args.backoff_max, backoff_reset_after=args.backoff_reset,
                         max_pods=args.max_pods, node_labels=labels or None,
                         hostname_override=args.hostname_override, cluster_dns=args.cluster_dns,
                         cluster_domain=args.cluster_domain, resolv_conf=args.resolv_conf,
                         root_dir=args.root_dir, local_storage_dir=args.local_storage_dir, **more)  # type: ignore[arg-type]
