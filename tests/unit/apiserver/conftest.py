"""A real in-process apiserver for the API tests.

The server runs on 127.0.0.1:0 in a background thread with its own asyncio event
loop (SQLite store in tmp_path); tests talk to it through the generated sync stub,
exactly as every component does. Teardown stops the server, closes the store,
stops the loop and joins the thread, so no thread or port outlives a test.
"""

from __future__ import annotations

import asyncio
import errno
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest

from apiserver.main import APIServer, ServerConfig
from apiserver_testlib import TimeoutStub, WatchReader
from protos import api_pb2, api_pb2_grpc

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class RunningServer:
    """An APIServer on its own event-loop thread, plus a client channel and stub."""

    def __init__(self, data_dir: Path, **config: Any) -> None:
        self.data_dir = data_dir
        self.config = ServerConfig(listen="127.0.0.1:0", data_dir=data_dir, **config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run_loop, name="apiserver-loop", daemon=True)
        self.server: APIServer | None = None
        self.channels: list[grpc.Channel] = []
        self.stopping = False
        self.loop_errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(self._on_loop_error)
        self.thread.start()
        try:
            self.server = self._call(self._start(), START_TIMEOUT)
        except BaseException:
            self._stop_loop()
            raise
        self.address = self.server.address
        self.channel = self.new_channel()
        self.stub = self.new_stub(self.channel)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Collect what the server's loop could not handle; teardown fails on any.

        One known grpc.aio shutdown race is dropped: once the last aio server is
        stopped grpc closes its poller fd while a read callback is still queued."""
        exc = context.get("exception")
        if (self.stopping and isinstance(exc, OSError) and exc.errno == errno.EBADF
                and any("completion_queue" in f.filename for f in traceback.extract_tb(exc.__traceback__))):
            return
        self.loop_errors.append(context)
        loop.default_exception_handler(context)

    def _call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> APIServer:
        # Built on the loop thread: grpc.aio binds the server to the running loop.
        server = APIServer(self.config)
        await server.start()
        return server

    def new_channel(self) -> grpc.Channel:
        channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
        self.channels.append(channel)
        return channel

    def new_stub(self, channel: grpc.Channel | None = None) -> TimeoutStub:
        """A stub (on a new channel unless one is given) whose unary calls have a deadline."""
        return TimeoutStub(api_pb2_grpc.APIStub(channel or self.new_channel()))

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive(), "apiserver loop thread did not stop"
        self.loop.close()

    def stop(self) -> None:
        if self.server is None:
            return
        self.stopping = True
        try:
            self._call(self.server.stop(grace=0.5), STOP_TIMEOUT)
        finally:
            self.server = None
            # After the server: closing a channel first waits on its connection.
            for channel in self.channels:
                channel.close()
            self.channels.clear()

            async def _cancel_leftovers() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            try:
                self._call(_cancel_leftovers(), STOP_TIMEOUT)
            finally:
                self._stop_loop()
        assert not self.loop_errors, f"errors on the apiserver's event loop: {self.loop_errors}"


ServerFactory = Callable[..., RunningServer]
OUR_THREADS = ("apiserver-loop", "watch-reader")


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Set up first, so torn down last: every server and watch thread must be gone."""
    yield
    leftover = [t.name for t in threading.enumerate() if t.name in OUR_THREADS and t.is_alive()]
    assert not leftover, f"threads left running after the test: {leftover}"


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers on demand (e.g. ``server_factory(watch_history=5)``); all are
    stopped at teardown. ``data_dir`` defaults to tmp_path/"data"."""
    started: list[RunningServer] = []

    def make(data_dir: Path | None = None, **config: Any) -> RunningServer:
        server = RunningServer(data_dir or tmp_path / "data", **config)
        started.append(server)
        return server

    yield make
    errors = []
    for server in reversed(started):
        try:
            server.stop()
        except BaseException as err:  # stop every server even if one fails
            errors.append(err)
    if errors:
        raise errors[0]


@pytest.fixture
def server(server_factory: ServerFactory) -> RunningServer:
    return server_factory()


@pytest.fixture
def stub(server: RunningServer) -> TimeoutStub:
    return server.stub


@pytest.fixture
def watches() -> Iterator[Callable[..., WatchReader]]:
    """Open watches that are always cancelled (and their threads joined) at teardown."""
    opened: list[WatchReader] = []

    def open_watch(stub: api_pb2_grpc.APIStub, **request: Any) -> WatchReader:
        reader = WatchReader(stub, api_pb2.WatchRequest(**request))
        opened.append(reader)
        return reader

    yield open_watch
    for reader in opened:
        reader.close()
