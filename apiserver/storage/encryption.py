"""Encryption at rest: Kubernetes' EncryptionConfiguration applied to the stored bytes.

The configuration is Kubernetes' file (``--encryption-provider-config``)::

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
      - resources: [secrets]
        providers:
          - aesgcm:
              keys:
                - name: key1
                  secret: <32, 24 or 16 random bytes, base64>
          - identity: {}

For the listed resources the store holds ``k8s:enc:aesgcm:v1:<key name>:`` + a 12-byte
nonce + AES-GCM ciphertext (the object's store key authenticated with it, as Kubernetes
authenticates the etcd key), never the plaintext. A write uses the first provider (its
first key); a read takes any listed one: a value that starts with ``k8s:enc:aesgcm:v1:<name>:``
is opened with that key, a value without the prefix is plaintext, read only when identity
is listed. So a key rotates in four steps: add the new key first (the old one second),
restart, rewrite every Secret (``kubectl get secrets -A -o json | kubectl replace -f -``, or
``pykubectl apply -f`` of the same: an update that changes nothing still rewrites a value
stored under an older key, as in Kubernetes; ``is_stale``), remove the old key and restart.

``EncryptingStore`` wraps any Store; nothing above the store (the watch cache, the
registry) sees ciphertext.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from apimachinery.kinds import KINDS
from apiserver.storage import Change, Store, StoredItem, StoreError

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
ENCRYPTED_PREFIX = b"k8s:enc:"
AESGCM_PREFIX = "k8s:enc:aesgcm:v1:"
NONCE_BYTES = 12
KEY_SIZES = (16, 24, 32)


class EncryptionConfigError(ValueError):
    """An EncryptionConfiguration that cannot be used; the message names the problem."""


class DecryptionError(StoreError, ValueError):
    """A stored value no configured provider can read (a missing or wrong key); a ValueError
    so that the apiserver, loading its store, stops with the message."""


@dataclass(frozen=True)
class AESGCMKey:
    name: str
    cipher: AESGCM

    @property
    def prefix(self) -> bytes:
        return f"{AESGCM_PREFIX}{self.name}:".encode()


@dataclass(frozen=True)
class Providers:
    """The providers of one resource entry, in order: aesgcm keys (in order) and identity."""

    write_key: AESGCMKey | None  # None: the first provider is identity (write plaintext)
    keys: tuple[AESGCMKey, ...]
    identity: bool

    def encrypt(self, store_key: str, plaintext: bytes) -> bytes:
        if self.write_key is None:
            return plaintext
        nonce = os.urandom(NONCE_BYTES)
        return self.write_key.prefix + nonce + self.write_key.cipher.encrypt(nonce, plaintext, store_key.encode())

    def stale(self, stored: bytes) -> bool:
        """Whether a stored value is not what a write would store now (another key, plaintext)."""
        if self.write_key is None:
            return stored.startswith(ENCRYPTED_PREFIX)
        return not stored.startswith(self.write_key.prefix)

    def decrypt(self, store_key: str, stored: bytes) -> bytes:
        if not stored.startswith(ENCRYPTED_PREFIX):
            if self.identity:
                return stored
            raise DecryptionError(f"{store_key}: stored unencrypted, and identity is not a provider for it in "
                                  "the encryption configuration")
        for key in self.keys:
            if stored.startswith(key.prefix):
                body = stored[len(key.prefix):]
                try:
                    return key.cipher.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], store_key.encode())
                except InvalidTag:
                    raise DecryptionError(f"{store_key}: cannot decrypt with key {key.name!r}: the key's secret "
                                          "is not the one it was encrypted with") from None
        head = stored[:80].split(b":")
        named = ":".join(part.decode("ascii", "replace") for part in head[:5])
        raise DecryptionError(f"{store_key}: encrypted as {named!r}, and no provider in the encryption "
                              "configuration has that key (was it removed before every object was rewritten?)")


@dataclass(frozen=True)
class EncryptionConfig:
    by_kind: dict[str, Providers]  # Kind ("Secret") -> its providers

    def providers(self, store_key: str) -> Providers | None:
        """The providers for a store key (``/<Kind>/<namespace>/<name>``), None: plaintext."""
        return self.by_kind.get(store_key.split("/", 2)[1] if store_key.startswith("/") else "")


def _resource_kinds(resource: Any, where: str) -> list[str]:
    """Kinds a resources entry names: a plural ("secrets", "deployments.apps") or "*.*"."""
    if not isinstance(resource, str):
        raise EncryptionConfigError(f"{where}: a resource must be a string, got {resource!r}")
    if resource in ("*.*", "*."):
        return [info.kind for info in KINDS if resource == "*.*" or not info.group]
    plural, _, group = resource.partition(".")
    for info in KINDS:
        if info.plural == plural and (info.group == group or (not group and not info.group)):
            return [info.kind]
    raise EncryptionConfigError(f"{where}: {resource!r} is not a resource the apiserver serves")


def _aesgcm_keys(spec: Any, where: str) -> list[AESGCMKey]:
    keys = spec.get("keys") if isinstance(spec, dict) else None
    if not isinstance(keys, list) or not keys:
        raise EncryptionConfigError(f"{where}.aesgcm.keys: at least one key is required")
    out = []
    for i, key in enumerate(keys):
        here = f"{where}.aesgcm.keys[{i}]"
        if not isinstance(key, dict) or not key.get("name") or not key.get("secret"):
            raise EncryptionConfigError(f"{here}: name and secret are required")
        name = str(key["name"])
        if ":" in name:
            raise EncryptionConfigError(f"{here}.name: {name!r} may not contain ':'")
        try:
            secret = base64.b64decode(str(key["secret"]), validate=True)
        except ValueError:
            raise EncryptionConfigError(f"{here}.secret: not valid base64") from None
        if len(secret) not in KEY_SIZES:
            raise EncryptionConfigError(f"{here}.secret: the key must be 16, 24 or 32 bytes, got {len(secret)}")
        out.append(AESGCMKey(name, AESGCM(secret)))
    return out


def parse_config(data: Any) -> EncryptionConfig:
    """An EncryptionConfiguration (as yaml.safe_load gives it) → the providers of each kind."""
    if not isinstance(data, dict) or data.get("kind") != KIND or data.get("apiVersion") != API_VERSION:
        raise EncryptionConfigError(f"expected apiVersion {API_VERSION}, kind {KIND}")
    by_kind: dict[str, Providers] = {}
    for r, entry in enumerate(data.get("resources") or []):
        where = f"resources[{r}]"
        if not isinstance(entry, dict):
            raise EncryptionConfigError(f"{where}: expected a mapping")
        keys: list[AESGCMKey] = []
        order: list[AESGCMKey | None] = []  # None: identity
        for p, provider in enumerate(entry.get("providers") or []):
            here = f"{where}.providers[{p}]"
            if not isinstance(provider, dict) or len(provider) != 1:
                raise EncryptionConfigError(f"{here}: exactly one provider type (aesgcm, identity) per entry")
            (kind, spec), = provider.items()
            if kind == "identity":
                order.append(None)
            elif kind == "aesgcm":
                found = _aesgcm_keys(spec, here)
                keys += found
                order += found
            else:
                raise EncryptionConfigError(f"{here}: provider {kind!r} is not supported (aesgcm, identity)")
        if not order:
            raise EncryptionConfigError(f"{where}.providers: at least one provider is required")
        names = [key.name for key in keys]
        if len(set(names)) != len(names):
            raise EncryptionConfigError(f"{where}: key names must be unique")
        providers = Providers(write_key=order[0], keys=tuple(keys), identity=None in order)
        for kind in _resource_kinds_of(entry, where):
            by_kind.setdefault(kind, providers)  # the first entry naming a resource wins, as in Kubernetes
    return EncryptionConfig(by_kind)


def _resource_kinds_of(entry: dict, where: str) -> list[str]:
    resources = entry.get("resources")
    if not isinstance(resources, list) or not resources:
        raise EncryptionConfigError(f"{where}.resources: at least one resource is required")
    return [kind for i, resource in enumerate(resources)
            for kind in _resource_kinds(resource, f"{where}.resources[{i}]")]


def load_config(path: str | Path) -> EncryptionConfig:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise EncryptionConfigError(f"cannot read the encryption configuration {path}: {err.strerror}") from None
    try:
        return parse_config(yaml.safe_load(text))
    except yaml.YAMLError as err:
        raise EncryptionConfigError(f"{path}: not YAML: {err}") from None
    except EncryptionConfigError as err:
        raise EncryptionConfigError(f"{path}: {err}") from None


class EncryptingStore:
    """A Store that encrypts the values of the configured kinds on the way in and decrypts
    them on the way out; everything else passes through to the wrapped store."""

    def __init__(self, store: Store, config: EncryptionConfig) -> None:
        self.inner = store
        self.config = config
        self._stale: set[str] = set()  # keys read in a form a write would not store now

    def is_stale(self, key: str) -> bool:
        """Whether key's stored bytes need rewriting (an older key, or plaintext): the registry
        writes an update that changes nothing when they do, as Kubernetes' storage does."""
        return key in self._stale

    def _open(self, item: StoredItem | None) -> StoredItem | None:
        if item is None:
            return None
        providers = self.config.providers(item.key)
        if providers is None:
            return item
        if providers.stale(item.value):
            self._stale.add(item.key)
        else:
            self._stale.discard(item.key)
        return StoredItem(item.key, providers.decrypt(item.key, item.value), item.revision)

    def _seal(self, change: Change) -> Change:
        providers = self.config.providers(change.key)
        if providers is None or change.value is None:
            return change
        return Change(change.key, providers.encrypt(change.key, change.value), change.expected_revision)

    def load(self) -> tuple[list[StoredItem], int]:
        items, revision = self.inner.load()
        return [self._open(item) for item in items], revision  # type: ignore[misc]

    def get(self, key: str) -> StoredItem | None:
        return self._open(self.inner.get(key))

    def commit(self, changes: Sequence[Change]) -> list[int]:
        revisions = self.inner.commit([self._seal(change) for change in changes])
        self._stale.difference_update(change.key for change in changes)
        return revisions

    @property
    def revision(self) -> int:
        return self.inner.revision

    def close(self) -> None:
        self.inner.close()
