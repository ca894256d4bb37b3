"""API.Logs: find the Pod's node and stream the container's output from its kubelet.

``pykubectl logs`` talks only to the apiserver, as kubectl does: the apiserver checks
the request against the Pod (does it exist, which container, is it bound), looks up the
Node it is bound to, dials that node's kubelet (pykube.v1.Kubelet.ContainerLogs, at the
address and port the kubelet publishes in its Node status) and relays the chunks.

Which of the Node's addresses: the first of ``--kubelet-preferred-address-types`` the Node
has, in Kubernetes' default order Hostname, InternalDNS, InternalIP, ExternalDNS, ExternalIP.
A name that does not resolve on the apiserver's machine is passed over for the next type (the
VM lab's workers publish their hostname, which the master cannot resolve, and are reached by
their InternalIP). A local cluster's kubelets listen on loopback while their InternalIP is the
node's address on the cluster network, out of the root namespace's reach: they publish the
Hostname ``localhost`` (``--hostname-override``), so the control plane stays on loopback.

The kubelet's own answers (waiting to start, no previous container...) pass through
unchanged, code and message, so the user reads the kubelet's words. Failing to *reach*
the kubelet is different: relaying UNAVAILABLE would make pykubectl say "cannot reach
the apiserver", which is false, so that becomes INTERNAL naming the node and address
(Kubernetes answers 500 "dial tcp ...: connection refused" there too).

Two faces relay the same calls: the gRPC API (API.Logs, API.Exec, API.PortForward) and the
Kubernetes HTTP API (``/log`` and ``/exec``: apiserver/rest/streams.py). So the proxy speaks
neither: ``open_logs`` (and ExecProxy.open) check the request and open the kubelet call, a
KubeletCall hands out its answers and reports every failure as an APIError; each face turns
those into its own status (``relay_to_grpc`` here: an abort; Status JSON over HTTP).

Over mutual TLS when the apiserver is given its kubelet-client credentials (Kubernetes'
``--kubelet-client-certificate``, ``--kubelet-client-key``, ``--kubelet-certificate-authority``):
it presents its client certificate (CN ``kube-apiserver-kubelet-client``, the user kubelets
allow: see kubelet/server_tls.py) and verifies the kubelet's serving certificate against the CA
*and* the host it dialled (an IP address against the certificate's IP SANs, a name such as
``localhost`` against its DNS SANs). A kubelet whose certificate does not match is not
reached: INTERNAL, naming the node, as any other failure to connect. gRPC cannot skip the
server check, so unlike Kubernetes the CA is required with the client certificate.

One channel per kubelet address is kept and reused (many ``logs -f`` at once share
one HTTP/2 connection per node). Channels are never closed while the server runs, so a
failure in one call cannot break another's stream; a short reconnect back-off, and a
fresh attempt when a request finds the channel failed, make a restarted kubelet
reachable again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from typing import Any, AsyncIterator, Callable

import grpc
import structlog

from apiserver import errors
from apiserver.registry.registry import Registry
from client.connection import TLSConfig, aio_channel, short_reason
from protos import core_pb2, kubelet_pb2, kubelet_pb2_grpc

log = structlog.get_logger("apiserver.logs")

DEFAULT_DIAL_TIMEOUT = 10.0  # seconds to connect to a kubelet that neither answers nor refuses
# Kubernetes' default --kubelet-preferred-address-types.
ADDRESS_PREFERENCE = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
NAME_TYPES = frozenset({"Hostname", "InternalDNS", "ExternalDNS"})
_DECIDED = frozenset({grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                      grpc.ChannelConnectivity.SHUTDOWN})
KUBELET_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    # A kubelet that restarts should be reachable again within seconds, not after
    # gRPC's default back-off of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def kubelet_client_tls(certificate_file: str, key_file: str, ca_file: str) -> TLSConfig | None:
    """The apiserver's credentials for dialling kubelets, from its three flags: all or none
    (None: plaintext); ValueError when only some are given or a file cannot be read."""
    files = (certificate_file, key_file, ca_file)
    if not any(files):
        return None
    if not all(files):
        raise ValueError("--kubelet-client-certificate, --kubelet-client-key and "
                         "--kubelet-certificate-authority go together")
    return TLSConfig(ca_pem=_read(ca_file, "--kubelet-certificate-authority"),
                     cert_pem=_read(certificate_file, "--kubelet-client-certificate"),
                     key_pem=_read(key_file, "--kubelet-client-key"))


def _read(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as err:
        raise ValueError(f"cannot read {flag} {path}: {err.strerror}") from None


class KubeletUnreachable(errors.APIError):
    """The node's kubelet did not answer (INTERNAL: the apiserver itself is fine)."""

    code = grpc.StatusCode.INTERNAL


