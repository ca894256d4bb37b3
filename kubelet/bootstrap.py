"""The kubelet's TLS bootstrap: from a join token to a client certificate
(``pykubelet --token K10… --bootstrap-server HOST:PORT [--cert-dir DIR]``).

Kubernetes' kubelet does this with ``--bootstrap-kubeconfig`` (a bootstrap token) and
writes what it gets into ``--cert-dir``; k3s agents with ``--token K10…``. Here:

1. a valid certificate already in the cert dir (for ``system:node:<name>``, signed by the
   ``ca.crt`` beside it, whose key the join token pins, inside its validity) is used as it
   is: a restarted kubelet does not join again (its token may long have expired);
2. otherwise the CA is learnt from the bootstrap listener and kept only if its key hashes to
   the pin in the join string (``client.ca_discovery.discover_ca``);
3. a new key (ECDSA P-256) and a CSR for ``CN=system:node:<name>, O=system:nodes`` go with
   the token to ``Bootstrap.Join`` over TLS verified against that CA;
4. the answer is checked (our key, our name, signed by that CA) and kept in the cert dir:
   ``kubelet-client.key`` (0600, written first), ``kubelet-client.crt``, ``ca.crt``; the
   directory is made 0700.

With ``serving_ips`` (``pykubelet --server-tls-bootstrap``: Kubernetes' ``serverTLSBootstrap``)
the same join also asks for the kubelet's serving certificate (CN and O as above, SANs the node
name and those addresses; the apiserver signs only the address the join came from), kept as
``kubelet-server.crt``/``.key``; with ``proxy`` (``--kube-proxy-kubeconfig``) a client
certificate for ``system:kube-proxy``, kept as ``kube-proxy.crt``/``.key``, for the node's
pykube-proxy (a k3s agent gets its kube-proxy's certificate with the node token the same way).
The cert dir counts as whole only when everything asked for is there and good.

Any failure is a ``BootstrapError`` with one line saying what went wrong: a wrong pin, an
unreachable server, a token the cluster refuses (unknown or expired), a name it will not sign.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509

from apimachinery.identity import KUBE_PROXY_USER
from client import pki
from client.bootstrap_token import TokenError, check_ca_pin, parse_join_token
from client.ca_discovery import discover_ca
from client.connection import TLSConfig, short_reason
from client.files import write_atomic
from protos import bootstrap_pb2, bootstrap_pb2_grpc

DEFAULT_CERT_DIR = "/var/lib/pykubelet/pki"  # Kubernetes': /var/lib/kubelet/pki
CLIENT_NAME = "kubelet-client"
SERVING_NAME = "kubelet-server"  # Kubernetes: kubelet-server-current.pem
PROXY_NAME = "kube-proxy"
CA_FILE = "ca.crt"
NODES_GROUP = "system:nodes"
TIMEOUT = 10.0


class BootstrapError(Exception):
    """The kubelet cannot get its client certificate; the message is one line."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class Wanted:
    """What a join asks for beyond the node's client certificate."""

    serving_ips: tuple[str, ...] | None = None  # the serving certificate's IP SANs; None: no serving cert
    proxy: bool = False

    def serving_subject(self, node_name: str) -> tuple[set, set]:
        return {ipaddress.ip_address(ip) for ip in self.serving_ips or ()}, {node_name}


@dataclass(frozen=True)
class Credentials:
    """What the cert dir holds for this node: the client TLS config, and the serving and
    kube-proxy pairs when they were asked for."""

    tls: TLSConfig
    ca_pem: bytes
    serving: pki.CertKey | None = None
    proxy: pki.CertKey | None = None


def _good_leaf(cert_dir: Path, name: str, ca, now, user: str) -> pki.CertKey | None:
    """``<name>.crt``/``.key`` if whole, for ``user``, from ``ca`` and valid ``now``."""
    try:
        pair = pki.load_cert_key(cert_dir, name)
        if pki.identity_from_cert(pair.cert).name != user:
            return None
    except ValueError:  # PKIError, or a certificate naming no user
        return None
    if pki.validity_problem(pair.cert, now) is not None or not pki.issued_by(pair.cert, ca):
        return None
    return pair


