"""An apiserver given no certificates makes its own (apiserver/self_signed.py): a CA made once,
a serving certificate naming the listen host, an admin kubeconfig pointing at the address
served; and the flags that choose this mode."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from apiserver import self_signed
from client import pki
from client.kubeconfig import resolve_context


def _sans(path: Path) -> tuple[set[str], set[str]]:
    sans = pki.load_cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}, set(sans.get_values_for_type(x509.DNSName))


def test_serving_names_and_client_address() -> None:
    assert self_signed.serving_names("127.0.0.1:6443") == (["127.0.0.1", "::1"], ["localhost"])
    assert self_signed.serving_names("0.0.0.0:6443") == (["127.0.0.1", "::1"], ["localhost"])
    assert self_signed.serving_names("10.0.0.5:6443") == (["127.0.0.1", "::1", "10.0.0.5"], ["localhost"])
    assert self_signed.serving_names("Master:6443") == (["127.0.0.1", "::1"], ["localhost", "master"])
    assert self_signed.serving_names("[::]:6443") == (["127.0.0.1", "::1"], ["localhost"])
    assert self_signed.client_address("0.0.0.0:6443") == "127.0.0.1:6443"
    assert self_signed.client_address("[::]:7000") == "127.0.0.1:7000"
    assert self_signed.client_address("10.0.0.5:6443") == "10.0.0.5:6443"
    assert self_signed.client_address("[::1]:6443") == "[::1]:6443"


def test_made_once_then_reused_and_reissued_for_a_new_host(tmp_path: Path) -> None:
    files = self_signed.files_for(tmp_path)
    assert files.cert_dir == tmp_path / "pki" and files.admin_kubeconfig == tmp_path / "admin.kubeconfig"
    assert self_signed.ensure_serving(files, "127.0.0.1:0") is True
    assert stat.S_IMODE(files.cert_dir.stat().st_mode) == 0o700
    for key in (files.ca_key, files.serving_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca, serving = files.ca_cert.read_bytes(), files.serving_cert.read_bytes()
    assert pki.issued_by(pki.load_cert(files.serving_cert), pki.load_cert(files.ca_cert))

    assert self_signed.ensure_serving(files, "127.0.0.1:6443") is False  # same names: kept
    assert (files.ca_cert.read_bytes(), files.serving_cert.read_bytes()) == (ca, serving)
    self_signed.ensure_serving(files, "10.1.2.3:6443")  # a host it does not name: reissued, same CA
    assert files.ca_cert.read_bytes() == ca and files.serving_cert.read_bytes() != serving
    assert "10.1.2.3" in _sans(files.serving_cert)[0]
    soon = datetime.datetime.now(datetime.timezone.utc) + pki.CERT_VALIDITY - datetime.timedelta(hours=1)
    before = files.serving_cert.read_bytes()
    self_signed.ensure_serving(files, "10.1.2.3:6443", now=soon)  # within a day of its end: reissued
    assert files.serving_cert.read_bytes() != before


def test_cert_dir_overrides_data_dir_pki(tmp_path: Path) -> None:
    files = self_signed.files_for(tmp_path / "data", str(tmp_path / "certs"))
    assert files.cert_dir == tmp_path / "certs" and files.admin_kubeconfig == tmp_path / "data" / "admin.kubeconfig"


def test_admin_kubeconfig_kept_and_pointed_at_the_new_address(tmp_path: Path) -> None:
    files = self_signed.files_for(tmp_path)
    self_signed.ensure_serving(files, "0.0.0.0:0")
    path = self_signed.ensure_admin_kubeconfig(files, "0.0.0.0:41000")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ctx = resolve_context(yaml.safe_load(path.read_text()), path)
    assert ctx.server == "https://127.0.0.1:41000"
    cert = pki.load_cert_pem(ctx.cert_pem)
    user = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    groups = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    assert (user, groups) == ("system:admin", ["system:masters"])

    self_signed.ensure_admin_kubeconfig(files, "127.0.0.1:42000")  # restart on another port
    again = resolve_context(yaml.safe_load(path.read_text()), path)
    assert again.server == "https://127.0.0.1:42000" and again.cert_pem == ctx.cert_pem  # same credentials

    (files.cert_dir / "ca.crt").unlink()
    (files.cert_dir / "ca.key").unlink()
    self_signed.ensure_serving(files, "127.0.0.1:0")  # a new CA: the old admin certificate is no use
    self_signed.ensure_admin_kubeconfig(files, "127.0.0.1:42000")
    renewed = resolve_context(yaml.safe_load(path.read_text()), path)
    assert renewed.cert_pem != ctx.cert_pem
    assert pki.issued_by(pki.load_cert_pem(renewed.cert_pem), pki.load_cert(files.ca_cert))


def test_unusable_files_are_an_error_not_a_new_ca(tmp_path: Path) -> None:
    files = self_signed.files_for(tmp_path)
    files.cert_dir.mkdir()
    files.ca_cert.write_text("not a certificate")
    with pytest.raises(ValueError):
        self_signed.ensure_serving(files, "127.0.0.1:0")


# ------------------------------------------------------------------ flags


@pytest.fixture
def parse(monkeypatch: pytest.MonkeyPatch) -> Any:
    from apiserver.main import parse_args
    monkeypatch.setattr("apiserver.main.configure_logging", lambda log_format: None)
    return parse_args


def test_no_certificates_means_its_own_ca_and_node_rbac(parse: Any, tmp_path: Path) -> None:
    config = parse(["--data-dir", str(tmp_path)])
    assert config.self_signed and not config.insecure_plaintext
    assert config.authorization_mode == "Node,RBAC"
    assert parse(["--data-dir", str(tmp_path), "--authorization-mode", "AlwaysAllow"]).authorization_mode == "AlwaysAllow"
    assert parse(["--data-dir", str(tmp_path), "--cert-dir", str(tmp_path / "c")]).cert_dir == str(tmp_path / "c")
    plain = parse(["--data-dir", str(tmp_path), "--insecure-plaintext"])
    assert (plain.self_signed, plain.tls, plain.authorization_mode) == (False, False, "AlwaysAllow")


@pytest.mark.parametrize("argv, words", [
    (["--in-memory"], "--in-memory keeps no files"),
    (["--data-dir", "D", "--insecure-plaintext", "--tls-cert-file", "x"], "exclude each other"),
    (["--data-dir", "D", "--insecure-plaintext", "--cert-dir", "C"], "--cert-dir is where"),
])
def test_flag_conflicts(parse: Any, capsys: Any, argv: list[str], words: str) -> None:
    with pytest.raises(SystemExit):
        parse(argv)
    assert words in capsys.readouterr().err


def test_the_server_serves_its_own_certificates(tmp_path: Path) -> None:
    """APIServer fills the TLS fields from the files it made and writes the admin kubeconfig
    once bound (the port is known only then)."""
    import asyncio

    from apiserver.main import APIServer, ServerConfig

    async def run() -> None:
        server = APIServer(ServerConfig(listen="127.0.0.1:0", data_dir=tmp_path, self_signed=True,
                                        authorization_mode="Node,RBAC"))
        try:
            assert server.config.tls and server.admin_kubeconfig == tmp_path / "admin.kubeconfig"
            ctx = resolve_context(yaml.safe_load(server.admin_kubeconfig.read_text()), server.admin_kubeconfig)
            assert ctx.server == f"https://{server.address}"
        finally:
            await server.stop(0)

    asyncio.run(run())