# ------------------------------------------------------------------ pure choices


def choose_container(pod: core_pb2.Pod, requested: str) -> str:
    """The container whose logs to read, with Kubernetes' messages for a bad choice."""
    names = [c.name for c in pod.spec.containers]
    name = pod.metadata.name
    if not requested:
        if len(names) == 1:
            return names[0]
        raise errors.BadRequest(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
    if requested not in names:
        raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
    return requested


@functools.lru_cache(maxsize=4096)
def resolves(name: str) -> bool:
    """Does ``name`` resolve here (an IP address always does)? Remembered: node names stay."""
    try:
        socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return True


def parse_address_types(text: str) -> tuple[str, ...]:
    """``--kubelet-preferred-address-types``: a comma-separated list of NodeAddress types."""
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in types if t not in ADDRESS_PREFERENCE]
    if unknown or not types:
        raise ValueError(f"invalid --kubelet-preferred-address-types {text!r}: "
                         f"each must be one of {', '.join(ADDRESS_PREFERENCE)}")
    return types


def kubelet_address(node: core_pb2.Node, preference: tuple[str, ...] = ADDRESS_PREFERENCE,
                    resolvable: Callable[[str], bool] = resolves) -> str:
    """HOST:PORT of the node's kubelet: its first address of the preferred types (a name only
    if it resolves) and the port in ``status.daemonEndpoints.kubeletEndpoint.Port``."""
    by_type: dict[str, str] = {}
    for address in node.status.addresses:
        if address.address:
            by_type.setdefault(address.type, address.address)
    host = next((by_type[t] for t in preference
                 if t in by_type and (t not in NAME_TYPES or resolvable(by_type[t]))), "")
    if not host:
        known = " ".join(f"{a.type}={a.address}" for a in node.status.addresses)
        raise KubeletUnreachable(f'node "{node.metadata.name}" publishes no usable address of the types '
                                 f"{','.join(preference)}; known addresses: [{known}]")
    port = node.status.daemon_endpoints.kubelet_endpoint.port
    if port <= 0:
        raise KubeletUnreachable(f'node "{node.metadata.name}" publishes no kubelet port '
                                 "(status.daemonEndpoints.kubeletEndpoint.Port)")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    return f"{host}:{port}"


def bound_node(registry: Registry, pod: core_pb2.Pod,
               address_types: tuple[str, ...] = ADDRESS_PREFERENCE) -> tuple[str, str]:
    """(node name, kubelet address) of the node the Pod is bound to, or an APIError."""
    if not pod.spec.node_name:
        raise errors.BadRequest(f"pod {pod.metadata.name} does not have a host assigned")
    node: core_pb2.Node = registry.get("Node", "", pod.spec.node_name)  # type: ignore[assignment]
    return node.metadata.name, kubelet_address(node, address_types)


def dial_reason(err: grpc.RpcError, address: str) -> str:
    """Why a kubelet was not reached: a failed certificate check in Go's x509 words (what
    Kubernetes' apiserver reports there), else gRPC's last clause ("connection refused")."""
    details = err.details() or ""
    if "CERTIFICATE_VERIFY_FAILED" in details:
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if "Hostname Verification" in details:
        host = address.rsplit(":", 1)[0].strip("[]")
        return f"tls: failed to verify certificate: x509: certificate is not valid for {host}"
    return short_reason(err)


