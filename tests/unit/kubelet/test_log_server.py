"""The kubelet's log service: which container a request means, and the stream itself.

The choice (``pick_container``) is a pure function over the runtime's container list;
the service is exercised over a real grpc.aio server on 127.0.0.1 with a stand-in
runtime that serves fixed output (no Podman)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
import pytest

from kubelet.log_server import (MAX_CHUNK_BYTES, LogsError, find_container_in, pick_container,
                                start_log_server)
from kubelet.runtime import EXITED, RUNNING, ContainerRuntimeError, ContainerStatus
from protos import kubelet_pb2, kubelet_pb2_grpc

TIMEOUT = 10.0


def status(id: str, name: str = "main", attempt: int = 0, pod: str = "web", namespace: str = "default",
           state: str = RUNNING) -> ContainerStatus:
    return ContainerStatus(id=id, pod_uid=f"uid-{pod}", pod_name=pod, pod_namespace=namespace, name=name,
                           attempt=attempt, image="busybox", image_id="sha256:0", state=state)


# ------------------------------------------------------------ choosing the container


def test_pick_current_is_highest_attempt_whatever_the_list_order() -> None:
    statuses = [status("c1", attempt=1, state=EXITED), status("c2", attempt=2), status("c0", attempt=0,
                                                                                        state=EXITED)]
    assert pick_container(statuses, "default", "web", "main", previous=False) == "c2"


def test_pick_previous_is_highest_attempt_below_current() -> None:
    statuses = [status("c0", attempt=0, state=EXITED), status("c2", attempt=2), status("c1", attempt=1,
                                                                                        state=EXITED)]
    assert pick_container(statuses, "default", "web", "main", previous=True) == "c1"


def test_pick_matches_namespace_pod_and_container_name() -> None:
    statuses = [
        status("other-ns", namespace="prod", attempt=5),
        status("other-pod", pod="api", attempt=5),
        status("other-container", name="sidecar", attempt=5),
        status("mine", attempt=0),
    ]
    assert pick_container(statuses, "default", "web", "main", previous=False) == "mine"


def test_pick_previous_without_restart_is_an_error() -> None:
    with pytest.raises(LogsError) as info:
        pick_container([status("c0")], "default", "web", "main", previous=True)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.message == 'previous terminated container "main" in pod "web" not found'


@pytest.mark.parametrize("previous", [False, True])
def test_pick_nothing_yet_is_waiting_to_start(previous: bool) -> None:
    with pytest.raises(LogsError) as info:
        pick_container([status("x", name="sidecar")], "default", "web", "main", previous=previous)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.message == 'container "main" in pod "web" is waiting to start'


def test_find_container_in_reads_the_runtime() -> None:
    runtime = StubRuntime([status("c0", attempt=0, state=EXITED), status("c1", attempt=1)])
    find = find_container_in(runtime)  # type: ignore[arg-type]
    assert asyncio.run(find("default", "web", "main", False)) == "c1"
    assert asyncio.run(find("default", "web", "main", True)) == "c0"


# ------------------------------------------------------------------- the service


class StubRuntime:
    """Just enough of the Runtime protocol for logs: list_containers and logs."""

    def __init__(self, containers: list[ContainerStatus], output: dict[str, list[bytes]] | None = None,
                 fail_logs: str = "") -> None:
        self.containers = containers
        self.output = output or {}
        self.fail_logs = fail_logs
        self.calls: list[tuple[str, bool, int | None]] = []
        self.live: asyncio.Queue[bytes] | None = None  # follow: more output, put by the test
        self.following = asyncio.Event()
        self.closed = asyncio.Event()

    async def list_containers(self) -> list[ContainerStatus]:
        return list(self.containers)

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        self.calls.append((container_id, follow, tail))
        if self.fail_logs:
            raise ContainerRuntimeError(self.fail_logs)
        try:
            chunks = self.output.get(container_id, [])
            if tail is not None:
                lines = b"".join(chunks).splitlines(keepends=True)
                chunks = [b"".join(lines[len(lines) - tail:] if tail else [])]
            for chunk in chunks:
                yield chunk
            if follow:
                self.live = asyncio.Queue()
                self.following.set()
                while True:
                    yield await self.live.get()
        finally:
            self.closed.set()


async def _with_server(runtime: StubRuntime, body: Callable[[Any], Awaitable[Any]],
                       find_container: Any = None) -> Any:
    server, port = await start_log_server(runtime, find_container)  # type: ignore[arg-type]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            return await asyncio.wait_for(body(kubelet_pb2_grpc.KubeletStub(channel)), TIMEOUT)
    finally:
        await server.stop(0)


async def _read_all(stub: Any, **request: Any) -> bytes:
    chunks = [chunk.data async for chunk in stub.ContainerLogs(kubelet_pb2.LogsRequest(**request))]
    return b"".join(chunks)


async def _error(stub: Any, **request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _read_all(stub, **request)
    return info.value


REQUEST = dict(namespace="default", pod="web", container="main")


def test_streams_the_current_containers_output() -> None:
    runtime = StubRuntime([status("c0", attempt=0, state=EXITED), status("c1", attempt=1)],
                          {"c0": [b"old\n"], "c1": [b"hello\n", b"world\n"]})
    data = asyncio.run(_with_server(runtime, lambda stub: _read_all(stub, **REQUEST)))
    assert data == b"hello\nworld\n"
    assert runtime.calls == [("c1", False, None)]


def test_previous_and_tail_reach_the_runtime() -> None:
    runtime = StubRuntime([status("c0", attempt=0, state=EXITED), status("c1", attempt=1)],
                          {"c0": [b"a\nb\nc\n"], "c1": [b"new\n"]})
    data = asyncio.run(_with_server(runtime, lambda stub: _read_all(stub, previous=True, tail_lines=2, **REQUEST)))
    assert data == b"b\nc\n"
    assert runtime.calls == [("c0", False, 2)]


def test_tail_zero_is_passed_as_zero_not_as_all() -> None:
    runtime = StubRuntime([status("c0")], {"c0": [b"a\n"]})
    data = asyncio.run(_with_server(runtime, lambda stub: _read_all(stub, tail_lines=0, **REQUEST)))
    assert data == b""
    assert runtime.calls == [("c0", False, 0)]


def test_lookup_errors_become_the_calls_status() -> None:
    runtime = StubRuntime([status("c0")])

    async def body(stub: Any) -> list[grpc.aio.AioRpcError]:
        return [await _error(stub, previous=True, **REQUEST),
                await _error(stub, namespace="default", pod="web", container="sidecar"),
                await _error(stub, tail_lines=-1, **REQUEST),
                await _error(stub, namespace="default", pod="web")]

    previous, waiting, tail, unnamed = asyncio.run(_with_server(runtime, body))
    assert (previous.code(), previous.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION, 'previous terminated container "main" in pod "web" not found')
    assert (waiting.code(), waiting.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION, 'container "sidecar" in pod "web" is waiting to start')
    assert tail.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tailLines" in tail.details()
    assert unnamed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert runtime.calls == []


@pytest.mark.parametrize("is_async", [False, True])
def test_a_kubelet_supplied_finder_decides(is_async: bool) -> None:
    runtime = StubRuntime([], {"from-finder": [b"mine\n"]})
    asked: list[tuple[str, str, str, bool]] = []

    def sync_find(namespace: str, pod: str, container: str, previous: bool) -> str:
        asked.append((namespace, pod, container, previous))
        if container == "gone":
            raise LogsError("no such thing", grpc.StatusCode.NOT_FOUND)
        return "from-finder"

    async def async_find(*args: Any) -> str:
        return sync_find(*args)

    async def body(stub: Any) -> tuple[bytes, grpc.aio.AioRpcError]:
        return (await _read_all(stub, namespace="prod", pod="api", container="app", previous=True),
                await _error(stub, namespace="prod", pod="api", container="gone"))

    data, err = asyncio.run(_with_server(runtime, body, async_find if is_async else sync_find))
    assert data == b"mine\n"
    assert asked[0] == ("prod", "api", "app", True)
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "no such thing")


def test_a_runtime_failure_is_reported() -> None:
    runtime = StubRuntime([status("c0")], fail_logs="no such container c0")
    err = asyncio.run(_with_server(runtime, lambda stub: _error(stub, **REQUEST)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == 'failed to get logs of container "main" in pod "web": no such container c0'


def test_big_output_is_split_into_chunks_under_the_message_cap() -> None:
    blob = bytes(range(256)) * (3 * MAX_CHUNK_BYTES // 256 + 7)
    runtime = StubRuntime([status("c0")], {"c0": [blob]})

    async def body(stub: Any) -> list[bytes]:
        return [chunk.data async for chunk in stub.ContainerLogs(kubelet_pb2.LogsRequest(**REQUEST))]

    chunks = asyncio.run(_with_server(runtime, body))
    assert b"".join(chunks) == blob
    assert len(chunks) == 4 and all(len(c) <= MAX_CHUNK_BYTES for c in chunks)


def test_follow_streams_new_output_and_stops_the_runtime_stream_on_cancel() -> None:
    runtime = StubRuntime([status("c0")], {"c0": [b"first\n"]})

    async def body(stub: Any) -> list[bytes]:
        call = stub.ContainerLogs(kubelet_pb2.LogsRequest(follow=True, **REQUEST))
        seen = [(await call.read()).data]
        await runtime.following.wait()
        assert runtime.live is not None
        runtime.live.put_nowait(b"second\n")
        seen.append((await call.read()).data)
        call.cancel()
        await runtime.closed.wait()  # the runtime's reader ends with the client
        return seen

    assert asyncio.run(_with_server(runtime, body)) == [b"first\n", b"second\n"]
    assert runtime.calls == [("c0", True, None)]


def test_start_log_server_refuses_a_non_local_address() -> None:
    async def start() -> None:
        await start_log_server(StubRuntime([]), listen="192.0.2.1:0")  # type: ignore[arg-type]

    with pytest.raises(OSError, match="cannot listen on 192.0.2.1:0"):
        asyncio.run(start())
