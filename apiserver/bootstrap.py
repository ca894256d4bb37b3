"""The apiserver's bootstrap listener: kubelets join with a token (``--bootstrap-listen``).

One call, ``Bootstrap.Join`` (protos/bootstrap.proto), on its own port
(``component_base.tls.bootstrap_server``: TLS without client certificates, small messages,
few calls at once, nothing else served there). A kubelet that has no certificate yet sends
its bootstrap token and a CSR; the apiserver answers with a client certificate for exactly
``system:node:<node_name>`` in ``system:nodes``, signed by the cluster CA
(``--cluster-signing-cert-file``/``--cluster-signing-key-file``: in Kubernetes the
controller-manager's flags, its CSR signer; here the apiserver signs, in one step with the
approval that Kubernetes' csrapprover gives bootstrap tokens' node CSRs).

The decisions, in order (``JoinHandler.decide``):

1. the token (``<apiserver data dir>/bootstrap-tokens.json``, ``client.token_store``): an
   unknown id, a wrong secret or an expired token → UNAUTHENTICATED, with kubeadm's
   message, which does not say which (the apiserver's log does);
2. the node name must be a DNS-1123 subdomain → else INVALID_ARGUMENT;
3. a token issued for one node (``pykube token create --node-name``) joins that node only;
4. an existing Ready Node's name is refused (PERMISSION_DENIED) unless the token was issued
   for that node: a token holder may otherwise name any node, and taking over a running
   node's name would hand it that node's Pods;
5. the CSR must ask for ``CN=system:node:<node_name>, O=system:nodes`` and nothing more
   (``client.pki.node_client_policy``; another name or group → PERMISSION_DENIED), and
   must parse (→ INVALID_ARGUMENT);
6. optionally, in the same call (all or nothing: a refused part refuses the join):
   - the node's serving certificate (Kubernetes' kubelet ``serverTLSBootstrap`` and its
     ``kubernetes.io/kubelet-serving`` signer): the same subject, subjectAltNames only DNS
     ``<node_name>`` and the IP address the join came from, the one address the apiserver
     itself knows to be the node's (``client.pki.node_serving_policy``; an approver in
     Kubernetes checks the Node's addresses, which a joining node does not have yet);
   - a client certificate for ``system:kube-proxy`` (``client.pki.kube_proxy_policy``),
     the user bootstrap RBAC binds to ``system:node-proxier``, for the node's pykube-proxy:
     a k3s agent gets its kube-proxy's certificate with the node token the same way, so no
     key is copied from the control plane.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from apimachinery.names import is_dns1123_subdomain
from apiserver import errors
from client import pki
from client.bootstrap_token import TokenError, authenticate_token
from client.token_store import TokenStore
from component_base.tls import bootstrap_server
from protos import bootstrap_pb2

log = structlog.get_logger("apiserver.bootstrap")

SERVICE = bootstrap_pb2.DESCRIPTOR.services_by_name["Bootstrap"].full_name
NODE_GROUP = "system:nodes"


def invalid_token_message(token_id: str) -> str:
    """kubeadm join's words for a token the cluster does not accept (unknown, wrong, expired)."""
    return (f'token id "{token_id}" is invalid for this cluster or it has expired. '
            f'Use "pykube token create" on the control-plane node to create a new valid token')


