"""ConfigMaps and Secrets (v1), validated and defaulted as Kubernetes' pkg/apis/core does.

* Keys are config keys: ``[-._a-zA-Z0-9]+``, at most 253 characters, not ``.``/``..`` nor
  starting with ``..`` (IsConfigMapKey); a ConfigMap key may not be in both data and binaryData.
* The values together hold at most 1 MiB (MaxSecretSize): ``[]: Too long: must have at most
  1048576 bytes`` for a ConfigMap, ``data: Too long: ...`` for a Secret.
* ``immutable: true`` freezes the data and cannot be unset: ``data: Forbidden: field is
  immutable when `immutable` is set``.
* A Secret's stringData is merged into data on every write (stringData wins, as the v1
  conversion does) and never stored; its type defaults to Opaque and never changes; the
  built-in types require their keys (kubernetes.io/tls: tls.crt and tls.key, ...).
"""

from __future__ import annotations

import json
import re

from apimachinery.names import DNS1123_SUBDOMAIN_MAX
from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from protos import core_pb2

MAX_SECRET_SIZE = 1024 * 1024  # Kubernetes' api.MaxSecretSize, for ConfigMaps too

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+\Z")
CONFIG_KEY_RULE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                   "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                   "'[-._a-zA-Z0-9]+')")
IMMUTABLE_SET = "field is immutable when `immutable` is set"

OPAQUE = "Opaque"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
DOCKERCFG = "kubernetes.io/dockercfg"
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
BASIC_AUTH = "kubernetes.io/basic-auth"
SSH_AUTH = "kubernetes.io/ssh-auth"
TLS = "kubernetes.io/tls"
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
REDACTED = "<secret contents redacted>"


def config_key_problems(key: str) -> list[str]:
    """Kubernetes' validation.IsConfigMapKey."""
    problems = []
    if len(key) > DNS1123_SUBDOMAIN_MAX:
        problems.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _CONFIG_KEY.match(key):
        problems.append(CONFIG_KEY_RULE)
    if key in (".", ".."):
        problems.append(f"must not be '{key}'")
    elif key.startswith(".."):
        problems.append("must not start with '..'")
    return problems


def config_keys(path: str, keys: list[str]) -> list[v.FieldError]:
    return [v.invalid(f"{path}[{key}]", key, problem) for key in keys for problem in config_key_problems(key)]


def immutable_data(new_immutable: bool, changed: list[str]) -> list[v.FieldError]:
    """An update of an object that was immutable: immutable stays set, the data stays."""
    errs = [] if new_immutable else [v.forbidden("immutable", IMMUTABLE_SET)]
    return errs + [v.forbidden(path, IMMUTABLE_SET) for path in changed]


class ConfigMapStrategy(Strategy):
    kind = "ConfigMap"

    def validate(self, cm: core_pb2.ConfigMap) -> list[v.FieldError]:
        errs = config_keys("data", sorted(cm.data)) + config_keys("binaryData", sorted(cm.binary_data))
        for key in sorted(cm.data):
            if key in cm.binary_data:
                errs.append(v.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        for key in sorted(cm.binary_data):
            if key in cm.data:
                errs.append(v.invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
        size = sum(len(value.encode()) for value in cm.data.values()) + sum(map(len, cm.binary_data.values()))
        if size > MAX_SECRET_SIZE:
            errs.append(v.too_long("[]", MAX_SECRET_SIZE))  # the whole object: Kubernetes' "[]" path
        return errs

    def validate_update(self, new: core_pb2.ConfigMap, old: core_pb2.ConfigMap) -> list[v.FieldError]:
        if not old.immutable:
            return []
        changed = [path for path, same in (("data", new.data == old.data),
                                           ("binaryData", new.binary_data == old.binary_data)) if not same]
        return immutable_data(new.immutable, changed)


class SecretStrategy(Strategy):
    kind = "Secret"

    def default(self, secret: core_pb2.Secret) -> None:
        """stringData into data (write-only: never stored), type Opaque when unset."""
        for key, value in secret.string_data.items():
            secret.data[key] = value.encode()
        secret.ClearField("string_data")
        if not secret.type:
            secret.type = OPAQUE

    def validate(self, secret: core_pb2.Secret) -> list[v.FieldError]:
        errs = config_keys("data", sorted(secret.data))
        if sum(map(len, secret.data.values())) > MAX_SECRET_SIZE:
            errs.append(v.too_long("data", MAX_SECRET_SIZE))
        return errs + self._type_rules(secret)

    def _type_rules(self, secret: core_pb2.Secret) -> list[v.FieldError]:
        """The keys each built-in type requires (ValidateSecret's switch on type)."""
        data, kind = secret.data, secret.type
        if kind == SERVICE_ACCOUNT_TOKEN:
            if not secret.metadata.annotations.get(SERVICE_ACCOUNT_NAME_ANNOTATION):
                return [v.required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME_ANNOTATION}]")]
        elif kind in (DOCKERCFG, DOCKER_CONFIG_JSON):
            key = ".dockercfg" if kind == DOCKERCFG else ".dockerconfigjson"
            if key not in data:
                return [v.required(f"data[{key}]")]
            try:
                parsed = json.loads(data[key])
            except ValueError as err:
                return [v.invalid(f"data[{key}]", REDACTED, str(err))]
            if not isinstance(parsed, dict):
                return [v.invalid(f"data[{key}]", REDACTED, "must be a JSON object")]
        elif kind == BASIC_AUTH:
            if "username" not in data and "password" not in data:
                return [v.required("data[username]"), v.required("data[password]")]
        elif kind == SSH_AUTH:
            if not data.get("ssh-privatekey"):
                return [v.required("data[ssh-privatekey]")]
        elif kind == TLS:
            return [v.required(f"data[{key}]") for key in ("tls.crt", "tls.key") if key not in data]
        return []

    def validate_update(self, new: core_pb2.Secret, old: core_pb2.Secret) -> list[v.FieldError]:
        errs = [v.immutable("type", new.type)] if new.type != old.type else []
        if old.immutable:
            errs += immutable_data(new.immutable, [] if new.data == old.data else ["data"])
        return errs


STRATEGIES = (ConfigMapStrategy, SecretStrategy)
