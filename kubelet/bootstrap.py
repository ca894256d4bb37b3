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

Any failure is a ``BootstrapError`` with one line saying what went wrong: a wrong pin, an
unreachable server, a token the cluster refuses (unknown or expired), a name it will not sign.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import grpc

from client import pki
from client.bootstrap_token import TokenError, check_ca_pin, parse_join_token
from client.ca_discovery import discover_ca
from client.connection import TLSConfig, short_reason
from client.files import write_atomic
from protos import bootstrap_pb2, bootstrap_pb2_grpc

DEFAULT_CERT_DIR = "/var/lib/pykubelet/pki"  # Kubernetes': /var/lib/kubelet/pki
CLIENT_NAME = "kubelet-client"
CA_FILE = "ca.crt"
NODES_GROUP = "system:nodes"
TIMEOUT = 10.0


class BootstrapError(Exception):
    """The kubelet cannot get its client certificate; the message is one line."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def existing_credentials(cert_dir: str | Path, node_name: str, pinned: str | None,
                         now: datetime.datetime | None = None) -> TLSConfig | None:
    """The credentials in ``cert_dir`` if they are whole and good for this node now (and, with
    ``pinned``, of the cluster the token pins); None means join."""
    cert_dir = Path(cert_dir)
    try:
        pair = pki.load_cert_key(cert_dir, CLIENT_NAME)
        ca = pki.load_cert(cert_dir / CA_FILE)
    except pki.PKIError:
        return None
    try:
        subject = pki.identity_from_cert(pair.cert)
    except ValueError:
        return None
    if subject.name != f"system:node:{node_name}" or NODES_GROUP not in subject.groups:
        return None
    if pki.validity_problem(pair.cert, now) is not None or not pki.issued_by(pair.cert, ca):
        return None
    if pinned is not None:
        try:
            check_ca_pin(ca, pinned)
        except TokenError:
            return None  # the token is for another cluster: join that one
    return TLSConfig(ca_pem=pki.cert_pem(ca), cert_pem=pair.cert_pem(), key_pem=pair.key_pem())


def request_certificate(bootstrap_server: str, join_string: str, node_name: str,
                        timeout: float = TIMEOUT) -> tuple[pki.CertKey, bytes]:
    """Join: (our key and certificate, the CA's PEM). Raises BootstrapError."""
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
    try:
        cert = pki.load_cert_pem(reply.certificate_pem, "the certificate the bootstrap server sent")
    except pki.PKIError as err:
        raise BootstrapError(str(err)) from None
    if reply.ca_pem and pki.load_cert_pem(reply.ca_pem, "the CA the bootstrap server sent") != ca:
        raise BootstrapError(f"bootstrap server {bootstrap_server} answered with another CA than the pinned one")
    pair = pki.CertKey(cert, key)
    if (not pki.issued_by(cert, ca) or pki.identity_from_cert(cert).name != f"system:node:{node_name}"
            or cert.public_key().public_numbers() != key.public_key().public_numbers()):
        raise BootstrapError(f"bootstrap server {bootstrap_server} sent a certificate that is not "
                             f"system:node:{node_name}'s, for this key, from the pinned CA")
    return pair, ca_pem


def client_credentials(cert_dir: str | Path, node_name: str, join_string: str, bootstrap_server: str,
                       timeout: float = TIMEOUT) -> tuple[TLSConfig, bool]:
    """The kubelet's credentials for the API, and whether it joined just now (False: from the
    cert dir). Raises BootstrapError."""
    pinned = None
    try:
        pinned = parse_join_token(join_string).ca_hash
    except TokenError:
        pass  # request_certificate says it properly, if a join is needed at all
    found = existing_credentials(cert_dir, node_name, pinned)
    if found is not None:
        return found, False
    pair, ca_pem = request_certificate(bootstrap_server, join_string, node_name, timeout)
    cert_dir = Path(cert_dir)
    try:
        cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pki.write_cert_key(cert_dir, CLIENT_NAME, pair)
        write_atomic(cert_dir / CA_FILE, ca_pem, 0o644)
    except OSError as err:
        raise BootstrapError(f"cannot keep the certificate in {cert_dir}: {err.strerror}") from None
    return TLSConfig(ca_pem=ca_pem, cert_pem=pair.cert_pem(), key_pem=pair.key_pem()), True
