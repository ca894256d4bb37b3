"""ConfigMaps and Secrets through the Registry: Kubernetes' validation messages, stringData,
type defaulting and immutability (apiserver/registry/config.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from apimachinery.convert import from_dict, to_dict
from apiserver import errors
from apiserver.registry.config import MAX_SECRET_SIZE
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), WatchCache())


def cm(name: str = "app", **fields: Any) -> Any:
    return from_dict({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "namespace": "default"}, **fields})


def secret(name: str = "db", **fields: Any) -> Any:
    return from_dict({"apiVersion": "v1", "kind": "Secret",
                      "metadata": {"name": name, "namespace": "default"}, **fields})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def invalid(registry: Registry, obj: Any, update: bool = False) -> str:
    with pytest.raises(errors.Invalid) as err:
        registry.update(obj) if update else registry.create(obj)
    return err.value.message


def copy(obj: Any) -> Any:
    clone = type(obj)()
    clone.CopyFrom(obj)
    return clone


# ---------------------------------------------------------------- ConfigMap


def test_configmap_is_stored_with_data_and_binary_data(registry: Registry) -> None:
    stored = registry.create(cm(data={"app.properties": "a=1", "empty": ""}, binaryData={"logo": "AAEC"}))
    assert dict(stored.data) == {"app.properties": "a=1", "empty": ""}
    assert stored.binary_data["logo"] == b"\x00\x01\x02"


@pytest.mark.parametrize("key, problem", [
    ("a b", "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
            "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
    ("..", "must not be '..'"),
    ("..data", "must not start with '..'"),
    ("k" * 254, "must be no more than 253 characters"),
])
def test_configmap_keys_are_config_keys(registry: Registry, key: str, problem: str) -> None:
    message = invalid(registry, cm(data={key: "x"}))
    assert message.startswith('ConfigMap "app" is invalid: data[')
    assert f": Invalid value: \"{key}\": {problem}" in message


def test_a_key_in_data_and_binary_data_is_refused(registry: Registry) -> None:
    assert invalid(registry, cm(data={"k": "x"}, binaryData={"k": "AA=="})) == (
        'ConfigMap "app" is invalid: [data[k]: Invalid value: "k": duplicate of key present in binaryData, '
        'binaryData[k]: Invalid value: "k": duplicate of key present in data]')


def test_configmap_over_one_mebibyte_is_too_long(registry: Registry) -> None:
    half = "x" * (MAX_SECRET_SIZE // 2)
    assert invalid(registry, cm(data={"a": half, "b": half + "x"})) == (
        'ConfigMap "app" is invalid: []: Too long: must have at most 1048576 bytes')
    registry.create(cm(data={"a": half, "b": half}))  # exactly 1 MiB is fine


def test_immutable_configmap_data_never_changes(registry: Registry) -> None:
    stored = registry.create(cm(data={"k": "v"}, immutable=True))
    changed = copy(stored)
    changed.data["k"] = "w"
    assert invalid(registry, changed, update=True) == (
        'ConfigMap "app" is invalid: data: Forbidden: field is immutable when `immutable` is set')
    unset = copy(stored)
    unset.ClearField("immutable")
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in invalid(registry, unset, update=True)
    labelled = copy(stored)
    labelled.metadata.labels["a"] = "b"  # metadata still changes
    registry.update(labelled)


def test_mutable_configmap_may_become_immutable(registry: Registry) -> None:
    stored = copy(registry.create(cm(data={"k": "v"})))
    stored.data["k"] = "w"
    stored.immutable = True
    assert registry.update(stored).immutable


# ------------------------------------------------------------------- Secret


def test_secret_type_defaults_to_opaque_and_string_data_is_merged_not_stored(registry: Registry) -> None:
    stored = registry.create(secret(data={"user": b64("admin"), "password": b64("old")},
                                    stringData={"password": "new"}))
    assert stored.type == "Opaque"
    assert dict(stored.data) == {"user": b"admin", "password": b"new"}  # stringData wins
    assert not stored.string_data and "stringData" not in to_dict(stored)
    assert to_dict(stored)["data"] == {"user": b64("admin"), "password": b64("new")}


def test_secret_type_is_immutable(registry: Registry) -> None:
    stored = copy(registry.create(secret(data={"a": b64("x")})))
    stored.type = "example.com/other"
    assert invalid(registry, stored, update=True) == (
        'Secret "db" is invalid: type: Invalid value: "example.com/other": field is immutable')
    stored.ClearField("type")  # defaulted to Opaque again: no change
    registry.update(stored)


def test_secret_keys_and_size(registry: Registry) -> None:
    assert 'data[a/b]: Invalid value: "a/b": a valid config key' in invalid(registry, secret(data={"a/b": "eA=="}))
    big = base64.b64encode(b"x" * (MAX_SECRET_SIZE + 1)).decode()
    assert invalid(registry, secret(data={"a": big})) == (
        'Secret "db" is invalid: data: Too long: must have at most 1048576 bytes')


def test_immutable_secret(registry: Registry) -> None:
    stored = registry.create(secret(stringData={"a": "x"}, immutable=True))
    changed = copy(stored)
    changed.string_data["a"] = "y"
    assert invalid(registry, changed, update=True) == (
        'Secret "db" is invalid: data: Forbidden: field is immutable when `immutable` is set')


@pytest.mark.parametrize("kind, data, message", [
    ("kubernetes.io/tls", {"tls.crt": "x"}, "data[tls.key]: Required value"),
    ("kubernetes.io/tls", {}, "[data[tls.crt]: Required value, data[tls.key]: Required value]"),
    ("kubernetes.io/dockerconfigjson", {}, "data[.dockerconfigjson]: Required value"),
    ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "{nope"},
     'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": '),
    ("kubernetes.io/basic-auth", {}, "[data[username]: Required value, data[password]: Required value]"),
    ("kubernetes.io/ssh-auth", {}, "data[ssh-privatekey]: Required value"),
    ("kubernetes.io/service-account-token", {},
     "metadata.annotations[kubernetes.io/service-account.name]: Required value"),
])
def test_built_in_secret_types_require_their_keys(registry: Registry, kind: str, data: dict, message: str) -> None:
    assert message in invalid(registry, secret(type=kind, stringData=data))


def test_built_in_types_with_their_keys_are_fine(registry: Registry) -> None:
    registry.create(secret("tls", type="kubernetes.io/tls", stringData={"tls.crt": "c", "tls.key": "k"}))
    registry.create(secret("pull", type="kubernetes.io/dockerconfigjson",
                           stringData={".dockerconfigjson": '{"auths": {}}'}))
    registry.create(secret("custom", type="example.com/anything"))


def test_secrets_select_on_type(registry: Registry) -> None:
    registry.create(secret("a"))
    registry.create(secret("t", type="kubernetes.io/tls", stringData={"tls.crt": "c", "tls.key": "k"}))
    items, _ = registry.list("Secret", "default", field_selector="type=kubernetes.io/tls")
    assert [s.metadata.name for s in items] == ["t"]
