"""The kubeconfig file: kubectl's ``Config`` (clientcmd v1), so the file ``pykube up``
writes has the shape real kubectl reads::

    apiVersion: v1
    kind: Config
    clusters:
    - name: pykube
      cluster:
        server: https://127.0.0.1:6443
        certificate-authority-data: <base64 PEM>
        tls-server-name: kubernetes       # optional: verify the server as this name
    users:
    - name: admin
      user:
        client-certificate-data: <base64 PEM>
        client-key-data: <base64 PEM>
    contexts:
    - name: admin@pykube
      context: {cluster: pykube, user: admin, namespace: default}
    current-context: admin@pykube

The ``-data`` fields are base64 of the PEM, as kubectl writes them; the file forms
``certificate-authority``/``client-certificate``/``client-key`` (paths, relative to the
config file) are read too. The file holds a private key: it is written 0600, whole
(``client.files``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from client import pki
from client.files import write_atomic

DEFAULT_CLUSTER = "pykube"


class ConfigError(Exception):
    """The config file or a flag is unusable; the message says which and why."""


@dataclass(frozen=True)
class ContextConfig:
    """What the selected context of a kubeconfig says (None: not given)."""

    context: str
    cluster: str
    user: str
    server: str | None = None
    namespace: str | None = None
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    tls_server_name: str | None = None

    def __repr__(self) -> str:
        return (f"ContextConfig(context={self.context!r}, cluster={self.cluster!r}, user={self.user!r}, "
                f"server={self.server!r}, namespace={self.namespace!r}, ca_pem={'…' if self.ca_pem else None}, "
                f"cert_pem={'…' if self.cert_pem else None}, key_pem={'<redacted>' if self.key_pem else None})")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_kubeconfig(server: str, *, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str,
                     cluster: str = DEFAULT_CLUSTER, namespace: str | None = None,
                     tls_server_name: str | None = None) -> dict[str, Any]:
    """One cluster, one user, one context joining them (``<user>@<cluster>``, kubeadm's naming)."""
    cluster_entry: dict[str, Any] = {"server": server if "://" in server else f"https://{server}",
                                     "certificate-authority-data": _b64(ca_pem)}
    if tls_server_name:
        cluster_entry["tls-server-name"] = tls_server_name
    context: dict[str, Any] = {"cluster": cluster, "user": user}
    if namespace:
        context["namespace"] = namespace
    name = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def user_kubeconfig(ca: pki.CertKey, server: str, user: str, groups: tuple[str, ...] = (), *,
                    namespace: str | None = None, cluster: str = DEFAULT_CLUSTER,
                    validity: datetime.timedelta = pki.CERT_VALIDITY) -> dict[str, Any]:
    """A new client certificate for ``user`` in ``groups`` and the kubeconfig holding it
    (``kubeadm kubeconfig user``; what ``pykube user add`` and ``pykube up``'s admin use)."""
    issued = pki.issue_client_cert(ca, user, groups, validity=validity)
    return build_kubeconfig(server, ca_pem=ca.cert_pem(), cert_pem=issued.cert_pem(), key_pem=issued.key_pem(),
                            user=user, cluster=cluster, namespace=namespace)


def dump_kubeconfig(config: Mapping[str, Any]) -> bytes:
    return yaml.safe_dump(dict(config), default_flow_style=False, sort_keys=False).encode()


def write_kubeconfig(path: str | os.PathLike, config: Mapping[str, Any]) -> None:
    """Write ``config`` to ``path`` whole, mode 0600 (it holds a private key)."""
    write_atomic(path, dump_kubeconfig(config), 0o600)


def is_kubeconfig(data: Mapping[str, Any]) -> bool:
    """A kubeconfig rather than pykube's old two-line form (``server:``/``namespace:``)."""
    return data.get("kind") == "Config" or any(k in data for k in ("clusters", "contexts", "users", "current-context"))


def _named(data: Mapping[str, Any], section: str, name: str, field: str, path: Path) -> Mapping[str, Any]:
    entries = data.get(section) or []
    if not isinstance(entries, list):
        raise ConfigError(f"config file {path}: {section} must be a list")
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            body = entry.get(field) or {}
            if not isinstance(body, Mapping):
                raise ConfigError(f'config file {path}: {section} "{name}": {field} must be a mapping')
            return body
    raise ConfigError(f'config file {path}: no {section[:-1]} named "{name}"')


def _string(body: Mapping[str, Any], key: str, where: str, path: Path) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"config file {path}: {where}.{key} must be a string")
    return value


def _pem(body: Mapping[str, Any], key: str, where: str, path: Path) -> bytes | None:
    """``<key>-data`` (base64 PEM) or ``<key>`` (a file, relative to the config file)."""
    data = _string(body, f"{key}-data", where, path)
    if data is not None:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"config file {path}: {where}.{key}-data is not valid base64") from None
    file = _string(body, key, where, path)
    if file is None:
        return None
    target = (path.parent / Path(file).expanduser()) if not Path(file).expanduser().is_absolute() else Path(file)
    try:
        return target.read_bytes()
    except OSError as err:
        raise ConfigError(f"config file {path}: cannot read {where}.{key} {target}: {err.strerror}") from None


def resolve_context(data: Mapping[str, Any], path: Path, context: str | None = None) -> ContextConfig:
    """The cluster and user of ``context`` (default: ``current-context``)."""
    name = context or data.get("current-context")
    if not name or not isinstance(name, str):
        raise ConfigError(f"config file {path}: no current-context is set")
    ctx = _named(data, "contexts", name, "context", path)
    cluster_name = _string(ctx, "cluster", f'contexts "{name}"', path)
    user_name = _string(ctx, "user", f'contexts "{name}"', path)
    if cluster_name is None:
        raise ConfigError(f'config file {path}: context "{name}" names no cluster')
    cluster = _named(data, "clusters", cluster_name, "cluster", path)
    user = _named(data, "users", user_name, "user", path) if user_name else {}
    cwhere, uwhere = f'clusters "{cluster_name}"', f'users "{user_name}"'
    return ContextConfig(
        context=name, cluster=cluster_name, user=user_name or "",
        server=_string(cluster, "server", cwhere, path),
        namespace=_string(ctx, "namespace", f'contexts "{name}"', path),
        ca_pem=_pem(cluster, "certificate-authority", cwhere, path),
        cert_pem=_pem(user, "client-certificate", uwhere, path),
        key_pem=_pem(user, "client-key", uwhere, path),
        tls_server_name=_string(cluster, "tls-server-name", cwhere, path),
    )


def set_server(data: dict[str, Any], server: str, path: Path) -> None:
    """Point the current context's cluster at ``server`` (keeping an https:// scheme)."""
    resolved = resolve_context(data, path)
    for entry in data.get("clusters") or []:
        if isinstance(entry, dict) and entry.get("name") == resolved.cluster:
            body = entry.setdefault("cluster", {})
            old = str(body.get("server") or "")
            scheme = old.partition("://")[0] + "://" if "://" in old else ""
            body["server"] = server if "://" in server else scheme + server


def kubectl_config(pykubectl_config: bytes, http_address: str, path: Path) -> dict[str, Any]:
    """A kubeconfig (pykubectl's: the gRPC address) pointed at the apiserver's Kubernetes HTTP
    API instead (``https://HOST:PORT``), for the real kubectl and client libraries: the same
    CA, the same client certificate. ``path`` names the file in error messages."""
    data = yaml.safe_load(pykubectl_config)
    set_server(data, f"https://{http_address}", path)
    return data
