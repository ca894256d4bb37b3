"""pykubectl on ConfigMaps and Secrets: names (cm), get's columns (NAME DATA AGE, NAME TYPE DATA
AGE), describe (a Secret's values never printed) and manifests as Kubernetes writes them."""

from __future__ import annotations

import datetime

import yaml

from apimachinery.convert import from_dict, to_dict
from apimachinery.kinds import info_of, resolve_resource
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache
from kubectl.printers import TableOptions, format_table, table_headers, table_row
from kubectl.verbs.describe import DESCRIBERS
from kubectl.verbs.describe.config import describe_config_map, describe_secret

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)

CONFIG_MAP_YAML = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  namespace: default
data:
  app.properties: |
    color=blue
  mode: fast
binaryData:
  logo.png: iVBORw0K
"""

SECRET_YAML = """
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
type: kubernetes.io/basic-auth
data:
  username: YWRtaW4=
stringData:
  password: s3cr3t-value
"""


def registry() -> Registry:
    return Registry(MemoryStore(), WatchCache(), clock=lambda: NOW.timestamp() - 120)


def table(objects: list) -> str:
    options = TableOptions()
    return format_table(table_headers(info_of(objects[0]), options), [table_row(o, NOW, options) for o in objects])


def test_names() -> None:
    assert resolve_resource("cm").kind == resolve_resource("configmaps").kind == "ConfigMap"
    assert resolve_resource("secrets").kind == resolve_resource("secret").kind == "Secret"
    assert resolve_resource("Secret").short_names == ()


def test_manifests_round_trip_with_base64_bytes() -> None:
    manifest = yaml.safe_load(CONFIG_MAP_YAML)
    assert to_dict(from_dict(manifest)) == manifest
    assert from_dict(manifest).binary_data["logo.png"] == b"\x89PNG\r\n"
    secret = from_dict(yaml.safe_load(SECRET_YAML))
    assert secret.data["username"] == b"admin" and secret.string_data["password"] == "s3cr3t-value"


def test_get_columns() -> None:
    reg = registry()
    cm = reg.create(from_dict(yaml.safe_load(CONFIG_MAP_YAML)))
    assert table([cm]) == "NAME   DATA   AGE\napp    3      2m\n"
    secret = reg.create(from_dict(yaml.safe_load(SECRET_YAML)))
    assert table([secret]) == "NAME   TYPE                       DATA   AGE\ndb     kubernetes.io/basic-auth   2      2m\n"


def test_describe_secret_lists_keys_and_sizes_never_values() -> None:
    secret = registry().create(from_dict(yaml.safe_load(SECRET_YAML)))
    text = describe_secret(None, secret, None)
    assert text == ("Name:         db\n"
                    "Namespace:    default\n"
                    "Labels:       <none>\n"
                    "Annotations:  <none>\n"
                    "\n"
                    "Type:  kubernetes.io/basic-auth\n"
                    "\n"
                    "Data\n"
                    "====\n"
                    "password:  12 bytes\n"
                    "username:  5 bytes\n")
    assert "s3cr3t" not in text and "admin" not in text
    assert DESCRIBERS["Secret"] is describe_secret and DESCRIBERS["ConfigMap"] is describe_config_map


def test_describe_config_map_shows_data_and_binary_sizes() -> None:
    cm = from_dict(yaml.safe_load(CONFIG_MAP_YAML))
    assert describe_config_map(None, cm, None) == (
        "Name:         app\n"
        "Namespace:    default\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "\n"
        "Data\n"
        "====\n"
        "app.properties:\n"
        "----\n"
        "color=blue\n"
        "\n"
        "\n"
        "mode:\n"
        "----\n"
        "fast\n"
        "\n"
        "\n"
        "BinaryData\n"
        "====\n"
        "logo.png: 6 bytes\n"
        "\n")
