"""pykube-proxy's command line: defaults from the address plan, bad flags refused before
anything is touched, a clear error when nftables is missing."""

from __future__ import annotations

import pytest

from apimachinery.network import CLUSTER_CIDR, CLUSTER_DNS_IP, SERVICE_CIDR
from proxy import main as proxy_main
from proxy.config import parse_config
from proxy.program import missing_tools


def test_defaults_come_from_the_address_plan():
    config, log_format = parse_config(["--node-name", "n1"])
    assert (config.cluster_cidr, config.service_cluster_ip_range, config.cluster_dns_ip) == (
        CLUSTER_CIDR, SERVICE_CIDR, CLUSTER_DNS_IP)
    assert config.node_name == "n1" and config.netns == "" and log_format == "json"


def test_node_name_defaults_to_the_host_name(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "vm-worker-1")
    assert parse_config([])[0].node_name == "vm-worker-1"


@pytest.mark.parametrize("argv, message", [
    (["--cluster-cidr", "10.88.0.0/33"], 'invalid argument "10.88.0.0/33" for "--cluster-cidr" flag'),
    (["--cluster-dns-ip", "nope"], 'invalid argument "nope" for "--cluster-dns-ip" flag'),
    (["--netns", "/run/netns/does-not-exist"], "no such network namespace"),
    (["--min-sync-period=soon"], "invalid duration \"soon\""),
])
def test_bad_flags_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_nft_is_named_with_its_package(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "nft (package nftables)" in missing_tools()
    assert proxy_main.main(["--node-name", "n1"]) == 1
    assert "needs nft (package nftables)" in capsys.readouterr().err
