"""``pykube`` without processes: root check, empty state dirs, what `up` records and writes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from cluster import cli, local_cluster
from cluster.local_cluster import (
    ClusterSpec,
    LocalCluster,
    write_pykubectl_config,
)


def test_up_as_non_root_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 1000)
    assert cli.main(["up", "--nodes", "2", "--state-dir", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pykube up: pykube up needs root (network namespaces, rootful Podman): run it with sudo"]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("verb", ["down", "stop-node", "start-node"])
def test_other_changing_verbs_need_root_too(monkeypatch, tmp_path, capsys, verb):
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 1000)
    args = [verb, "--state-dir", str(tmp_path)] + (["n1"] if "node" in verb else [])
    assert cli.main(args) == 1
    assert "needs root" in capsys.readouterr().err


def test_status_without_a_cluster(tmp_path, capsys):
    assert cli.main(["status", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.strip() == f"no cluster in {tmp_path.resolve()}"


def test_down_without_a_cluster_is_fine(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 0)
    assert cli.main(["down", "--state-dir", str(tmp_path / "none")]) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_stop_node_of_an_unknown_node(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 0)
    ClusterSpec(name="x", port=1234, nodes=["n1", "n2"]).save(tmp_path / "cluster.json")
    assert cli.main(["stop-node", "n7", "--state-dir", str(tmp_path)]) == 1
    assert "no node n7 in this cluster (nodes: n1, n2)" in capsys.readouterr().err


def test_skip_accepts_only_optional_components(capsys):
    with pytest.raises(SystemExit):
        cli.main(["up", "--skip", "apiserver"])
    assert "invalid choice" in capsys.readouterr().err


def test_podmans_own_default_network_stays_out_of_the_address_plan(tmp_path):
    from apimachinery.network import CLUSTER_CIDR, SERVICE_CIDR
    from cluster.cluster_network import NODE_NETWORK
    from cluster.podman_config import PodmanConfig

    conf = PodmanConfig(tmp_path).render_containers_conf()
    subnet = ipaddress.ip_network(conf.split("default_subnet = ")[1].split("\n")[0].strip('"'))
    for taken in (CLUSTER_CIDR, SERVICE_CIDR, NODE_NETWORK):
        assert not subnet.overlaps(ipaddress.ip_network(taken))


def test_spec_round_trips_and_ignores_unknown_keys(tmp_path):
    spec = ClusterSpec(name="e2e", port=6443, nodes=["n1"], hollow_nodes=["hollow-1"], skip=["scheduler"],
                       registry="127.0.0.1:5000",
                       extra_args={"kubelet": ["--backoff-initial=1"]}, started_at=1.5)
    path = tmp_path / "cluster.json"
    spec.save(path)
    assert ClusterSpec.load(path) == spec
    path.write_text(path.read_text().replace('"name"', '"future_field": 1, "name"'))
    assert ClusterSpec.load(path) == spec
    assert spec.address == "127.0.0.1:6443"
    assert spec.control_plane() == ["apiserver", "controller-manager"]
    assert spec.all_nodes == ["n1", "hollow-1"]


def test_component_command_lines(tmp_path):
    cluster = LocalCluster(tmp_path)
    spec = ClusterSpec(name="e2e", port=7000, nodes=["n1"], hollow_nodes=["hollow-1"], registry="127.0.0.1:5000",
                       extra_args={"kubelet": ["--backoff-initial=1"]})
    kubelet = cluster._argv(spec, "n1/kubelet")
    assert kubelet[1:3] == ["-m", "kubelet.main"]
    assert kubelet[kubelet.index("--podman-url") + 1] == f"unix://{tmp_path.resolve()}/nodes/n1/podman.sock"
    assert kubelet[kubelet.index("--probe-netns") + 1] == "/run/netns/pykube-e2e-n1"
    assert kubelet[kubelet.index("--local-storage-dir") + 1] == f"{tmp_path.resolve()}/storage/n1"
    assert kubelet[kubelet.index("--node-ip") + 1] == "10.87.0.2"  # its InternalIP, on the cluster network
    assert kubelet[kubelet.index("--hostname-override") + 1] == "localhost"  # where the apiserver dials it
    assert kubelet[-1] == "--backoff-initial=1"
    pki = tmp_path.resolve() / "pki"
    assert kubelet[kubelet.index("--kubeconfig") + 1] == str(pki / "kubelet-n1.conf")
    proxy = cluster._argv(spec, "n1/proxy")
    assert proxy[1:] == ["-m", "proxy.main", "--server", "127.0.0.1:7000", "--kubeconfig", str(pki / "proxy-n1.conf"),
                         "--node-name", "n1", "--netns", "/run/netns/pykube-e2e-n1"]
    nodeports = cluster._argv(spec, "nodeports")
    assert nodeports[1:] == ["-m", "cluster.nodeport_publisher", "--server", "127.0.0.1:7000",
                             "--kubeconfig", str(pki / "nodeports.conf"), "--switch-netns", "/run/netns/pykube-e2e-net"]
    apiserver = " ".join(cluster._argv(spec, "apiserver"))
    assert f"--tls-cert-file {pki}/apiserver.crt --tls-private-key-file {pki}/apiserver.key " \
           f"--client-ca-file {pki}/ca.crt --authorization-mode Node,RBAC" in apiserver
    for component, conf in (("scheduler", "scheduler.conf"), ("controller-manager", "controller-manager.conf"),
                            ("hollow-nodes", "hollow-nodes.conf")):
        argv = cluster._argv(spec, component)
        assert argv[argv.index("--kubeconfig") + 1] == str(pki / conf), component
    # Every hollow node in one process, which reads the stopped file stop-node writes.
    hollow = cluster._argv(spec, "hollow-nodes")
    assert hollow[1:3] == ["-m", "kubelet.hollow"]
    assert hollow[hollow.index("--nodes") + 1] == "1" and hollow[hollow.index("--prefix") + 1] == "hollow-"
    assert hollow[hollow.index("--stopped-file") + 1] == str(tmp_path.resolve() / "hollow-stopped")
    assert hollow[-1] == "--backoff-initial=1"
    # The PID-reuse guard: each marker is a piece of that component's own command line.
    for component in ("apiserver", "scheduler", "controller-manager", "n1/kubelet", "n1/proxy", "nodeports",
                      "hollow-nodes"):
        assert cluster._marker(spec, component) in " ".join(cluster._argv(spec, component)) + " ", component


def test_the_apiserver_serves_the_http_api_and_kubectl_gets_a_kubeconfig_for_it(tmp_path):
    cluster = LocalCluster(tmp_path)
    spec = ClusterSpec(name="e2e", port=7000, http_port=7001, nodes=["n1"])
    argv = cluster._argv(spec, "apiserver")
    assert argv[argv.index("--http-listen") + 1] == "127.0.0.1:7001"
    assert "--http-listen" not in cluster._argv(ClusterSpec(name="old", port=7000, nodes=[]), "apiserver")
    cluster.pki.issue(spec.address, spec.nodes, ["10.87.0.2"])
    cluster._write_configs(spec, False)
    admin = yaml.safe_load(cluster.config_path.read_text())
    kubeconfig = yaml.safe_load(cluster.kubeconfig_path.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7001"
    assert kubeconfig["users"] == admin["users"]  # the admin's certificate, as for pykubectl
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == \
        admin["clusters"][0]["cluster"]["certificate-authority-data"]
    assert cluster.kubeconfig_path.stat().st_mode & 0o777 == 0o600


def test_pykubectl_config_keeps_other_keys(tmp_path):
    path = tmp_path / "sub" / "config"
    write_pykubectl_config(path, "127.0.0.1:6443")
    assert yaml.safe_load(path.read_text()) == {"server": "127.0.0.1:6443"}
    path.write_text("server: 127.0.0.1:1\nnamespace: team\n")
    write_pykubectl_config(path, "127.0.0.1:7443")
    assert yaml.safe_load(path.read_text()) == {"server": "127.0.0.1:7443", "namespace": "team"}


def test_default_state_dir(monkeypatch):
    monkeypatch.delenv("PYKUBE_STATE_DIR", raising=False)
    assert local_cluster.default_state_dir() == Path("/var/lib/pykube")
    monkeypatch.setenv("PYKUBE_STATE_DIR", "/tmp/elsewhere")
    assert local_cluster.default_state_dir() == Path("/tmp/elsewhere")
