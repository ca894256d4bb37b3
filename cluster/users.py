"""``pykube user add NAME [--group G]... [--out FILE]``: a second person for the cluster, as
``kubeadm kubeconfig user`` makes one: a client certificate from the cluster CA
(``<state>/pki/ca.crt|ca.key``, created by ``pykube up``) with CN=NAME and one O per group,
in a kubeconfig for the cluster (default ``<state>/users/NAME.kubeconfig``, mode 0600).

The certificate proves who the user is; what they may do is RBAC's business: a new user
may do nothing beyond what every authenticated user may (discovery, /version, asking
``auth can-i``) until a Role or ClusterRole is bound to them. A certificate cannot be
revoked (Kubernetes has no CRL either): issuing again makes a second one, both valid
until they expire.

The cluster entry (server, ``tls-server-name``) is copied from the cluster's admin config
(``<state>/config``) when it is a kubeconfig, else made from ``cluster.json``'s address.
Under sudo the file is given to the invoking user (SUDO_UID/SUDO_GID), who can then read
it or hand it over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from client import kubeconfig, pki
from client.config import ConfigError, read_config
from cluster.state_dir import ClusterError, ClusterSpec

PKI_DIR = "pki"
CA_NAME = "ca"
USERS_DIR = "users"


@dataclass(frozen=True)
class AddedUser:
    name: str
    groups: tuple[str, ...]
    path: Path
    expires: str  # the certificate's notAfter, as a date


def default_path(state_dir: Path, name: str) -> Path:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise ClusterError(f'a user named "{name}" cannot be a file name in {state_dir / USERS_DIR}: '
                           "give --out FILE")
    return state_dir / USERS_DIR / f"{name}.kubeconfig"


def _cluster_entry(state_dir: Path) -> tuple[str, str | None]:
    """(server, tls-server-name) of the cluster, from its admin config or its spec."""
    admin = state_dir / "config"
    try:
        data = read_config(admin)
        if data and kubeconfig.is_kubeconfig(data):
            ctx = kubeconfig.resolve_context(data, admin)
            if ctx.server:
                return ctx.server, ctx.tls_server_name
    except ConfigError:
        pass  # fall back to the spec
    spec = ClusterSpec.load(state_dir / "cluster.json")
    if spec is None:
        raise ClusterError(f"no cluster in {state_dir} (pykube up creates one)")
    return spec.address, None


def load_ca(state_dir: Path) -> pki.CertKey:
    directory = state_dir / PKI_DIR
    if not (directory / f"{CA_NAME}.crt").exists() or not (directory / f"{CA_NAME}.key").exists():
        raise ClusterError(f"no cluster CA in {directory} ({CA_NAME}.crt and {CA_NAME}.key; pykube up creates it)")
    try:
        return pki.load_cert_key(directory, CA_NAME)
    except PermissionError:
        raise ClusterError(f"cannot read the cluster CA's key in {directory}: run as root (sudo)") from None


def add_user(state_dir: Path, name: str, groups: tuple[str, ...] = (), out: Path | None = None) -> AddedUser:
    """Issue NAME's certificate and write its kubeconfig (0600)."""
    path = out if out is not None else default_path(state_dir, name)
    if not name:
        raise ClusterError("a user needs a name")
    ca = load_ca(state_dir)
    server, tls_server_name = _cluster_entry(state_dir)
    groups = tuple(dict.fromkeys(groups))
    issued = pki.issue_client_cert(ca, name, groups)
    config = kubeconfig.build_kubeconfig(server, ca_pem=ca.cert_pem(), cert_pem=issued.cert_pem(),
                                         key_pem=issued.key_pem(), user=name, namespace="default",
                                         tls_server_name=tls_server_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_kubeconfig(path, config)
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        os.chown(path, int(uid), int(gid))
    return AddedUser(name, groups, path, issued.cert.not_valid_after_utc.date().isoformat())


def describe(added: AddedUser) -> str:
    """What ``pykube user add`` prints: where the config is and how to use it."""
    groups = f" in {', '.join(added.groups)}" if added.groups else ""
    return "\n".join([
        f'user "{added.name}"{groups}: kubeconfig written to {added.path} (certificate valid until {added.expires})',
        "",
        f"use it:    PYKUBECONFIG={added.path} pykubectl get pods",
        f"           (or: export PYKUBECONFIG={added.path})",
        f'It may do nothing yet: bind a Role or ClusterRole to User "{added.name}" (pykubectl apply -f a '
        "RoleBinding),",
        f"then check: pykubectl auth can-i list pods --as {added.name}",
    ])