class JoinRefused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class JoinHandler:
    """Token + CSR → the node's client certificate."""

    signer: pki.CertKey
    tokens: TokenStore
    node_ready: Callable[[str], bool]
    clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)

    def decide(self, request: bootstrap_pb2.JoinRequest, peer_ip: str | None = None) -> bootstrap_pb2.JoinResponse:
        """The answer, or JoinRefused with the status code and message. ``peer_ip``: the address
        the call came from, the only IP a serving certificate may name."""
        node = request.node_name
        head = request.token.partition(".")[0]
        token_id = head if re.fullmatch(r"[a-z0-9]{6}", head) else "(malformed)"  # never echo junk back
        try:
            stored = self.tokens.current()
        except TokenError as err:  # a broken token file: nobody joins, and the log says why
            log.error("cannot read the bootstrap tokens", error=str(err))
            raise JoinRefused(grpc.StatusCode.UNAVAILABLE, "the apiserver cannot read its bootstrap tokens") from None
        try:
            authenticate_token({i: t.record for i, t in stored.items()}, request.token, self.clock())
        except TokenError as err:
            log.warning("join refused", node=node, reason=str(err))
            raise JoinRefused(grpc.StatusCode.UNAUTHENTICATED, invalid_token_message(token_id)) from None
        bound = stored[token_id].node_name
        problems = is_dns1123_subdomain(node)
        if problems:
            raise self._refuse(grpc.StatusCode.INVALID_ARGUMENT, f'invalid node name "{node[:253]}": '
                               f'{"; ".join(problems)}', node, token_id)
        if bound and bound != node:
            raise self._refuse(grpc.StatusCode.PERMISSION_DENIED,
                               f'bootstrap token "{token_id}" was issued for node "{bound}", not "{node}"',
                               node, token_id)
        if not bound and self.node_ready(node):
            raise self._refuse(grpc.StatusCode.PERMISSION_DENIED,
                               f'node "{node}" already exists and is Ready: a joining node may not take a running '
                               f'node\'s name (to re-join that node, create a token for it: '
                               f'pykube token create --node-name {node})', node, token_id)
        cert = self._sign(request.csr_pem, pki.node_client_policy(node), pki.CLIENT,
                          f'certificate signing request for node "{node}"', node, token_id)
        reply = bootstrap_pb2.JoinResponse(certificate_pem=pki.cert_pem(cert), ca_pem=self.signer.cert_pem())
        if request.serving_csr_pem:
            serving = self._sign(request.serving_csr_pem, pki.node_serving_policy(node, _ips(peer_ip), [node]),
                                 pki.SERVER, f'serving certificate signing request for node "{node}"', node, token_id)
            reply.serving_certificate_pem = pki.cert_pem(serving)
        if request.proxy_csr_pem:
            proxy = self._sign(request.proxy_csr_pem, pki.kube_proxy_policy(), pki.CLIENT,
                               f'kube-proxy certificate signing request from node "{node}"', node, token_id)
            reply.proxy_certificate_pem = pki.cert_pem(proxy)
        log.info("node joined", node=node, token_id=token_id, serial=format(cert.serial_number, "x"),
                 not_after=cert.not_valid_after_utc.isoformat(), serving=bool(request.serving_csr_pem),
                 proxy=bool(request.proxy_csr_pem))
        return reply

    def _sign(self, csr_pem: bytes, policy: pki.CSRPolicy, usage: str, what: str, node: str,
              token_id: str):
        try:
            csr = pki.load_csr(csr_pem)
        except pki.CSRRefused as err:
            raise self._refuse(grpc.StatusCode.INVALID_ARGUMENT, str(err), node, token_id) from None
        try:
            return pki.sign_csr(self.signer, csr, policy, usage=usage, now=self.clock())
        except pki.CSRRefused as err:
            raise self._refuse(grpc.StatusCode.PERMISSION_DENIED, f"{what} refused: {err}", node, token_id) from None

    @staticmethod
    def _refuse(code: grpc.StatusCode, message: str, node: str, token_id: str) -> JoinRefused:
        log.warning("join refused", node=node[:253], token_id=token_id, reason=message)
        return JoinRefused(code, message)

    async def join(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        # Raw bytes in: a request that does not parse gets INVALID_ARGUMENT, not gRPC's INTERNAL.
        try:
            message = bootstrap_pb2.JoinRequest.FromString(request)
        except Exception as err:  # noqa: BLE001  (protobuf's DecodeError and friends)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request could not be decoded: {err}")
        try:
            return self.decide(message, peer_ip(context.peer())).SerializeToString()
        except JoinRefused as refused:
            await context.abort(refused.code, str(refused))
        raise AssertionError("unreachable")

    def rpc_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE, {"Join": grpc.unary_unary_rpc_method_handler(self.join)})


def peer_ip(peer: str) -> str | None:
    """The IP address in gRPC's peer string (``ipv4:10.0.0.5:4711``, ``ipv6:[::1]:4711``), an
    IPv4-mapped IPv6 address as IPv4; None for anything else (a Unix socket)."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host = rest.rpartition(":")[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _ips(ip: str | None) -> list[str]:
    return [ip] if ip else []


# --- the listener, from the apiserver's flags ------------------------------------------------

def _public(key_or_cert) -> bytes:
    public = key_or_cert.public_key() if hasattr(key_or_cert, "public_key") else key_or_cert
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signer(cert_file: str, key_file: str, tls_cert_file: str, client_ca_file: str) -> pki.CertKey:
    """The cluster-signing CA, checked against the other TLS files; ValueError says what is wrong."""
    if not cert_file or not key_file:
        raise ValueError("--bootstrap-listen needs --cluster-signing-cert-file and --cluster-signing-key-file")
    signer = pki.CertKey(pki.load_cert(cert_file), pki.load_key(key_file))
    if _public(signer.cert) != _public(signer.key):
        raise ValueError(f"--cluster-signing-key-file {key_file} is not the key of {cert_file}")
    if not pki.issued_by(pki.load_cert(tls_cert_file), signer.cert):
        raise ValueError(f"--tls-cert-file {tls_cert_file} is not signed by --cluster-signing-cert-file {cert_file}: "
                         "a joining node trusts the API by the CA it joined with")
    try:
        accepted = x509.load_pem_x509_certificates(Path(client_ca_file).read_bytes())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read --client-ca-file {client_ca_file}: {err}") from None
    if signer.cert not in accepted:
        raise ValueError(f"--client-ca-file {client_ca_file} does not hold --cluster-signing-cert-file {cert_file}: "
                         "the certificates it signs would not be accepted")
    return signer


def node_ready_in(registry) -> Callable[[str], bool]:
    """Whether the registry holds a Node of that name whose Ready condition is True."""
    def ready(name: str) -> bool:
        try:
            node = registry.get("Node", "", name)
        except (errors.NotFound, errors.BadRequest, errors.Invalid):
            return False
        return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    return ready


def start_listener(address: str, handler: JoinHandler, tls_cert_file: str,
                   tls_key_file: str) -> tuple[grpc.aio.Server, int]:
    """The bootstrap server (not yet started): presents the serving certificate, then the CA."""
    return bootstrap_server(address, handler.signer.cert_pem(), Path(tls_cert_file).read_bytes(),
                            Path(tls_key_file).read_bytes(), [handler.rpc_handler()])