def _sans(cert) -> tuple[set, set]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(names.get_values_for_type(x509.IPAddress)), set(names.get_values_for_type(x509.DNSName))


def existing_credentials(cert_dir: str | Path, node_name: str, pinned: str | None,
                         now: datetime.datetime | None = None, wanted: Wanted = Wanted()) -> Credentials | None:
    """The credentials in ``cert_dir`` if they are whole and good for this node now (and, with
    ``pinned``, of the cluster the token pins); None means join."""
    cert_dir = Path(cert_dir)
    try:
        ca = pki.load_cert(cert_dir / CA_FILE)
    except pki.PKIError:
        return None
    user = f"system:node:{node_name}"
    pair = _good_leaf(cert_dir, CLIENT_NAME, ca, now, user)
    if pair is None or NODES_GROUP not in pki.identity_from_cert(pair.cert).groups:
        return None
    if pinned is not None:
        try:
            check_ca_pin(ca, pinned)
        except TokenError:
            return None  # the token is for another cluster: join that one
    serving = proxy = None
    if wanted.serving_ips is not None:
        serving = _good_leaf(cert_dir, SERVING_NAME, ca, now, user)
        if serving is None or _sans(serving.cert) != wanted.serving_subject(node_name):
            return None  # missing, stale, or for other addresses: join again
    if wanted.proxy:
        proxy = _good_leaf(cert_dir, PROXY_NAME, ca, now, KUBE_PROXY_USER)
        if proxy is None:
            return None
    ca_pem = pki.cert_pem(ca)
    return Credentials(TLSConfig(ca_pem=ca_pem, cert_pem=pair.cert_pem(), key_pem=pair.key_pem()), ca_pem,
                       serving, proxy)


def _answered(pem: bytes, key, ca, name: str, server: str, what: str) -> pki.CertKey:
    """The certificate in the answer, checked: ours (key), for ``name``, from the pinned CA."""
    try:
        cert = pki.load_cert_pem(pem, f"the {what} the bootstrap server sent")
    except pki.PKIError as err:
        raise BootstrapError(str(err)) from None
    if (not pki.issued_by(cert, ca) or pki.identity_from_cert(cert).name != name
            or cert.public_key().public_numbers() != key.public_key().public_numbers()):
        raise BootstrapError(f"bootstrap server {server} sent a {what} that is not "
                             f"{name}'s, for this key, from the pinned CA")
    return pki.CertKey(cert, key)


