"""A gRPC connection to the pykube apiserver, shared by every component.

    with connect("127.0.0.1:6443") as conn:
        pods = conn.stub.List(api_pb2.ListRequest(kind="Pod"))

Two rules keep a caller from hanging on a server that is not there:

* unary calls fail fast (gRPC's default, ``wait_for_ready=False``): a refused
  connection or an unknown host is an UNAVAILABLE error at once;
* every unary call carries a deadline (``call_timeout``) unless the caller passes
  its own, so a host that silently drops packets ends in DEADLINE_EXCEEDED rather
  than a hang. Streams (Watch) get no default deadline: they are meant to stay open.

Two ways to find out about the server before the first real call:

* ``conn.dial(timeout)`` connects now and gives up after ``timeout`` seconds, for a
  CLI that should say "cannot reach" within seconds (pykubectl);
* ``conn.wait_until_ready(timeout)`` waits until the server is up, for a component
  that may start before the apiserver (scheduler, kubelet).

With ``tls=TLSConfig(...)`` the channel is mutual TLS: the server must present a
certificate signed by ``ca_pem`` whose SANs match the host dialled (the IP SAN when an
IP is dialled), or ``server_name`` when given (kubeconfig's ``tls-server-name``, gRPC's
``grpc.ssl_target_name_override``); the client shows ``cert_pem``/``key_pem``. Without
``tls`` (and without ``credentials``) the channel is plaintext, as before.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, NamedTuple

import grpc

from apimachinery.limits import MAX_REQUEST_BYTES
from protos import api_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:6443"
MAX_MESSAGE_BYTES = MAX_REQUEST_BYTES  # what the apiserver accepts: more is refused unsent
DEFAULT_CALL_TIMEOUT = 10.0

_DECIDED_STATES = frozenset({
    grpc.ChannelConnectivity.READY,
    grpc.ChannelConnectivity.TRANSIENT_FAILURE,
    grpc.ChannelConnectivity.SHUTDOWN,
})
UNREACHABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class ServerUnreachable(ConnectionError):
    """The apiserver did not answer; ``reason`` is short and human ("connection refused")."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot reach {address}: {reason}")
        self.address = address
        self.reason = reason


def channel_options(max_message_bytes: int = MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """Requests are capped at what the server accepts (3 MiB: more is refused unsent); replies are
    not, since a List of many thousands of Pods is legitimately large."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", -1),
    ]


@dataclass(frozen=True)
class TLSConfig:
    """What a client needs for mutual TLS: the CA it trusts, its certificate and key (PEM)."""

    ca_pem: bytes
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    server_name: str | None = None  # verify the server as this name instead of the host dialled

    def __repr__(self) -> str:  # the key never reaches a log line
        return f"TLSConfig(ca_pem=<{len(self.ca_pem)} bytes>, cert_pem=<…>, key_pem=<redacted>, " \
               f"server_name={self.server_name!r})"

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca_pem, private_key=self.key_pem,
                                            certificate_chain=self.cert_pem)

    def channel_options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _ClientCallDetails(_CallDetails, grpc.ClientCallDetails):
    """grpc.ClientCallDetails is abstract; this is the usual concrete stand-in."""


class _DefaultDeadline(grpc.UnaryUnaryClientInterceptor):
    """Give every unary call a deadline unless the caller chose one."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        if client_call_details.timeout is None:
            client_call_details = _ClientCallDetails(
                method=client_call_details.method,
                timeout=self._timeout,
                metadata=client_call_details.metadata,
                credentials=client_call_details.credentials,
                wait_for_ready=client_call_details.wait_for_ready,
                compression=client_call_details.compression,
            )
        return continuation(client_call_details, request)


class Connection:
    """A channel to one apiserver and the API stub on it."""

    def __init__(self, address: str, raw_channel: grpc.Channel, call_timeout: float | None) -> None:
        self.address = address
        self._raw_channel = raw_channel
        if call_timeout:
            self.channel = grpc.intercept_channel(raw_channel, _DefaultDeadline(call_timeout))
        else:
            self.channel = raw_channel  # no default deadline: calls wait as long as the server takes
        self.stub = api_pb2_grpc.APIStub(self.channel)

    def dial(self, timeout: float) -> None:
        """Connect now, so a server that never answers is found out within ``timeout`` seconds.

        Returns as soon as the attempt is decided: connected, or failed at once (refused,
        unknown host), in which case the next fail-fast call reports the precise reason.
        Raises ServerUnreachable when the attempt is still pending after ``timeout``.
        """
        decided = threading.Event()

        def on_change(state: grpc.ChannelConnectivity) -> None:
            if state in _DECIDED_STATES:
                decided.set()

        self._raw_channel.subscribe(on_change, try_to_connect=True)
        try:
            if not decided.wait(timeout):
                raise ServerUnreachable(self.address, f"no answer within {timeout:g}s")
        finally:
            self._raw_channel.unsubscribe(on_change)

    def wait_until_ready(self, timeout: float) -> None:
        """Block until the channel is connected, or raise ServerUnreachable after timeout seconds."""
        try:
            grpc.channel_ready_future(self._raw_channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServerUnreachable(self.address, f"not ready after {timeout:g}s") from None

    def close(self) -> None:
        self._raw_channel.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def connect(
    address: str = DEFAULT_ADDRESS,
    *,
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    credentials: grpc.ChannelCredentials | None = None,
    tls: TLSConfig | None = None,
) -> Connection:
    """Open a channel to HOST:PORT. Nothing is dialled until the first call (or wait_until_ready).

    ``call_timeout`` is the deadline (seconds) of unary calls that set none; None or 0: no default.
    ``tls``: mutual TLS as above (``credentials``, lower level, is used when ``tls`` is not given).
    """
    options: list[tuple[str, Any]] = list(channel_options(max_message_bytes))
    if tls is not None:
        credentials = tls.channel_credentials()
        options += tls.channel_options()
    if credentials is None:
        raw = grpc.insecure_channel(address, options=options)
    else:
        raw = grpc.secure_channel(address, credentials, options=options)
    return Connection(address, raw, call_timeout)


def aio_channel(address: str, options: list[tuple[str, Any]], tls: TLSConfig | None = None) -> grpc.aio.Channel:
    """An asyncio channel, plaintext or (with ``tls``) mutual TLS, for the async clients."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, tls.channel_credentials(), options=[*options, *tls.channel_options()])


def is_unreachable(err: grpc.RpcError) -> bool:
    """True when the error means "no server answered" rather than "the server said no"."""
    code = err.code() if hasattr(err, "code") else None
    return code in UNREACHABLE_CODES


_LAST_CLAUSE = re.compile(r"[^:]*$")


def short_reason(err: grpc.RpcError) -> str:
    """A few words for why a call did not reach the server: "connection refused", "timed out"."""
    code = err.code() if hasattr(err, "code") else None
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "timed out waiting for an answer"
    details = (err.details() if hasattr(err, "details") else None) or ""
    clause = _LAST_CLAUSE.search(details.strip().rstrip("]"))
    reason = clause.group(0).strip() if clause else ""
    if not reason:
        return code.name.lower().replace("_", " ") if code is not None else "unknown error"
    return reason[0].lower() + reason[1:]
