"""``<state>/pki``: the CA kept across runs, one identity per component, keys 0600, and the
components' ``--kubeconfig`` read back by client.config.component_settings."""

from __future__ import annotations

import argparse

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from client import pki
from client.config import ConfigError, add_connection_flags, component_settings
from cluster.cluster_pki import ClusterPKI


def subject(tls) -> tuple[str, list[str]]:
    cert = x509.load_pem_x509_certificate(tls.cert_pem)
    return (cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
            [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)])


def test_issue_makes_every_identity_and_keeps_the_ca(tmp_path):
    store = ClusterPKI(tmp_path / "pki")
    ca = store.issue("127.0.0.1:7000", ["n1", "n2"], ["10.87.0.2", "10.87.0.3"], hollow=True)
    assert (tmp_path / "pki").stat().st_mode & 0o777 == 0o700
    for key in ("ca.key", "apiserver.key", "apiserver-kubelet-client.key", "admin.conf", "kubelet-n1.conf"):
        assert (tmp_path / "pki" / key).stat().st_mode & 0o777 == 0o600, key
    expected = {
        "admin": ("system:admin", ["system:masters"]),
        "scheduler": ("system:kube-scheduler", []),
        "controller-manager": ("system:kube-controller-manager", []),
        "n1/kubelet": ("system:node:n1", ["system:nodes"]),
        "n2/kubelet": ("system:node:n2", ["system:nodes"]),
        "n1/proxy": ("system:kube-proxy", []),
        "nodeports": ("system:kube-proxy", []),
        "hollow-nodes": ("pykube:hollow-nodes", ["system:masters"]),
    }
    for component, who in expected.items():
        settings = component_settings(None, store.kubeconfig(component))
        assert settings.server == "127.0.0.1:7000" and settings.tls is not None
        assert settings.tls.ca_pem == ca.cert_pem()
        assert subject(settings.tls) == who, component
    serving = pki.load_cert(store.apiserver_cert)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.87.0.2", "10.87.0.3"}
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    # A second up: the same CA, so configs handed out before stay valid.
    again = store.issue("127.0.0.1:7001", ["n1"], ["10.87.0.2"])
    assert again.cert_pem() == ca.cert_pem()
    assert component_settings(None, store.kubeconfig("admin")).server == "127.0.0.1:7001"


def test_component_flags(tmp_path):
    parser = argparse.ArgumentParser()
    add_connection_flags(parser)
    args = parser.parse_args([])
    plain = component_settings(args.server, args.kubeconfig)
    assert (plain.server, plain.tls) == ("127.0.0.1:6443", None)
    store = ClusterPKI(tmp_path)
    store.issue("127.0.0.1:7000", [], [], nodeports=False)
    args = parser.parse_args(["--kubeconfig", str(store.kubeconfig("scheduler")), "--server", "127.0.0.1:9"])
    override = component_settings(args.server, args.kubeconfig)
    assert override.server == "127.0.0.1:9" and override.tls is not None
    with pytest.raises(ConfigError, match="no such file"):
        component_settings(None, tmp_path / "missing.conf")
    with pytest.raises(ConfigError, match="--kubeconfig"):
        component_settings("https://127.0.0.1:6443", None)


def test_pykube_pki_makes_the_control_plane_part_alone_for_an_apiserver_elsewhere(tmp_path, capsys):
    """The lab's master VM: the apiserver certificate names the VM's address and name, the
    control plane's kubeconfigs and an admin's, and nothing of any node (nodes join by token)."""
    from cluster.cli import main
    state = tmp_path / "state"
    assert main(["--state-dir", str(state), "pki", "--server", "127.0.0.1:6443",
                 "--apiserver-ip", "192.168.77.10", "--apiserver-dns", "master"]) == 0
    store = ClusterPKI(state / "pki")
    ca = pki.load_cert(store.ca_cert)
    assert pki.ca_hash(ca) in capsys.readouterr().out
    sans = pki.load_cert(store.apiserver_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "192.168.77.10"}
    assert {"master", "localhost", "kubernetes.default.svc"} <= set(sans.get_values_for_type(x509.DNSName))
    assert sorted(p.name for p in (state / "pki").iterdir()) == sorted([
        "ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client.key", "admin.conf", "scheduler.conf", "controller-manager.conf",
        "encryption-config.yaml"])
    for component, who in {"admin": ("system:admin", ["system:masters"]),
                           "scheduler": ("system:kube-scheduler", [])}.items():
        settings = component_settings(None, store.kubeconfig(component))
        assert settings.server == "127.0.0.1:6443" and subject(settings.tls) == who
    # Again: the CA stays (the join strings given out keep their pin).
    assert main(["--state-dir", str(state), "pki", "--server", "127.0.0.1:6443"]) == 0
    assert pki.load_cert(store.ca_cert) == ca


def test_pykube_pki_refuses_a_bad_address_before_writing_anything(tmp_path, capsys):
    from cluster.cli import main
    with pytest.raises(SystemExit) as caught:
        main(["--state-dir", str(tmp_path / "s"), "pki", "--server", "127.0.0.1:6443", "--apiserver-ip", "nope"])
    assert caught.value.code == 2 and "not an IP address: 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_the_encryption_config_is_made_once_0600_and_passed_to_the_apiserver(tmp_path):
    """Secrets encrypted at rest: a random AES-GCM key the apiserver loads; a second up keeps it."""
    import stat

    import yaml

    from apiserver.storage.encryption import load_config
    store = ClusterPKI(tmp_path / "pki")
    store.issue("127.0.0.1:6443", [], [], proxies=False, nodeports=False)
    path = store.encryption_config
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    keys = yaml.safe_load(first)["resources"][0]["providers"][0]["aesgcm"]["keys"]
    assert [k["name"] for k in keys] == ["key1"]
    assert load_config(path).providers("/Secret/default/x") is not None
    store.issue("127.0.0.1:6443", [], [], proxies=False, nodeports=False)
    assert path.read_text() == first
    args = store.apiserver_args()
    assert args[args.index("--encryption-provider-config") + 1] == str(path)
