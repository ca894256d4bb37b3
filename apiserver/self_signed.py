"""An apiserver started with no certificates makes its own, as kube-apiserver does in its
``--cert-dir`` (``MaybeDefaultWithSelfSignedCerts``), and one step further: a CA, so that
clients are verified too, and an admin kubeconfig to reach it with.

    pykube-apiserver --data-dir DIR          (no --tls-cert-file ...)

    DIR/pki/ca.crt, ca.key                the CA (made once, reused on every later start)
    DIR/pki/apiserver.crt, apiserver.key  serving: 127.0.0.1, ::1, localhost and the listen host
                                          (reissued when it does not name the host, or expires
                                          within a day)
    DIR/admin.kubeconfig                  system:admin in system:masters (kubeadm's admin.conf);
                                          made once, its server updated to the address served

Keys and the kubeconfig are 0600, pki/ 0700 (client.pki / client.files write them so from the
start). The API is then served over mutual TLS with ``--client-ca-file DIR/pki/ca.crt`` and,
unless ``--authorization-mode`` says otherwise, ``Node,RBAC``: the admin is a superuser either
way, and anyone given a certificate from this CA (``pykube user add`` style) is held to RBAC.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509

from client import pki
from client.kubeconfig import (ConfigError, ContextConfig, kubectl_config, resolve_context, set_server,
                               user_kubeconfig, write_kubeconfig)

ADMIN_USER = "system:admin"
ADMIN_GROUPS = ("system:masters",)
ADMIN_KUBECONFIG = "admin.kubeconfig"
# The same admin for the real kubectl, pointed at the Kubernetes HTTP API (--http-listen).
KUBECTL_KUBECONFIG = "kubeconfig"
SERVING_NAME = "apiserver"
SERVING_CN = "kube-apiserver"
LOCAL_IPS = ("127.0.0.1", "::1")
LOCAL_NAMES = ("localhost",)
# A serving certificate this close to its end is reissued at start.
RENEW_BEFORE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class SelfSignedFiles:
    """Where the apiserver's own CA, serving certificate and admin kubeconfig live."""

    cert_dir: Path
    admin_kubeconfig: Path

    @property
    def ca_cert(self) -> Path:
        return self.cert_dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.cert_dir / "ca.key"

    @property
    def kubectl_kubeconfig(self) -> Path:
        return self.admin_kubeconfig.with_name(KUBECTL_KUBECONFIG)

    @property
    def serving_cert(self) -> Path:
        return self.cert_dir / f"{SERVING_NAME}.crt"

    @property
    def serving_key(self) -> Path:
        return self.cert_dir / f"{SERVING_NAME}.key"


def files_for(data_dir: Path, cert_dir: str = "") -> SelfSignedFiles:
    """The layout for DATA_DIR (``--cert-dir`` overrides ``DATA_DIR/pki``)."""
    return SelfSignedFiles(Path(cert_dir) if cert_dir else data_dir / "pki", data_dir / ADMIN_KUBECONFIG)


def listen_host(listen: str) -> str:
    """The host part of HOST:PORT ([v6]:port too)."""
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _unspecified(host: str) -> bool:
    return host == "" or (_is_ip(host) and ipaddress.ip_address(host).is_unspecified)


def serving_names(listen: str) -> tuple[list[str], list[str]]:
    """(IPs, DNS names) the serving certificate holds for an apiserver listening on ``listen``."""
    host = listen_host(listen)
    ips, names = list(LOCAL_IPS), list(LOCAL_NAMES)
    if not _unspecified(host):
        if _is_ip(host):
            if str(ipaddress.ip_address(host)) not in ips:
                ips.append(str(ipaddress.ip_address(host)))
        elif host.lower() not in names:
            names.append(host.lower())
    return ips, names


def client_address(address: str) -> str:
    """How a local client dials the served ``address``: a wildcard host becomes 127.0.0.1."""
    host, _, port = address.rpartition(":")
    bare = listen_host(address)
    if _unspecified(bare):
        return f"127.0.0.1:{port}"
    return f"[{bare}]:{port}" if ":" in bare else f"{host}:{port}"


