"""Who may use a kubelet's own service (logs, exec, port-forward), and over what.

Kubernetes' kubelet serves its API over TLS (``--tls-cert-file``, ``--tls-private-key-file``),
authenticates clients by certificates from ``--client-ca-file``, and authorizes each request
by asking the apiserver (``--authorization-mode=Webhook``: a SubjectAccessReview for
``nodes/proxy``, which kubeadm grants the apiserver's kubelet-client user through the
``system:kubelet-api-admin`` ClusterRole). pykube takes the same three flags and the same
handshake rules (component_base.tls.server_credentials: no certificate, a certificate from
another CA, or one outside its validity is refused before any handler runs), but decides
locally, without a call back to the apiserver:

* allowed are the users in ``authorized_users`` (default: ``kube-apiserver-kubelet-client``,
  the name kubeadm gives the apiserver's client certificate for kubelets) and the members of
  ``authorized_groups`` (default: ``system:masters``, who may do anything anywhere, as the
  apiserver's RBAC says too);
* everyone else, a kubelet of another node (``system:node:n2``) included, is refused with
  PERMISSION_DENIED and the kubelet's own wording, ``Forbidden (user=system:node:n2,
  verb=get, resource=nodes, subresource=proxy)``; a certificate that names no user (or has
  expired while its connection stayed open) is UNAUTHENTICATED ``Unauthorized``.

The verb is the one Kubernetes' kubelet derives from the HTTP method of the same request:
``get`` for containerLogs, ``create`` for exec and portForward (POST); all three are the
``proxy`` subresource of ``nodes``.

Without the three flags the service stays plaintext and unauthenticated, as before (a
kubelet listening on loopback in a local cluster).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import grpc

from apimachinery.identity import MASTERS_GROUP, UNAUTHENTICATED_GROUP, UserInfo
from component_base.flags import add_config_flag
from component_base.tls import peer_identity, server_credentials_from_files, serving_tls

# The user kubeadm's apiserver-kubelet-client certificate names (CN); pykube up issues the
# apiserver's client certificate for kubelets with this CN and O=system:masters.
APISERVER_KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
# The verb of each pykube.v1.Kubelet method, as the kubelet derives it from the HTTP method.
METHOD_VERBS = {"ContainerLogs": "get", "Exec": "create", "PortForward": "create"}
RESOURCE, SUBRESOURCE = "nodes", "proxy"


@dataclass
class KubeletServing:
    """The kubelet's serving settings (Kubernetes' flag names); all three files or none."""

    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    authorized_users: tuple[str, ...] = (APISERVER_KUBELET_CLIENT_USER,)
    authorized_groups: tuple[str, ...] = (MASTERS_GROUP,)

    @property
    def tls(self) -> bool:
        return serving_tls(self.tls_cert_file, self.tls_private_key_file, self.client_ca_file)

    def credentials(self) -> grpc.ServerCredentials | None:
        """Mutual TLS server credentials, or None for plaintext; ValueError for unreadable files."""
        if not self.tls:
            return None
        return server_credentials_from_files(self.client_ca_file, self.tls_cert_file, self.tls_private_key_file)

    def authorizer(self) -> KubeletAuthorizer:
        return KubeletAuthorizer(frozenset(self.authorized_users), frozenset(self.authorized_groups))


@dataclass(frozen=True)
class KubeletAuthorizer:
    """Allows the listed users and the members of the listed groups; refuses everyone else."""

    users: frozenset[str]
    groups: frozenset[str]

    def decide(self, user: UserInfo, method: str) -> tuple[grpc.StatusCode, str] | None:
        """None when ``user`` may call ``method`` (a Kubelet method's short name), else the refusal."""
        if UNAUTHENTICATED_GROUP in user.groups:
            return grpc.StatusCode.UNAUTHENTICATED, "Unauthorized"
        if user.name in self.users or not self.groups.isdisjoint(user.groups):
            return None
        verb = METHOD_VERBS.get(method, "create")
        return (grpc.StatusCode.PERMISSION_DENIED,
                f"Forbidden (user={user.name}, verb={verb}, resource={RESOURCE}, subresource={SUBRESOURCE})")


class AuthorizingInterceptor(grpc.aio.ServerInterceptor):
    """Checks the caller's certificate identity before every method of the service runs.

    A method handler's behaviour is wrapped (gRPC's interceptor sees no ServicerContext,
    so the identity can only be read once the call has one)."""

    def __init__(self, authorizer: KubeletAuthorizer, identify: Callable[[Any], UserInfo] = peer_identity) -> None:
        self.authorizer = authorizer
        self.identify = identify

    async def _check(self, method: str, context: grpc.aio.ServicerContext) -> None:
        refusal = self.authorizer.decide(self.identify(context), method)
        if refusal is not None:
            await context.abort(*refusal)

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        check = self._check
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                await check(method, context)
                return await inner_uu(request, context)
            return handler._replace(unary_unary=unary_unary)
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> Any:
                await check(method, context)
                async for message in inner_us(request, context):
                    yield message
            return handler._replace(unary_stream=unary_stream)
        if handler.stream_stream is not None:
            inner_ss = handler.stream_stream

            async def stream_stream(requests: Any, context: Any) -> Any:
                await check(method, context)
                async for message in inner_ss(requests, context):
                    yield message
            return handler._replace(stream_stream=stream_stream)
        inner_su = handler.stream_unary

        async def stream_unary(requests: Any, context: Any) -> Any:
            await check(method, context)
            return await inner_su(requests, context)
        return handler._replace(stream_unary=stream_unary)


def add_serving_flags(parser: argparse.ArgumentParser) -> None:
    """The kubelet's --tls-cert-file, --tls-private-key-file, --client-ca-file."""
    add_config_flag(parser, "--tls-cert-file", KubeletServing, "tls_cert_file", metavar="PATH",
                    help="the kubelet's serving certificate (PEM; SANs: the addresses the apiserver dials); with "
                         "--tls-private-key-file and --client-ca-file its service is mutual TLS only")
    add_config_flag(parser, "--tls-private-key-file", KubeletServing, "tls_private_key_file", metavar="PATH",
                    help="the serving certificate's private key (PEM)")
    add_config_flag(parser, "--client-ca-file", KubeletServing, "client_ca_file", metavar="PATH",
                    help=f"the CA (PEM) whose client certificates are accepted; only the user "
                         f"{APISERVER_KUBELET_CLIENT_USER} and group {MASTERS_GROUP} may call")


def serving_from_flags(args: argparse.Namespace) -> KubeletServing:
    """The flags add_serving_flags defined; ValueError if only some files are given."""
    serving = KubeletServing(tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
                             client_ca_file=args.client_ca_file)
    _ = serving.tls
    return serving
