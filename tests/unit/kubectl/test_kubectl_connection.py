"""client.connection: fail fast when nobody answers, default deadlines, short reasons.

Uses a tiny in-process gRPC servicer (not the apiserver) and plain sockets."""

from __future__ import annotations

import socket
import threading
import time
from concurrent import futures
from typing import Iterator

import grpc
import pytest
from kubectl_testlib import FakeRpcError

from client.connection import (
    MAX_MESSAGE_BYTES,
    ServerUnreachable,
    channel_options,
    connect,
    is_unreachable,
    short_reason,
)
from protos import api_pb2, api_pb2_grpc


class SlowGet(api_pb2_grpc.APIServicer):
    def Get(self, request: api_pb2.GetRequest, context: grpc.ServicerContext) -> api_pb2.Object:
        time.sleep(float(request.name or 0))
        return api_pb2.Object()


@pytest.fixture
def server_address() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api_pb2_grpc.add_APIServicer_to_server(SlowGet(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A port that accepts TCP connections and then never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def closed_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_unary_calls_get_the_default_deadline(server_address: str) -> None:
    with connect(server_address, call_timeout=0.2) as conn:
        assert conn.stub.Get(api_pb2.GetRequest(kind="Pod", name="0")) == api_pb2.Object()
        with pytest.raises(grpc.RpcError) as caught:
            conn.stub.Get(api_pb2.GetRequest(kind="Pod", name="1"))
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # A caller's own deadline wins over the default.
        assert conn.stub.Get(api_pb2.GetRequest(kind="Pod", name="0.4"), timeout=5) == api_pb2.Object()


def test_dial_succeeds_against_a_server(server_address: str) -> None:
    with connect(server_address) as conn:
        conn.dial(2.0)
        assert conn.stub.Get(api_pb2.GetRequest(kind="Pod")) == api_pb2.Object()


def test_wait_until_ready_succeeds_against_a_server(server_address: str) -> None:
    with connect(server_address) as conn:
        conn.wait_until_ready(2.0)


def test_refused_connection_fails_at_once_with_a_short_reason() -> None:
    with connect(closed_address()) as conn:
        started = time.monotonic()
        conn.dial(5.0)  # decided at once: the next call says why
        with pytest.raises(grpc.RpcError) as caught:
            conn.stub.Get(api_pb2.GetRequest(kind="Pod", name="x"))
        assert time.monotonic() - started < 3
    assert is_unreachable(caught.value)
    assert short_reason(caught.value) == "connection refused"


def test_dial_gives_up_on_a_silent_server(silent_address: str) -> None:
    with connect(silent_address) as conn:
        started = time.monotonic()
        with pytest.raises(ServerUnreachable, match=r"no answer within 0\.3s"):
            conn.dial(0.3)
        assert time.monotonic() - started < 2


def test_wait_until_ready_times_out_when_nobody_listens() -> None:
    with connect(closed_address()) as conn, pytest.raises(ServerUnreachable, match="not ready after 0.2s"):
        conn.wait_until_ready(0.2)


def test_message_size_options() -> None:
    assert MAX_MESSAGE_BYTES == 3 * 1024 * 1024  # Kubernetes' request limit: more is refused unsent
    assert dict(channel_options()) == {
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_receive_message_length": -1,  # large Lists are fine
    }


@pytest.mark.parametrize(("code", "details", "reason"), [
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
                                  "Failed to connect to remote host: Connection refused", "connection refused"),
    (grpc.StatusCode.UNAVAILABLE, "errors resolving nohost.invalid:6443: [field:hostname lookup error:address "
                                  "lookup failed for nohost.invalid:6443: Domain name not found]", "domain name not found"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", "timed out waiting for an answer"),
    (grpc.StatusCode.UNAVAILABLE, "", "unavailable"),
])
def test_short_reason(code: grpc.StatusCode, details: str, reason: str) -> None:
    assert short_reason(FakeRpcError(code, details)) == reason


def test_only_unavailable_and_deadline_mean_unreachable() -> None:
    assert is_unreachable(FakeRpcError(grpc.StatusCode.UNAVAILABLE, ""))
    assert is_unreachable(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, ""))
    assert not is_unreachable(FakeRpcError(grpc.StatusCode.NOT_FOUND, ""))