def _covers(cert: x509.Certificate, ips: list[str], names: list[str]) -> bool:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    have_names = {name.lower() for name in sans.get_values_for_type(x509.DNSName)}
    return set(ips) <= have_ips and set(names) <= have_names


def ensure_serving(files: SelfSignedFiles, listen: str, now: datetime.datetime | None = None) -> bool:
    """The CA (made once) and a serving certificate for ``listen`` signed by it; True when the
    CA was made now. Raises pki.PKIError for files that are there but unusable."""
    files.cert_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(files.cert_dir, 0o700)
    ca, created = pki.load_or_create_ca(files.cert_dir)
    ips, names = serving_names(listen)
    at = now or datetime.datetime.now(datetime.timezone.utc)
    if files.serving_cert.exists() and files.serving_key.exists() and not created:
        current = pki.load_cert_key(files.cert_dir, SERVING_NAME)
        if (pki.issued_by(current.cert, ca.cert) and _covers(current.cert, ips, names)
                and pki.validity_problem(current.cert, at) is None
                and current.cert.not_valid_after_utc - at > RENEW_BEFORE):
            return created
    pki.write_cert_key(files.cert_dir, SERVING_NAME, pki.issue_serving_cert(ca, SERVING_CN, ips=ips, dns_names=names))
    return created


def _usable_admin(path: Path, ca: pki.CertKey) -> dict | None:
    """The admin kubeconfig at ``path`` if it holds a current certificate from ``ca``."""
    try:
        data = yaml.safe_load(path.read_bytes())
        ctx: ContextConfig = resolve_context(data, path)
    except (OSError, ValueError, ConfigError, yaml.YAMLError, AttributeError, TypeError):
        return None
    if ctx.cert_pem is None or ctx.ca_pem is None:
        return None
    try:
        cert = pki.load_cert_pem(ctx.cert_pem)
    except ValueError:
        return None
    if not pki.issued_by(cert, ca.cert) or pki.validity_problem(cert) is not None:
        return None
    return data


def ensure_admin_kubeconfig(files: SelfSignedFiles, address: str) -> Path:
    """``admin.kubeconfig`` pointing at ``address`` (served address; a wildcard host becomes
    127.0.0.1): kept when it holds a current admin certificate from the CA, else made anew."""
    ca = pki.load_cert_key(files.cert_dir, "ca")
    server = client_address(address)
    data = _usable_admin(files.admin_kubeconfig, ca)
    if data is None:
        data = user_kubeconfig(ca, server, ADMIN_USER, ADMIN_GROUPS, namespace="default")
    else:
        set_server(data, server, files.admin_kubeconfig)
    write_kubeconfig(files.admin_kubeconfig, data)
    return files.admin_kubeconfig


def write_kubectl_kubeconfig(files: SelfSignedFiles, http_address: str) -> Path:
    """``kubeconfig`` beside ``admin.kubeconfig``: the same admin, pointed at the Kubernetes
    HTTP API, for the real kubectl (``kubectl --kubeconfig DIR/kubeconfig``); written anew
    at each start (the port may change)."""
    data = kubectl_config(files.admin_kubeconfig.read_bytes(), client_address(http_address),
                          files.kubectl_kubeconfig)
    write_kubeconfig(files.kubectl_kubeconfig, data)
    return files.kubectl_kubeconfig


def usage_line(files: SelfSignedFiles, http: bool = False) -> str:
    """What the apiserver prints so that a person can reach it (``http``: and the real kubectl
    through the Kubernetes HTTP API)."""
    kubeconfig = files.admin_kubeconfig
    line = (f"pykube-apiserver: serving mutual TLS with its own CA ({files.ca_cert}); admin credentials: "
            f"{kubeconfig} (pykubectl --kubeconfig {kubeconfig} get ns, or export PYKUBECONFIG={kubeconfig})")
    if http:
        line += f"; for kubectl: kubectl --kubeconfig {files.kubectl_kubeconfig} get ns"
    return line
