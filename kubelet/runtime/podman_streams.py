"""Podman's long HTTP streams (events, logs, exec output) as asyncio iterators.

A stream is a blocking ``requests`` response read in a thread of its own; :class:`Pipe` hands
its items to the event loop (with back-pressure) and :class:`ThreadStream` is the async
iterator the kubelet sees. Closing or cancelling the iterator shuts the response's socket down,
which is the only way to wake a thread blocked in ``recv``. :func:`read_events` and
:func:`read_logs` are the two producers; :func:`frames` decodes Docker's multiplexed
stdout/stderr framing used by logs and exec output.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any, Callable, Generic, Iterator, TypeVar

import podman
import structlog
from podman.errors import APIError, NotFound

from kubelet.runtime import LABEL_MANAGED, ContainerEvent, ContainerRuntimeError
from kubelet.runtime.podman_mapping import as_int, error_message, event_from_podman

log = structlog.get_logger("runtime.podman")

T = TypeVar("T")

EVENT_RECONNECT_DELAY = 1.0


def frames(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Payloads of Docker's multiplexed stream: 8-byte header (stream, 0,0,0, big-endian size).

    Logs and exec output of a container without a TTY come this way; stdout and stderr frames
    are kept in the order they arrive, which is what ``kubectl logs`` shows too.
    """
    while True:
        header = read_exactly(read, 8)
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "big")
        if size == 0:
            continue
        payload = read_exactly(read, size)
        if payload:
            yield payload
        if len(payload) < size:
            return


def read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)



END = object()


def response_socket(response: Any) -> socket.socket | None:
    """The socket under a streaming ``requests`` response (urllib3 2 keeps it on the connection)."""
    raw = getattr(response, "raw", None)
    for conn in (getattr(raw, "_connection", None), getattr(raw, "connection", None)):
        sock = getattr(conn, "sock", None)
        if isinstance(sock, socket.socket):
            return sock
    try:  # urllib3 1.x: HTTPResponse._fp (http.client.HTTPResponse).fp (SocketIO)._sock
        sock = raw._fp.fp.raw._sock  # type: ignore[union-attr]
        return sock if isinstance(sock, socket.socket) else None
    except AttributeError:
        return None



class Pipe(Generic[T]):
    """Items from a blocking producer thread to an asyncio consumer, and a way to stop it.

    The producer calls :meth:`put` (blocks while the consumer is ``maxsize`` items behind, so a
    chatty ``logs -f`` cannot fill memory) and :meth:`attach` for the HTTP response it is
    reading. The consumer calls :meth:`get` and finally :meth:`close`, which shuts the
    response's socket down: the producer's blocking ``recv`` returns at once and the thread
    ends. Closing the response alone would not wake a thread blocked in ``recv``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 256) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._room = threading.Semaphore(maxsize)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float) -> bool:
        """Sleep up to timeout seconds in the producer, waking early when closed."""
        return self._closed.wait(timeout)

    def _send(self, item: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            return True
        except RuntimeError:  # the loop is closed: nobody will ever read
            self._closed.set()
            return False

    def put(self, item: T) -> bool:
        """Producer: hand one item over; False once the consumer has gone."""
        while not self._room.acquire(timeout=0.2):
            if self.closed:
                return False
        if self.closed:
            return False
        return self._send(item)

    def finish(self, error: BaseException | None = None) -> None:
        """Producer: no more items (an error is raised in the consumer)."""
        if not self.closed:
            self._send(error if error is not None else END)

    def attach(self, response: Any) -> bool:
        """Producer: this is the response being read; False if already closed (drop it)."""
        with self._lock:
            if self.closed:
                return False
            self._response = response
            return True

    def detach(self) -> None:
        with self._lock:
            self._response = None

    def close(self) -> None:
        """Consumer (any thread): stop the producer and cut its connection."""
        with self._lock:
            self._closed.set()
            response, self._response = self._response, None
            if response is not None:
                sock = response_socket(response)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    async def get(self) -> Any:
        """Consumer: the next item, ``END``, or an exception instance."""
        item = await self._queue.get()
        if item is not END and not isinstance(item, BaseException):
            self._room.release()
        return item


class ThreadStream(Generic[T]):
    """An async iterator over what a producer thread puts into a :class:`Pipe`.

    The thread starts on the first ``__anext__`` (a running loop is needed then, and an
    iterator nobody reads costs nothing). As with an async generator, cancelling a pending
    ``__anext__`` or calling ``aclose`` ends the stream: the pipe cuts the connection and the
    thread returns.
    """

    def __init__(self, streams: "OpenStreams", produce: Callable[[Pipe[T]], None], name: str,
                 maxsize: int = 256) -> None:
        self._streams = streams
        self._produce = produce
        self._name = name
        self._maxsize = maxsize
        self._pipe: Pipe[T] | None = None
        self._done = False

    def __aiter__(self) -> "ThreadStream[T]":
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        if self._pipe is None:
            if self._streams.closed:
                self._done = True
                raise ContainerRuntimeError("runtime closed")
            self._pipe = Pipe(asyncio.get_running_loop(), self._maxsize)
            self._streams.add(self._pipe)
            threading.Thread(target=self._produce, args=(self._pipe,), name=self._name, daemon=True).start()
        try:
            item = await self._pipe.get()
        except BaseException:  # cancelled: like an async generator, the stream is over
            self._finish()
            raise
        if item is END:
            self._finish()
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._finish()
            raise item
        return item

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._pipe is not None:
            self._pipe.close()
            self._streams.discard(self._pipe)

    def __del__(self) -> None:
        if self._pipe is not None and not self._pipe.closed:
            self._pipe.close()



class OpenStreams:
    """The pipes of one runtime's live streams, so closing the runtime can cut them all."""

    def __init__(self) -> None:
        self.closed = False
        self._pipes: set[Pipe[Any]] = set()

    def add(self, pipe: "Pipe[Any]") -> None:
        self._pipes.add(pipe)

    def discard(self, pipe: "Pipe[Any]") -> None:
        self._pipes.discard(pipe)

    def close_all(self) -> None:
        self.closed = True
        for pipe in list(self._pipes):
            pipe.close()
        self._pipes.clear()


