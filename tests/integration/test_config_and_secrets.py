"""ConfigMaps and Secrets against a real apiserver with --encryption-provider-config:
pykubectl apply of YAML manifests, get's columns, describe (no Secret values), the SQLite
file never holding a Secret's plaintext, and a restart (and a key rotation) reading it back."""

from __future__ import annotations

import base64
import os
import sqlite3

import yaml

from apiserver_process import ApiserverProcess, run_kubectl

MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: correct-horse-battery-staple
"""
PLAINTEXT = b"correct-horse-battery-staple"


def encryption_config(*keys: tuple[str, str]) -> str:
    return yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aesgcm": {"keys": [{"name": name, "secret": secret} for name, secret in keys]}},
            {"identity": {}}]}]})


def stored_secret(data_dir) -> bytes:
    (db,) = data_dir.glob("*.db")
    with sqlite3.connect(db) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = b""
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608 (our own file)
                found += b"|".join(bytes(c) if isinstance(c, (bytes, memoryview)) else str(c).encode() for c in row)
    return found


def test_secrets_are_applied_listed_described_and_encrypted_at_rest(tmp_path):
    old, new = ("key1", base64.b64encode(os.urandom(32)).decode()), ("key2", base64.b64encode(os.urandom(32)).decode())
    config = tmp_path / "encryption.yaml"
    config.write_text(encryption_config(old))
    data_dir = tmp_path / "data"
    server = ApiserverProcess(data_dir, tmp_path / "apiserver.log",
                              ["--encryption-provider-config", str(config)]).start()
    try:
        manifest = tmp_path / "config.yaml"
        manifest.write_text(MANIFESTS)
        applied = run_kubectl(server.address, "apply", "-f", str(manifest))
        assert applied.code == 0, applied.err
        assert applied.out.split() == ["configmap/app-config", "created", "secret/db", "created"]
        got = run_kubectl(server.address, "get", "cm,secret")
        assert got.code == 0, got.err
        lines = [line.split() for line in got.out.splitlines() if line.strip()]
        assert ["NAME", "DATA", "AGE"] == lines[0] and lines[1][:2] == ["configmap/app-config", "1"]
        assert ["NAME", "TYPE", "DATA", "AGE"] == lines[2] and lines[3][:3] == ["secret/db", "Opaque", "1"]
        described = run_kubectl(server.address, "describe", "secret", "db")
        assert "password:  28 bytes" in described.out and "correct-horse" not in described.out
        as_yaml = yaml.safe_load(run_kubectl(server.address, "get", "secret", "db", "-o", "yaml").out)
        assert base64.b64decode(as_yaml["data"]["password"]) == PLAINTEXT and "stringData" not in as_yaml
        raw = stored_secret(data_dir)
        assert b"k8s:enc:aesgcm:v1:key1:" in raw
        # the ConfigMap is plaintext; the Secret's value is only in the last-applied annotation
        # (as kubectl apply leaves it in Kubernetes too), which is encrypted with the Secret
        assert b"fast" in raw and PLAINTEXT not in raw
    finally:
        server.stop()
    # rotation: the new key first, the old one still listed; restart; rewrite; old key gone
    config.write_text(encryption_config(new, old))
    server = ApiserverProcess(data_dir, tmp_path / "apiserver-2.log", ["--encryption-provider-config", str(config)]).start()
    try:
        listed = run_kubectl(server.address, "get", "secrets", "-o", "yaml")
        (tmp_path / "secrets.yaml").write_text(listed.out)
        rewritten = run_kubectl(server.address, "apply", "-f", str(tmp_path / "secrets.yaml"))  # changes nothing
        assert rewritten.code == 0, rewritten.err
    finally:
        server.stop()
    assert b"k8s:enc:aesgcm:v1:key2:" in stored_secret(data_dir)
    config.write_text(encryption_config(new))
    server = ApiserverProcess(data_dir, tmp_path / "apiserver-3.log", ["--encryption-provider-config", str(config)]).start()
    try:
        as_yaml = yaml.safe_load(run_kubectl(server.address, "get", "secret", "db", "-o", "yaml").out)
        assert base64.b64decode(as_yaml["data"]["password"]) == PLAINTEXT
    finally:
        server.stop()
    # a key removed too early: the apiserver stops at start-up, naming the key it lacks
    config.write_text(encryption_config(old))
    early = ApiserverProcess(data_dir, tmp_path / "apiserver-4.log", ["--encryption-provider-config", str(config)])
    try:
        early.start()
    except RuntimeError as err:
        assert "encrypted as 'k8s:enc:aesgcm:v1:key2', and no provider" in str(err)
    else:
        early.stop()
        raise AssertionError("the apiserver started without the key its Secrets are encrypted with")