def check_options(request: kubelet_pb2.LogsRequest) -> None:
    if request.HasField("tail_lines") and request.tail_lines < 0:
        raise errors.Invalid(f'PodLogOptions "{request.pod}" is invalid: tailLines: Invalid value: '
                             f"{request.tail_lines}: must be greater than or equal to 0")


# ---------------------------------------------------------- one kubelet call


class KubeletError(errors.APIError):
    """The kubelet's own answer (waiting to start, no previous container, container not
    found...): its code and message, passed through unchanged. What it stands for in
    Kubernetes' HTTP terms comes from the class (``kubelet_error``)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class KubeletBadRequest(KubeletError, errors.BadRequest):
    """The kubelet's refusals (FAILED_PRECONDITION, INVALID_ARGUMENT): Kubernetes' 400."""


class KubeletNotFound(KubeletError, errors.NotFound):
    """``container not found ("c")``, a container gone meanwhile: Kubernetes' 404."""


def kubelet_error(code: grpc.StatusCode, message: str) -> KubeletError:
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
        return KubeletBadRequest(code, message)
    if code == grpc.StatusCode.NOT_FOUND:
        return KubeletNotFound(code, message)
    return KubeletError(code, message)


class KubeletCall:
    """One call to a node's kubelet (logs, exec, port-forward), whoever relays it.

    Its answers one by one (``read``, or ``async for``); the call's failure as an APIError: the
    kubelet's own answers as KubeletError, failing to reach it (UNAVAILABLE: the kubelet never
    answers that itself, it is the connection) as KubeletUnreachable naming the node.
    ``cancel()`` ends the kubelet's side (a ``logs -f`` must not leave a follower behind)."""

    def __init__(self, call: Any, node_name: str, address: str) -> None:
        self.call = call
        self.node_name = node_name
        self.address = address
        self.cancelled = False

    async def read(self) -> Any | None:
        """The next answer; None when the kubelet's stream ended well, or we cancelled it."""
        try:
            message = await self.call.read()
        except grpc.aio.AioRpcError as err:
            raise self.error(err) from None
        except asyncio.CancelledError:
            # grpc.aio reports its call cancelled (by ``cancel()``) as CancelledError; that is
            # the end of this stream, not the cancellation of the task reading it.
            task = asyncio.current_task()
            if self.cancelled and not (task is not None and task.cancelling()):
                return None
            raise
        return None if message is grpc.aio.EOF else message

    async def __aiter__(self) -> AsyncIterator[Any]:
        while (message := await self.read()) is not None:
            yield message

    async def write(self, message: Any) -> bool:
        """Send one message (bidirectional calls); False when the call is already over (its
        reader learns why)."""
        try:
            await self.call.write(message)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return False
        return True

    async def done_writing(self) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await self.call.done_writing()

    def cancel(self) -> None:
        self.cancelled = True
        self.call.cancel()

    def error(self, err: grpc.aio.AioRpcError) -> errors.APIError:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            reason = dial_reason(err, self.address)
            log.warning("kubelet unreachable", node=self.node_name, address=self.address, reason=reason)
            return KubeletUnreachable(f'cannot reach the kubelet of node "{self.node_name}" '
                                      f"at {self.address}: {reason}")
        return kubelet_error(err.code(), err.details() or "")


# ----------------------------------------------------------------------- proxy