def read_events(pipe: Pipe[ContainerEvent], new_client: Callable[[], podman.PodmanClient],
                ours: Callable[[dict[str, str] | None], bool], start_ns: int, node_name: str) -> None:
    """Producer of ``PodmanRuntime.events``: follow ``GET /events`` from ``start_ns``, reconnecting
    from the last event seen when the stream breaks, until the pipe is closed."""
    last_ns = start_ns
    seen_at_last: set[tuple[str, str]] = set()  # events at exactly last_ns already delivered
    filters = json.dumps({"type": ["container"], "label": [f"{LABEL_MANAGED}=true"]})
    while not pipe.closed:
        client = new_client()
        response = None
        try:
            params = {"stream": True, "filters": filters, "since": str(last_ns // 1_000_000_000 - 1)}
            response = client.api.get("/events", params=params, stream=True, timeout=(10, None))
            response.raise_for_status()
            if not pipe.attach(response):
                break
            for line in response.iter_lines():
                if not line:
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                nanos = raw.get("timeNano")
                if isinstance(nanos, int):
                    key = ((raw.get("Actor") or {}).get("ID", ""), raw.get("Action", ""))
                    if nanos < last_ns or (nanos == last_ns and key in seen_at_last):
                        continue  # replayed by ``since``
                    if nanos > last_ns:
                        last_ns, seen_at_last = nanos, set()
                    seen_at_last.add(key)
                event = event_from_podman(raw)
                if event is None or not ours((raw.get("Actor") or {}).get("Attributes")):
                    continue
                if not pipe.put(event):
                    break
        except Exception as err:  # noqa: BLE001 - any failure: reconnect (or stop if closed)
            if not pipe.closed:
                log.warning("podman event stream broke, reconnecting", node=node_name, error=str(err))
        finally:
            pipe.detach()
            if response is not None:
                response.close()
            client.close()
        if pipe.wait_closed(EVENT_RECONNECT_DELAY):
            break
    pipe.finish()


def read_logs(pipe: Pipe[bytes], new_client: Callable[[], podman.PodmanClient], container_id: str,
              params: dict[str, Any]) -> None:
    """Producer of ``PodmanRuntime.logs``: ``GET /containers/{id}/logs`` with ``params``, framed."""
    client = new_client()
    response = None
    error: BaseException | None = None
    try:
        response = client.api.get(f"/containers/{container_id}/logs", params=params, stream=True,
                                  timeout=(10, None))
        response.raise_for_status()
        if pipe.attach(response):
            for chunk in frames(response.raw.read):
                if not pipe.put(chunk):
                    break
    except APIError as err:
        error = ContainerRuntimeError(error_message(err))
    except Exception as err:  # noqa: BLE001 - connection cut by close(), or a real failure
        if not pipe.closed:
            error = ContainerRuntimeError(f"logs of {container_id[:12]}: {err}")
    finally:
        pipe.detach()
        if response is not None:
            response.close()
        client.close()
        pipe.finish(error)


def run_exec(api: Any, new_client: Callable[[], podman.PodmanClient], container_id: str, command: list[str],
             pipe: Pipe[bytes], api_timeout: float) -> tuple[int, str]:
    """Body of ``PodmanRuntime.exec`` (exec probes): create the exec session, read its framed
    output to the end on a connection of its own (``pipe.close()`` cuts it on timeout), then
    ask for the exit code, which Podman records a moment after the output ends."""
    try:
        response = api.post(
            f"/containers/{container_id}/exec",
            data=json.dumps({"AttachStdout": True, "AttachStderr": True, "AttachStdin": False,
                             "Tty": False, "Cmd": command}),
            timeout=api_timeout)
        response.raise_for_status()
        exec_id = response.json()["Id"]
    except NotFound as err:
        raise ContainerRuntimeError(error_message(err)) from None
    except APIError as err:
        raise ContainerRuntimeError(error_message(err)) from None
    client = new_client()
    try:
        start = client.api.post(f"/exec/{exec_id}/start", data=json.dumps({"Detach": False, "Tty": False}),
                                stream=True, timeout=(10, None))
        start.raise_for_status()
        if not pipe.attach(start):
            raise TimeoutError("exec cancelled")
        try:
            output = b"".join(frames(start.raw.read))
        finally:
            pipe.detach()
            start.close()
    except APIError as err:
        raise ContainerRuntimeError(error_message(err)) from None
    finally:
        client.close()
    exit_code = None
    deadline = time.monotonic() + 2.0
    while exit_code is None:
        try:
            response = api.get(f"/exec/{exec_id}/json", timeout=api_timeout)
            response.raise_for_status()
            inspect = response.json()
        except APIError as err:
            raise ContainerRuntimeError(error_message(err)) from None
        if not inspect.get("Running"):
            exit_code = as_int(inspect.get("ExitCode"), -1)
        elif time.monotonic() > deadline:
            raise ContainerRuntimeError("exec session still running after its output ended")
        else:
            time.sleep(0.02)
    return exit_code, output.decode("utf-8", errors="replace")