def request_certificates(bootstrap_server: str, join_string: str, node_name: str, timeout: float = TIMEOUT,
                         wanted: Wanted = Wanted()
                         ) -> tuple[pki.CertKey, bytes, pki.CertKey | None, pki.CertKey | None]:
    """Join: (client pair, the CA's PEM, serving pair or None, kube-proxy pair or None).
    Raises BootstrapError."""
    try:
        join = parse_join_token(join_string)
    except TokenError as err:
        raise BootstrapError(f"invalid --token: {err}") from None
    if join.ca_hash is None:
        raise BootstrapError('--token has no CA pin: use the join string "pykube token create" prints '
                             '(K10<hash>::<id>.<secret>)')
    try:
        ca = discover_ca(bootstrap_server, join.ca_hash, timeout)
    except TokenError as err:
        raise BootstrapError(f"bootstrap server {bootstrap_server}: {err}") from None
    except (OSError, ValueError) as err:
        raise BootstrapError(f"cannot reach the bootstrap server {bootstrap_server}: "
                             f"{getattr(err, 'strerror', None) or err}") from None
    ca_pem = pki.cert_pem(ca)
    key = pki.new_private_key()
    csr = pki.create_csr(key, f"system:node:{node_name}", [NODES_GROUP])
    request = bootstrap_pb2.JoinRequest(token=str(join.token), csr_pem=pki.csr_pem(csr), node_name=node_name)
    serving_key = proxy_key = None
    if wanted.serving_ips is not None:
        serving_key = pki.new_private_key()
        request.serving_csr_pem = pki.csr_pem(pki.create_csr(serving_key, f"system:node:{node_name}", [NODES_GROUP],
                                                             ips=wanted.serving_ips, dns_names=[node_name]))
    if wanted.proxy:
        proxy_key = pki.new_private_key()
        request.proxy_csr_pem = pki.csr_pem(pki.create_csr(proxy_key, KUBE_PROXY_USER))
    with grpc.secure_channel(bootstrap_server, grpc.ssl_channel_credentials(root_certificates=ca_pem)) as channel:
        try:
            reply = bootstrap_pb2_grpc.BootstrapStub(channel).Join(request, timeout=timeout)
        except grpc.RpcError as err:
            code = err.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise BootstrapError(f"cannot reach the bootstrap server {bootstrap_server}: "
                                     f"{short_reason(err)}") from None
            raise BootstrapError(f"the cluster refused to join node {node_name} "
                                 f"({code.name}): {err.details()}") from None
    if reply.ca_pem and pki.load_cert_pem(reply.ca_pem, "the CA the bootstrap server sent") != ca:
        raise BootstrapError(f"bootstrap server {bootstrap_server} answered with another CA than the pinned one")
    pair = _answered(reply.certificate_pem, key, ca, f"system:node:{node_name}", bootstrap_server, "certificate")
    serving = proxy = None
    if serving_key is not None:
        serving = _answered(reply.serving_certificate_pem, serving_key, ca, f"system:node:{node_name}",
                            bootstrap_server, "serving certificate")
    if proxy_key is not None:
        proxy = _answered(reply.proxy_certificate_pem, proxy_key, ca, KUBE_PROXY_USER, bootstrap_server,
                          "kube-proxy certificate")
    return pair, ca_pem, serving, proxy


def client_credentials(cert_dir: str | Path, node_name: str, join_string: str, bootstrap_server: str,
                       timeout: float = TIMEOUT, wanted: Wanted = Wanted()) -> tuple[TLSConfig, bool]:
    """The kubelet's credentials for the API, and whether it joined just now (False: from the
    cert dir). Raises BootstrapError."""
    credentials, joined = join_credentials(cert_dir, node_name, join_string, bootstrap_server, timeout, wanted)
    return credentials.tls, joined


def join_credentials(cert_dir: str | Path, node_name: str, join_string: str, bootstrap_server: str,
                     timeout: float = TIMEOUT, wanted: Wanted = Wanted()) -> tuple[Credentials, bool]:
    """Everything ``wanted`` from the cert dir, or from a join now (True). Raises BootstrapError."""
    pinned = None
    try:
        pinned = parse_join_token(join_string).ca_hash
    except TokenError:
        pass  # request_certificates says it properly, if a join is needed at all
    found = existing_credentials(cert_dir, node_name, pinned, wanted=wanted)
    if found is not None:
        return found, False
    pair, ca_pem, serving, proxy = request_certificates(bootstrap_server, join_string, node_name, timeout, wanted)
    cert_dir = Path(cert_dir)
    try:
        cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, leaf in ((SERVING_NAME, serving), (PROXY_NAME, proxy)):
            if leaf is not None:
                pki.write_cert_key(cert_dir, name, leaf)
        # The client pair and the CA last: a cert dir is taken as whole only once they are there.
        pki.write_cert_key(cert_dir, CLIENT_NAME, pair)
        write_atomic(cert_dir / CA_FILE, ca_pem, 0o644)
    except OSError as err:
        raise BootstrapError(f"cannot keep the certificate in {cert_dir}: {err.strerror}") from None
    tls = TLSConfig(ca_pem=ca_pem, cert_pem=pair.cert_pem(), key_pem=pair.key_pem())
    return Credentials(tls, ca_pem, serving, proxy), True


def serving_files(cert_dir: str | Path) -> tuple[str, str, str]:
    """(certificate, key, client CA) of the bootstrapped serving certificate in ``cert_dir``."""
    cert_dir = Path(cert_dir)
    return (str(cert_dir / f"{SERVING_NAME}.crt"), str(cert_dir / f"{SERVING_NAME}.key"), str(cert_dir / CA_FILE))