class LogsProxy:
    """Resolves a LogsRequest against the registry and relays the kubelet's stream.

    Lives on the apiserver's event loop (its channels are grpc.aio channels bound to it);
    ``close()`` when the server stops."""

    def __init__(self, registry: Registry, dial_timeout: float = DEFAULT_DIAL_TIMEOUT,
                 address_types: tuple[str, ...] = ADDRESS_PREFERENCE, tls: TLSConfig | None = None) -> None:
        self.registry = registry
        self.tls = tls  # None: kubelets are dialled in plaintext
        self.dial_timeout = dial_timeout
        self.address_types = address_types
        self._channels: dict[str, grpc.aio.Channel] = {}

    def resolve(self, request: kubelet_pb2.LogsRequest) -> tuple[str, str, kubelet_pb2.LogsRequest]:
        """(node name, kubelet address, the request to send it), or an APIError.

        Runs without awaiting, like every registry read (see registry.py)."""
        pod: core_pb2.Pod = self.registry.get("Pod", request.namespace, request.pod)  # type: ignore[assignment]
        check_options(request)
        container = choose_container(pod, request.container)
        node_name, address = bound_node(self.registry, pod, self.address_types)
        upstream = kubelet_pb2.LogsRequest()
        upstream.CopyFrom(request)
        upstream.namespace = pod.metadata.namespace
        upstream.container = container
        return node_name, address, upstream

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = aio_channel(address, KUBELET_CHANNEL_OPTIONS, self.tls)
            self._channels[address] = channel
        return channel

    async def dial(self, channel: grpc.aio.Channel) -> bool:
        """Connect (if not yet) and wait until a connection attempt is decided; False
        after dial_timeout.

        Decided includes a failure: the fail-fast call that follows then reports the
        precise reason ("connection refused"). Without this, a host that drops packets
        would hold the call for gRPC's 20s connect timeout, or forever with -f. A channel
        already failed (an earlier request's attempt) is given one new attempt first,
        so a kubelet that is back is not reported down from stale state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dial_timeout
        state = channel.get_state(try_to_connect=True)
        fresh = state != grpc.ChannelConnectivity.TRANSIENT_FAILURE
        while not (fresh and state in _DECIDED):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                return False
            fresh = True
            state = channel.get_state(try_to_connect=True)
        return True

    async def open_logs(self, request: kubelet_pb2.LogsRequest, timeout: float | None = None) -> KubeletCall:
        """ContainerLogs opened on the Pod's kubelet, or an APIError (the Pod's checks, or the
        kubelet not reached). Face-neutral: the gRPC face (``stream``) and the HTTP face
        (apiserver/rest/streams.py) both relay what it answers."""
        node_name, address, upstream = self.resolve(request)
        channel = await self.open_channel(node_name, address)
        call = kubelet_pb2_grpc.KubeletStub(channel).ContainerLogs(upstream, timeout=timeout)
        return KubeletCall(call, node_name, address)

    async def stream(self, request: kubelet_pb2.LogsRequest,
                     context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.LogChunk]:
        """The body of API.Logs: abort with the right status, or relay every chunk."""
        try:
            # The client's deadline, if any, bounds the kubelet call too.
            call = await self.open_logs(request, timeout=context.time_remaining())
        except errors.APIError as err:
            await context.abort(err.code, err.message)
        async for chunk in relay_to_grpc(call, context):
            yield chunk

    async def open_channel(self, node_name: str, address: str) -> grpc.aio.Channel:
        """The channel to a node's kubelet, connected; else KubeletUnreachable naming the node."""
        channel = self.channel(address)
        if not await self.dial(channel):
            log.warning("kubelet unreachable", node=node_name, address=address, reason="dial timeout")
            raise KubeletUnreachable(f'cannot reach the kubelet of node "{node_name}" at '
                                     f"{address}: no answer within {self.dial_timeout:g}s")
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


async def relay_to_grpc(call: KubeletCall, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """The gRPC face's relay: every answer of a kubelet call, then its status (an abort with
    the APIError's code and message when it failed)."""
    # However this RPC ends (even cancelled while blocked sending a message, where no
    # code of ours runs), the kubelet's stream ends with it.
    context.add_done_callback(lambda _: call.cancel())
    try:
        async for message in call:
            yield message
    except errors.APIError as err:
        await context.abort(err.code, err.message)
    finally:
        # The client went away (our task is cancelled), or we are done: either way
        # the kubelet's stream must stop too, or a `logs -f` would leak a follower.
        call.cancel()
