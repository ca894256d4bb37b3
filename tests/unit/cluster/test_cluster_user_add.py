"""``pykube user add``: a certificate from the state dir's cluster CA, in a kubeconfig
pykubectl reads (0600), printed with how to use it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from cryptography.x509.oid import NameOID

from client import kubeconfig, pki
from client.config import load_settings
from cluster import cli
from cluster.state_dir import ClusterSpec


@pytest.fixture
def state(tmp_path: Path) -> Path:
    pki.load_or_create_ca(tmp_path / "pki")
    ClusterSpec(name="local", port=7443, nodes=["n1"]).save(tmp_path / "cluster.json")
    return tmp_path


def _subject(path: Path) -> tuple[str, list[str], pki.CertKey]:
    data = kubeconfig.resolve_context(yaml.safe_load(path.read_text()), path)
    cert = pki.load_cert_pem(data.cert_pem)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cn, orgs, cert


def test_user_add_writes_a_kubeconfig_for_the_user(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--state-dir", str(state), "user", "add", "alice", "--group", "devs", "--group", "ops"]) == 0
    path = state / "users" / "alice.kubeconfig"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cn, orgs, cert = _subject(path)
    assert (cn, orgs) == ("alice", ["devs", "ops"])
    ca = pki.load_cert_key(state / "pki", "ca")
    assert pki.issued_by(cert, ca.cert)
    settings = load_settings(None, None, {"PYKUBECONFIG": str(path)})
    assert settings.server == "127.0.0.1:7443" and settings.tls is not None and settings.namespace == "default"
    out = capsys.readouterr().out
    assert f'user "alice" in devs, ops: kubeconfig written to {path}' in out
    assert f"PYKUBECONFIG={path} pykubectl get pods" in out


def test_user_add_copies_the_admin_configs_cluster_and_honours_out(state: Path, tmp_path: Path) -> None:
    ca = pki.load_cert_key(state / "pki", "ca")
    admin = kubeconfig.build_kubeconfig("https://10.0.0.5:6443", ca_pem=ca.cert_pem(), cert_pem=b"", key_pem=b"",
                                        user="admin", tls_server_name="kubernetes")
    kubeconfig.write_kubeconfig(state / "config", admin)
    out = tmp_path / "elsewhere" / "bob.yaml"
    assert cli.main(["--state-dir", str(state), "user", "add", "bob", "--out", str(out)]) == 0
    written = kubeconfig.resolve_context(yaml.safe_load(out.read_text()), out)
    assert (written.server, written.tls_server_name, written.user) == ("https://10.0.0.5:6443", "kubernetes", "bob")
    assert _subject(out)[:2] == ("bob", [])


def test_user_add_without_a_cluster_ca_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--state-dir", str(tmp_path), "user", "add", "alice"]) == 1
    assert f"pykube user: no cluster CA in {tmp_path / 'pki'}" in capsys.readouterr().err
    pki.load_or_create_ca(tmp_path / "pki")
    assert cli.main(["--state-dir", str(tmp_path), "user", "add", "../evil"]) == 1
    assert "give --out FILE" in capsys.readouterr().err
    assert not (tmp_path / "evil.kubeconfig").exists()
