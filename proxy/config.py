"""pykube-proxy's settings: one dataclass, every default written once (the address plan's
from apimachinery/network.py), the flags derived from it."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from dataclasses import dataclass, fields

from apimachinery.network import CLUSTER_CIDR, CLUSTER_DNS_IP, CLUSTER_DOMAIN, SERVICE_CIDR
from component_base.flags import add_config_flag, non_negative_duration_arg
from component_base.logs import add_log_format_flag


@dataclass
class ProxyConfig:
    server: str = ""  # empty: the kubeconfig's server, else 127.0.0.1:6443
    kubeconfig: str = ""  # empty: plaintext
    node_name: str = ""  # empty: the host name, as kube-proxy's --hostname-override
    netns: str = ""  # empty: act in the proxy's own network namespace (a VM)
    cluster_cidr: str = CLUSTER_CIDR
    service_cluster_ip_range: str = SERVICE_CIDR
    cluster_dns_ip: str = CLUSTER_DNS_IP
    cluster_domain: str = CLUSTER_DOMAIN
    dns_port: int = 53
    # A change is programmed at once; further ones at most this often (kube-proxy's
    # --min-sync-period, whose 1 s default is far from pykube's 1 s programming target).
    min_sync_period: float = 0.005
    # Everything is rewritten this often even without a change (repairs a flushed table).
    sync_period: float = 30.0
    cleanup: bool = False


FLAGS = {
    "server": ("--server", "the apiserver (HOST:PORT); empty: the kubeconfig's, else 127.0.0.1:6443"),
    "kubeconfig": ("--kubeconfig", "kubeconfig with the apiserver, the CA and the proxy's client certificate "
                                   "(mutual TLS); empty: plaintext"),
    "node_name": ("--node-name", "this node's name; empty: the host name"),
    "netns": ("--netns", "program the network namespace at this path; empty: the proxy's own"),
    "cluster_cidr": ("--cluster-cidr", "the Pods' addresses: traffic from outside is masqueraded"),
    "service_cluster_ip_range": ("--service-cluster-ip-range", "the ClusterIPs' range (routed to pykube-dns)"),
    "cluster_dns_ip": ("--cluster-dns-ip", "the cluster DNS address this node serves"),
    "cluster_domain": ("--cluster-domain", "the cluster's DNS domain"),
    "dns_port": ("--dns-port", "the cluster DNS port (UDP and TCP)"),
}
DURATION_FLAGS = {
    "min_sync_period": ("--min-sync-period", "least time between two programmings"),
    "sync_period": ("--sync-period", "reprogram everything this often"),
}


def _check(parser: argparse.ArgumentParser, config: ProxyConfig) -> None:
    """Bad flags: kube-proxy's style of message and exit 2, before anything is touched."""
    for name, kind in (("cluster_cidr", ipaddress.IPv4Network), ("service_cluster_ip_range", ipaddress.IPv4Network),
                       ("cluster_dns_ip", ipaddress.IPv4Address)):
        value = getattr(config, name)
        try:
            kind(value)
        except ValueError as err:
            parser.error(f'invalid argument "{value}" for "{FLAGS[name][0]}" flag: {err}')
    if config.netns and not os.path.exists(config.netns):
        parser.error(f'invalid argument "{config.netns}" for "--netns" flag: no such network namespace')


def parse_config(argv: list[str] | None, description: str = "") -> tuple[ProxyConfig, str]:
    """The config and the --log-format."""
    parser = argparse.ArgumentParser(prog="pykube-proxy", description=description)
    for name, (flag, text) in FLAGS.items():
        add_config_flag(parser, flag, ProxyConfig, name, help=text, dest=name)
    for name, (flag, text) in DURATION_FLAGS.items():
        add_config_flag(parser, flag, ProxyConfig, name, help=text, dest=name, type=non_negative_duration_arg)
    parser.add_argument("--cleanup", action="store_true",
                        help="remove pykube-proxy's table, routes and DNS interface, then exit")
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    config = ProxyConfig(**{f.name: getattr(args, f.name) for f in fields(ProxyConfig)})
    config.node_name = config.node_name or socket.gethostname()
    _check(parser, config)
    return config, args.log_format
