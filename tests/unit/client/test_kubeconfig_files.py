"""The config file (client/config.py, client/kubeconfig.py): the kubeconfig form with
credentials, the old two-line form, and what is said when credentials are missing."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml

from client import kubeconfig, pki
from client.config import ConfigError, credentials_hint, load_settings, split_server, write_server
from client.connection import TLSConfig


@pytest.fixture(scope="module")
def creds() -> tuple[bytes, bytes, bytes]:
    ca = pki.create_ca()
    admin = pki.issue_client_cert(ca, "admin", ["system:masters"])
    return ca.cert_pem(), admin.cert_pem(), admin.key_pem()


def env_for(path: Path) -> dict[str, str]:
    return {"PYKUBECONFIG": str(path)}


def test_a_written_kubeconfig_reads_back_with_its_credentials(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    path = tmp_path / "dir" / "config"
    kubeconfig.write_kubeconfig(path, kubeconfig.build_kubeconfig(
        "127.0.0.1:6443", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, user="admin", namespace="dev"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert data["apiVersion"] == "v1" and data["kind"] == "Config"
    assert data["clusters"] == [{"name": "pykube", "cluster": {
        "server": "https://127.0.0.1:6443", "certificate-authority-data": base64.b64encode(ca_pem).decode()}}]
    assert data["users"][0] == {"name": "admin", "user": {
        "client-certificate-data": base64.b64encode(cert_pem).decode(),
        "client-key-data": base64.b64encode(key_pem).decode()}}
    assert data["contexts"] == [{"name": "admin@pykube",
                                 "context": {"cluster": "pykube", "user": "admin", "namespace": "dev"}}]
    assert data["current-context"] == "admin@pykube"

    settings = load_settings(None, None, env_for(path))
    assert settings.server == "127.0.0.1:6443" and settings.namespace == "dev"
    assert settings.tls == TLSConfig(ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem)
    assert credentials_hint(settings) is None
    assert "BEGIN PRIVATE KEY" not in repr(settings)  # the key stays out of logs and tracebacks


def test_flags_override_the_kubeconfig_and_keep_its_credentials(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    path = tmp_path / "config"
    kubeconfig.write_kubeconfig(path, kubeconfig.build_kubeconfig(
        "https://10.0.0.2:6443", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, user="admin",
        tls_server_name="kubernetes"))
    settings = load_settings("127.0.0.1:7443", "team-a", env_for(path))
    assert (settings.server, settings.namespace, settings.namespace_from_flag) == ("127.0.0.1:7443", "team-a", True)
    assert settings.tls is not None and settings.tls.server_name == "kubernetes"
    assert settings.tls.channel_options() == [("grpc.ssl_target_name_override", "kubernetes")]


def test_a_kubeconfig_flag_wins_over_the_environment_and_must_exist(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    given, other = tmp_path / "given.kubeconfig", tmp_path / "env-config"
    kubeconfig.write_kubeconfig(given, kubeconfig.build_kubeconfig(
        "127.0.0.1:7000", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, user="admin"))
    other.write_text("server: 127.0.0.1:9999\n")
    settings = load_settings(None, None, env_for(other), kubeconfig=str(given))
    assert settings.server == "127.0.0.1:7000" and settings.tls is not None and settings.config_file == given
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(None, None, env_for(other), kubeconfig=str(tmp_path / "missing"))


def test_credentials_may_be_files_relative_to_the_config(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    (tmp_path / "pki").mkdir()
    for name, pem in (("ca.crt", ca_pem), ("admin.crt", cert_pem), ("admin.key", key_pem)):
        (tmp_path / "pki" / name).write_bytes(pem)
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "u", "user": {"client-certificate": "pki/admin.crt",
                                          "client-key": str(tmp_path / "pki" / "admin.key")}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    settings = load_settings(None, None, env_for(path))
    assert settings.tls == TLSConfig(ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem)
    assert settings.namespace == "default"


def test_the_old_two_line_form_still_reads_as_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("server: 10.0.0.1:7443\nnamespace: team-a\n")
    settings = load_settings(None, None, env_for(path))
    assert (settings.server, settings.namespace, settings.tls) == ("10.0.0.1:7443", "team-a", None)
    assert credentials_hint(settings) == (
        f"config file {path} has no credentials (client-certificate-data/client-key-data); "
        'run "pykube up" again or "pykube user add NAME"')
    missing = load_settings(None, None, env_for(tmp_path / "none"))
    assert missing.server == "127.0.0.1:6443" and missing.tls is None
    assert credentials_hint(missing).startswith(f"no config file at {tmp_path / 'none'}")


def test_an_https_server_without_credentials_is_a_clear_error(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    old = tmp_path / "old"
    old.write_text("server: https://127.0.0.1:6443\n")
    with pytest.raises(ConfigError, match=f"config file {old} has no credentials"):
        load_settings(None, None, env_for(old))
    path = tmp_path / "config"
    config = kubeconfig.build_kubeconfig("127.0.0.1:6443", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem,
                                         user="admin")
    del config["users"][0]["user"]["client-key-data"]
    kubeconfig.write_kubeconfig(path, config)
    with pytest.raises(ConfigError) as err:
        load_settings(None, None, env_for(path))
    assert str(err.value) == (f"config file {path} has no credentials (client-certificate-data/client-key-data); "
                              'run "pykube up" again or "pykube user add NAME"')
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    kubeconfig.write_kubeconfig(path, config)
    with pytest.raises(ConfigError, match='cluster "pykube" has no certificate-authority-data'):
        load_settings(None, None, env_for(path))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: c.update({"current-context": "nope"}), 'no context named "nope"'),
    (lambda c: c.pop("current-context"), "no current-context is set"),
    (lambda c: c["contexts"][0]["context"].update({"cluster": "gone"}), 'no cluster named "gone"'),
    (lambda c: c["users"][0]["user"].update({"client-key-data": "%%%"}), "client-key-data is not valid base64"),
    (lambda c: c["users"][0]["user"].update({"client-key-data": 5}), "client-key-data must be a string"),
    (lambda c: c["clusters"][0]["cluster"].update({"server": "ftp://x:1"}), "the scheme must be https:// or http://"),
])
def test_broken_kubeconfigs_name_the_problem(tmp_path: Path, creds, mutate, message: str) -> None:
    ca_pem, cert_pem, key_pem = creds
    config = kubeconfig.build_kubeconfig("127.0.0.1:6443", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem,
                                         user="admin")
    mutate(config)
    path = tmp_path / "config"
    kubeconfig.write_kubeconfig(path, config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(None, None, env_for(path))


@pytest.mark.parametrize(("server", "expected"), [
    ("127.0.0.1:6443", ("", "127.0.0.1:6443")),
    ("https://127.0.0.1:6443", ("https", "127.0.0.1:6443")),
    ("https://127.0.0.1:6443/", ("https", "127.0.0.1:6443")),
    ("HTTPS://api.example:6443", ("https", "api.example:6443")),
    ("https://api.example", ("https", "api.example:443")),
    ("https://[::1]:6443", ("https", "[::1]:6443")),
    ("https://[::1]", ("https", "[::1]:443")),
    ("http://127.0.0.1:8080", ("http", "127.0.0.1:8080")),
    ("unix:/run/pykube.sock", ("", "unix:/run/pykube.sock")),
])
def test_servers_may_be_urls_or_host_port(server: str, expected: tuple[str, str]) -> None:
    assert split_server(server) == expected


def test_an_explicit_http_server_stays_plaintext(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    path = tmp_path / "config"
    kubeconfig.write_kubeconfig(path, kubeconfig.build_kubeconfig(
        "http://127.0.0.1:8080", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, user="admin"))
    assert load_settings(None, None, env_for(path)).tls is None


def test_write_server_keeps_either_form(tmp_path: Path, creds) -> None:
    ca_pem, cert_pem, key_pem = creds
    old = tmp_path / "old"
    old.write_text("server: 10.0.0.1:7443\nnamespace: team-a\n")
    write_server(old, "127.0.0.1:9443")
    assert yaml.safe_load(old.read_text()) == {"server": "127.0.0.1:9443", "namespace": "team-a"}
    path = tmp_path / "config"
    kubeconfig.write_kubeconfig(path, kubeconfig.build_kubeconfig(
        "127.0.0.1:6443", ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, user="admin"))
    write_server(path, "127.0.0.1:9443")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert data["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:9443" and "server" not in data
    assert load_settings(None, None, env_for(path)).tls is not None


def test_a_user_kubeconfig_carries_a_fresh_certificate_for_that_user(tmp_path: Path) -> None:
    ca = pki.create_ca()
    path = tmp_path / "alice.conf"
    kubeconfig.write_kubeconfig(path, kubeconfig.user_kubeconfig(ca, "127.0.0.1:6443", "alice", ("dev",),
                                                                 namespace="dev"))
    settings = load_settings(None, None, env_for(path))
    cert = pki.load_cert_pem(settings.tls.cert_pem)
    assert pki.identity_from_cert(cert).groups == ("dev", "system:authenticated")
    assert pki.issued_by(cert, ca.cert) and settings.tls.ca_pem == ca.cert_pem()
    assert yaml.safe_load(path.read_text())["current-context"] == "alice@pykube"
