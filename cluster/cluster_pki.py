"""The certificates of a local cluster: ``pykube up`` makes ``<state>/pki/`` (kubeadm's layout
and subjects) before it starts anything.

    pki/ca.crt, ca.key                  the cluster CA (kept across up/down; --purge removes it)
    pki/apiserver.crt, apiserver.key    serving: 127.0.0.1, localhost, the node IPs 10.87.0.x
    pki/apiserver-kubelet-client.crt/.key  the apiserver as a client of kubelets
                                        (CN=kube-apiserver-kubelet-client, O=system:masters)
    pki/kubelet-serving-<node>.crt/.key the kubelet's own service (SANs 127.0.0.1, the node IP,
                                        localhost, the node name)
    pki/encryption-config.yaml          Secrets encrypted at rest: the AES-GCM key (0600, made once)
    pki/<component>.conf                a kubeconfig per client identity (CA + certificate + key):
      scheduler.conf                    system:kube-scheduler
      controller-manager.conf           system:kube-controller-manager
      kubelet-<node>.conf               system:node:<node>, O=system:nodes (the Node authorizer's)
      proxy-<node>.conf, nodeports.conf system:kube-proxy (bound to system:node-proxier)
      hollow-nodes.conf                 pykube:hollow-nodes, O=system:masters (see kubelet.hollow:
                                        N kubelets on one channel can have only one identity)
      admin.conf                        system:admin, O=system:masters: pykubectl's config

The CA is reused (certificates users were given stay valid); every leaf is issued afresh on each
``up``, since the apiserver's port and the node IPs may change.

``pykube pki --server HOST:PORT --apiserver-ip IP --apiserver-dns NAME`` makes the control-plane
part alone (CA, apiserver serving and kubelet-client certificates, scheduler.conf,
controller-manager.conf, admin.conf) for an apiserver on another machine, e.g. the lab's master
VM (vagrant/provision.sh), whose workers join by token and so need nothing from this directory. Keys and kubeconfigs are 0600,
the directory 0700 (``client.pki`` / ``client.files`` write them so from the start).
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from client import files, pki
from client.kubeconfig import user_kubeconfig, write_kubeconfig

ADMIN = ("system:admin", ("system:masters",))
SCHEDULER = ("system:kube-scheduler", ())
CONTROLLER_MANAGER = ("system:kube-controller-manager", ())
PROXY = ("system:kube-proxy", ())  # apiserver.auth.bootstrap binds system:node-proxier to this user
# Hollow nodes share one channel, hence one certificate: a superuser, not a node (kubelet.hollow).
HOLLOW = ("pykube:hollow-nodes", ("system:masters",))
APISERVER_KUBELET_CLIENT = ("kube-apiserver-kubelet-client", ("system:masters",))
APISERVER_DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")


ENCRYPTION_CONFIG = "encryption-config.yaml"


def encryption_config_text(key_name: str = "key1") -> str:
    """Kubernetes' EncryptionConfiguration (see apiserver/storage/encryption.py): Secrets under
    a new random 32-byte AES-GCM key; plaintext (stored before encryption) still readable."""
    secret = base64.b64encode(os.urandom(32)).decode()
    return ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            "  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n"
            f"            - name: {key_name}\n              secret: {secret}\n      - identity: {{}}\n")


def kubelet_identity(node: str) -> tuple[str, tuple[str, ...]]:
    return f"system:node:{node}", ("system:nodes",)


@dataclass(frozen=True)
class ClusterPKI:
    """The paths in ``<state>/pki``."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    def kubeconfig(self, component: str) -> Path:
        """``scheduler``, ``controller-manager``, ``hollow-nodes``, ``nodeports``, ``admin``,
        ``nI/kubelet`` (→ kubelet-nI.conf), ``nI/proxy`` (→ proxy-nI.conf)."""
        node, _, agent = component.partition("/")
        name = f"{agent}-{node}" if agent else component
        return self.directory / f"{name}.conf"

    @property
    def encryption_config(self) -> Path:
        return self.directory / ENCRYPTION_CONFIG

    def ensure_encryption_config(self) -> Path:
        """``pki/encryption-config.yaml`` (0600), made once with a new random key: the
        apiserver stores Secrets encrypted with it. Kept as long as the CA (until ``down
        --purge``): without it the stored Secrets cannot be read."""
        path = self.encryption_config
        if not path.exists():
            files.write_atomic(path, encryption_config_text().encode(), mode=0o600)
        return path

    def apiserver_args(self) -> list[str]:
        """Mutual TLS with this CA, Kubernetes' default authorizers, the apiserver's own
        certificate for dialling kubelets (logs, exec, port-forward), and Secrets encrypted at rest."""
        return ["--encryption-provider-config", str(self.ensure_encryption_config()), "--tls-cert-file", str(self.apiserver_cert), "--tls-private-key-file", str(self.apiserver_key),
                "--client-ca-file", str(self.ca_cert), "--authorization-mode", "Node,RBAC",
                "--kubelet-client-certificate", str(self.directory / "apiserver-kubelet-client.crt"),
                "--kubelet-client-key", str(self.directory / "apiserver-kubelet-client.key"),
                "--kubelet-certificate-authority", str(self.ca_cert)]

    def kubelet_serving_args(self, node: str) -> list[str]:
        """The kubelet's own service over mutual TLS: its serving certificate, and the CA whose
        clients (the apiserver) it accepts."""
        return ["--tls-cert-file", str(self.directory / f"kubelet-serving-{node}.crt"),
                "--tls-private-key-file", str(self.directory / f"kubelet-serving-{node}.key"),
                "--client-ca-file", str(self.ca_cert)]

    def exists(self) -> bool:
        return self.ca_cert.exists() and self.kubeconfig("admin").exists()

    def issue(self, server: str, nodes: list[str], node_ips: list[str], *, proxies: bool = True,
              nodeports: bool = True, hollow: bool = False, apiserver_ips: tuple[str, ...] = (),
              apiserver_dns_names: tuple[str, ...] = ()) -> pki.CertKey:
        """Everything a cluster with ``nodes`` needs, pointed at ``server`` (HOST:PORT); the
        apiserver's certificate also names ``apiserver_ips`` and ``apiserver_dns_names``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        ca, _ = pki.load_or_create_ca(self.directory)
        pki.write_cert_key(self.directory, "apiserver", pki.issue_serving_cert(
            ca, "kube-apiserver", ips=["127.0.0.1", *node_ips, *apiserver_ips],
            dns_names=[*APISERVER_DNS_NAMES, *apiserver_dns_names]))
        self.ensure_encryption_config()
        pki.write_cert_key(self.directory, "apiserver-kubelet-client",
                           pki.issue_client_cert(ca, *APISERVER_KUBELET_CLIENT))
        identities: dict[str, tuple[str, tuple[str, ...]]] = {
            "admin": ADMIN, "scheduler": SCHEDULER, "controller-manager": CONTROLLER_MANAGER}
        for node, ip in zip(nodes, node_ips, strict=True):
            identities[f"{node}/kubelet"] = kubelet_identity(node)
            # Dialled by the apiserver at its Hostname (a local kubelet publishes localhost and
            # listens on loopback) or its InternalIP: both are in the certificate, nothing else.
            pki.write_cert_key(self.directory, f"kubelet-serving-{node}", pki.issue_serving_cert(
                ca, kubelet_identity(node)[0], ips=["127.0.0.1", ip], dns_names=["localhost", node]))
            if proxies:
                identities[f"{node}/proxy"] = PROXY
        if nodeports:
            identities["nodeports"] = PROXY
        if hollow:
            identities["hollow-nodes"] = HOLLOW
        for component, (user, groups) in identities.items():
            write_kubeconfig(self.kubeconfig(component), user_kubeconfig(ca, server, user, groups, namespace="default"))
        return ca


# --- pykube pki: the control plane's certificates alone ------------------------------------------

def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def add_pki_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    pki_parser = sub.add_parser(
        "pki", parents=[common], help="the control plane's certificates and kubeconfigs only (root)",
        description="Write <state>/pki for an apiserver run by hand (e.g. on a VM): the cluster CA (kept if "
                    "there), the apiserver's serving and kubelet-client certificates, and kubeconfigs for "
                    "the scheduler, the controller-manager and an admin (system:masters). Nodes join by token "
                    "(pykube token create).")
    pki_parser.add_argument("--server", required=True, metavar="HOST:PORT",
                            help="the apiserver address the kubeconfigs point at, e.g. 127.0.0.1:6443")
    pki_parser.add_argument("--apiserver-ip", action="append", default=[], metavar="IP", type=_ip,
                            help="another address the apiserver certificate names (repeatable; 127.0.0.1 always)")
    pki_parser.add_argument("--apiserver-dns", action="append", default=[], metavar="NAME",
                            help="another DNS name the apiserver certificate names (repeatable; localhost and "
                                 "kubernetes.default.svc always)")


def cmd_pki(state_dir: Path, args: argparse.Namespace) -> str:
    """Issue the control plane's part; the line to print."""
    cluster_pki = ClusterPKI(state_dir / "pki")
    cluster_pki.issue(args.server, [], [], proxies=False, nodeports=False, apiserver_ips=tuple(args.apiserver_ip),
                      apiserver_dns_names=tuple(args.apiserver_dns))
    return (f"wrote {cluster_pki.directory}: CA ({pki.ca_hash(pki.load_cert(cluster_pki.ca_cert))}), "
            "apiserver certificates, scheduler.conf, controller-manager.conf, admin.conf")
