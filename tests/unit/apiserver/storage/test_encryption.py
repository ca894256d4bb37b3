"""Encryption at rest (apiserver/storage/encryption.py): Kubernetes' EncryptionConfiguration
over a store, the raw bytes never holding a Secret's plaintext, key rotation, clear errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from apimachinery.convert import from_dict
from apiserver.registry.registry import Registry
from apiserver.storage import Change, MUST_NOT_EXIST
from apiserver.storage.encryption import (DecryptionError, EncryptingStore, EncryptionConfigError,
                                          load_config, parse_config)
from apiserver.storage.memory import MemoryStore
from apiserver.storage.sqlite import SQLiteStore
from apiserver.watchcache import WatchCache

PLAINTEXT = b"hunter2-the-password"


def copy(obj):
    clone = type(obj)()
    clone.CopyFrom(obj)
    return clone


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def config(*providers: dict, resources: tuple[str, ...] = ("secrets",)) -> dict:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": list(resources), "providers": list(providers)}]}


def aesgcm(*keys: tuple[str, str]) -> dict:
    return {"aesgcm": {"keys": [{"name": name, "secret": secret} for name, secret in keys]}}


IDENTITY = {"identity": {}}


def secret(name: str = "db", value: bytes = PLAINTEXT) -> object:
    return from_dict({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
                      "data": {"password": base64.b64encode(value).decode()}})


def registry(store) -> Registry:
    return Registry(store, WatchCache())


def test_round_trip_through_the_registry_and_a_reload(tmp_path: Path) -> None:
    inner = SQLiteStore.open_in(tmp_path)
    cfg = parse_config(config(aesgcm(("key1", key())), IDENTITY))
    reg = registry(EncryptingStore(inner, cfg))
    reg.create(secret())
    raw = inner.get("/Secret/default/db")
    assert raw is not None and raw.value.startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert PLAINTEXT not in raw.value and b"password" not in raw.value
    inner.close()
    again = registry(EncryptingStore(SQLiteStore.open_in(tmp_path), cfg))
    assert again.get("Secret", "default", "db").data["password"] == PLAINTEXT


def test_other_kinds_are_stored_as_they_are() -> None:
    inner = MemoryStore()
    reg = registry(EncryptingStore(inner, parse_config(config(aesgcm(("key1", key()))))))
    reg.create(from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
                          "data": {"k": "visible"}}))
    assert b"visible" in inner.get("/ConfigMap/default/c").value  # type: ignore[union-attr]


def test_the_key_is_authenticated_with_the_value() -> None:
    inner = MemoryStore()
    store = EncryptingStore(inner, parse_config(config(aesgcm(("key1", key())))))
    store.commit([Change("/Secret/default/a", b"x", MUST_NOT_EXIST)])
    moved = inner.get("/Secret/default/a").value  # type: ignore[union-attr]
    inner.commit([Change("/Secret/default/b", moved, MUST_NOT_EXIST)])  # copied under another key
    with pytest.raises(DecryptionError, match="cannot decrypt with key 'key1'"):
        store.get("/Secret/default/b")


def test_rotation_new_key_first_then_rewrite_then_old_removed() -> None:
    inner = MemoryStore()
    old, new = ("old", key()), ("new", key())
    registry(EncryptingStore(inner, parse_config(config(aesgcm(old))))).create(secret())
    # 1. the new key first, the old one still listed: old values read, new writes use "new"
    both = registry(EncryptingStore(inner, parse_config(config(aesgcm(new, old)))))
    assert inner.get("/Secret/default/db").value.startswith(b"k8s:enc:aesgcm:v1:old:")  # type: ignore[union-attr]
    current = copy(both.get("Secret", "default", "db"))  # (get answers the cache's own object)
    assert current.data["password"] == PLAINTEXT
    # 2. rewrite every Secret: an update that changes nothing still rewrites stale bytes
    assert both.update(current).metadata.resource_version != current.metadata.resource_version
    assert inner.get("/Secret/default/db").value.startswith(b"k8s:enc:aesgcm:v1:new:")  # type: ignore[union-attr]
    # 3. the old key removed: still readable
    only_new = registry(EncryptingStore(inner, parse_config(config(aesgcm(new)))))
    assert only_new.get("Secret", "default", "db").data["password"] == PLAINTEXT


def test_a_missing_key_is_a_clear_error() -> None:
    inner = MemoryStore()
    registry(EncryptingStore(inner, parse_config(config(aesgcm(("old", key())))))).create(secret())
    with pytest.raises(DecryptionError, match="encrypted as 'k8s:enc:aesgcm:v1:old', and no provider"):
        registry(EncryptingStore(inner, parse_config(config(aesgcm(("new", key()))))))


def test_a_wrong_secret_is_a_clear_error() -> None:
    inner = MemoryStore()
    registry(EncryptingStore(inner, parse_config(config(aesgcm(("key1", key())))))).create(secret())
    with pytest.raises(DecryptionError, match="cannot decrypt with key 'key1'"):
        registry(EncryptingStore(inner, parse_config(config(aesgcm(("key1", key()))))))


def test_plaintext_is_read_only_with_identity_listed_and_encrypted_on_rewrite() -> None:
    inner = MemoryStore()
    registry(inner).create(secret())  # before encryption was turned on
    with pytest.raises(DecryptionError, match="identity is not a provider"):
        registry(EncryptingStore(inner, parse_config(config(aesgcm(("k", key()))))))
    reg = registry(EncryptingStore(inner, parse_config(config(aesgcm(("k", key())), IDENTITY))))
    obj = copy(reg.get("Secret", "default", "db"))
    obj.metadata.labels["x"] = "y"
    reg.update(obj)
    assert PLAINTEXT not in inner.get("/Secret/default/db").value  # type: ignore[union-attr]


def test_identity_first_writes_plaintext() -> None:
    inner = MemoryStore()
    registry(EncryptingStore(inner, parse_config(config(IDENTITY, aesgcm(("k", key())))))).create(secret())
    assert PLAINTEXT in inner.get("/Secret/default/db").value  # type: ignore[union-attr]


@pytest.mark.parametrize("data, message", [
    ({"apiVersion": "v1", "kind": "EncryptionConfiguration"}, "expected apiVersion apiserver.config.k8s.io/v1"),
    (config(aesgcm(("k", base64.b64encode(b"short").decode()))), "must be 16, 24 or 32 bytes, got 5"),
    (config(aesgcm(("k", "not base64!"))), "not valid base64"),
    (config({"secretbox": {}}), "provider 'secretbox' is not supported"),
    (config(IDENTITY, resources=("widgets",)), "'widgets' is not a resource the apiserver serves"),
    (config(), "at least one provider is required"),
])
def test_bad_configurations_are_refused(data: dict, message: str) -> None:
    with pytest.raises(EncryptionConfigError, match=message):
        parse_config(data)


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(yaml.safe_dump(config(aesgcm(("k", key())), IDENTITY)))
    assert load_config(path).providers("/Secret/default/x") is not None
    assert load_config(path).providers("/ConfigMap/default/x") is None
    with pytest.raises(EncryptionConfigError, match="cannot read the encryption configuration"):
        load_config(tmp_path / "missing.yaml")


def test_an_unchanged_update_is_not_written_once_the_bytes_are_current() -> None:
    inner = MemoryStore()
    reg = registry(EncryptingStore(inner, parse_config(config(aesgcm(("k", key()))))))
    stored = reg.create(secret())
    assert reg.update(copy(stored)).metadata.resource_version == stored.metadata.resource_version
