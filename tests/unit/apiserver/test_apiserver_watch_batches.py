"""WatchBatches: the same events as Watch, several encoded WatchEvents per message.
Checked against Watch for the same changes (replay and initial state), for the
sharing of one encoding among watchers, for the per-message limit on a backlog,
and for the errors and bookmarks Watch has. Every wait is a read with a timeout."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from apiserver_testlib import create, pod, revision, update, update_status

from apiserver import service
from protos import api_pb2


class BatchReader:
    """A WatchBatches stream read on a thread: whole messages into a queue."""

    _END = object()

    def __init__(self, stub: Any, request: api_pb2.WatchRequest) -> None:
        raw = getattr(stub, "_stub", stub)  # the stream without the unary deadline
        self.call = raw.WatchBatches(request)
        self.messages: queue.Queue = queue.Queue()
        self.error: grpc.RpcError | None = None
        self._pending: list[bytes] = []
        self.thread = threading.Thread(target=self._read, name="watch-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.messages.put(message)
        except grpc.RpcError as err:
            self.error = err
        finally:
            self.messages.put(self._END)

    def next_message(self, timeout: float = 5.0) -> api_pb2.WatchEventBatch:
        try:
            item = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no WatchBatches message within {timeout}s") from None
        if item is self._END:
            self.messages.put(self._END)
            raise AssertionError(f"watch ended: {self.error!r}")
        return item

    def next_raw(self, timeout: float = 5.0) -> bytes:
        """The next encoded event, whatever message it came in."""
        while not self._pending:
            self._pending = list(self.next_message(timeout).events)
        return self._pending.pop(0)

    def take(self, n: int, timeout: float = 5.0) -> list[api_pb2.WatchEvent]:
        return [api_pb2.WatchEvent.FromString(self.next_raw(timeout)) for _ in range(n)]

    def wait_end(self, timeout: float = 5.0) -> grpc.RpcError | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "watch did not end"
        return self.error

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(5.0)
        assert not self.thread.is_alive(), "watch reader did not stop"


@pytest.fixture
def batch_watches() -> Iterator[Callable[..., BatchReader]]:
    opened: list[BatchReader] = []

    def open_watch(stub: Any, **request: Any) -> BatchReader:
        reader = BatchReader(stub, api_pb2.WatchRequest(**request))
        opened.append(reader)
        return reader

    yield open_watch
    for reader in opened:
        reader.close()


def event_pairs(events: list[api_pb2.WatchEvent]) -> list[tuple[str, bytes]]:
    """(type, the object's bytes): exact object equality, deterministic encoding."""
    return [(e.type, e.object.SerializeToString(deterministic=True)) for e in events]


def make_changes(stub) -> int:
    """Creates, updates (spec and status), label-selector transitions and deletes;
    the number of Pod changes made."""
    p = create(stub, pod("p", labels={"app": "web"}))
    create(stub, pod("q", labels={"app": "db"}))
    p.metadata.labels["app"] = "db"  # leaves app=web
    p = update(stub, p)
    p.metadata.labels["app"] = "web"  # comes back
    p = update(stub, p)
    p.status.phase = "Running"
    p = update_status(stub, p)
    stub.Delete(api_pb2.DeleteRequest(kind="Pod", name="q"))
    stub.Delete(api_pb2.DeleteRequest(kind="Pod", name="p"))
    create(stub, pod("r", labels={"app": "web"}))
    return 8


@pytest.mark.parametrize("selector,count", [("", 8), ("app=web", 6)])
def test_same_events_as_watch_from_a_resource_version(stub, watches, batch_watches, selector, count) -> None:
    start = revision(stub)
    assert make_changes(stub) == 8
    plain = watches(stub, kind="Pod", label_selector=selector, resource_version=str(start))
    batched = batch_watches(stub, kind="Pod", label_selector=selector, resource_version=str(start))
    expected = plain.take(count)
    got = batched.take(count)
    assert event_pairs(got) == event_pairs(expected)
    if selector:  # the transitions really were translated
        assert [e.type for e in got] == ["ADDED", "DELETED", "ADDED", "MODIFIED", "DELETED", "ADDED"]

    # Live changes too, and nothing extra before them.
    marker = create(stub, pod("marker", labels={"app": "web"}))
    [live] = batched.take(1)
    assert event_pairs([live]) == event_pairs(plain.take(1))
    assert (live.type, live.object.pod) == ("ADDED", marker)


def test_same_initial_state_as_watch_from_empty(stub, watches, batch_watches) -> None:
    make_changes(stub)
    for name in ("x", "y"):
        create(stub, pod(name))
    n = len(stub.List(api_pb2.ListRequest(kind="Pod")).items)
    plain = watches(stub, kind="Pod", resource_version="")
    batched = batch_watches(stub, kind="Pod", resource_version="")
    expected = plain.take(n)
    got = batched.take(n)
    assert all(e.type == "ADDED" for e in got)
    assert sorted(event_pairs(got)) == sorted(event_pairs(expected))
    live = create(stub, pod("live"))
    [event] = batched.take(1)
    assert (event.type, event.object.pod) == ("ADDED", live)


def test_two_watchers_get_the_same_bytes_encoded_once_per_type(server, batch_watches) -> None:
    stub = server.stub
    start = revision(stub)
    everything = batch_watches(stub, kind="Pod", resource_version=str(start))
    web = batch_watches(server.new_stub(), kind="Pod", label_selector="app=web", resource_version=str(start))
    also_web = batch_watches(server.new_stub(), kind="Pod", label_selector="app=web",
                             resource_version=str(start))

    p = create(stub, pod("p", labels={"app": "db"}))
    first = [r.next_raw() for r in (everything,)]
    p.metadata.labels["app"] = "web"  # MODIFIED for one watcher, ADDED for the others
    update(stub, p)
    modified = everything.next_raw()
    added, added_again = web.next_raw(), also_web.next_raw()
    assert added == added_again  # byte-identical: one encoding shared
    assert api_pb2.WatchEvent.FromString(modified).type == "MODIFIED"
    assert api_pb2.WatchEvent.FromString(added).type == "ADDED"
    assert api_pb2.WatchEvent.FromString(added).object == api_pb2.WatchEvent.FromString(modified).object
    assert api_pb2.WatchEvent.FromString(first[0]).type == "ADDED"

    # The change in the cache's history holds one encoding per event type it was sent as.
    change = server.server.cache.history[-1]
    assert change.key.endswith("p") and change.type == "MODIFIED"
    assert set(change.encoded) == {"ADDED", "MODIFIED"}
    assert change.encoded["ADDED"] == added
    assert change.encoded["MODIFIED"] == modified


def test_a_backlog_larger_than_the_limit_comes_in_several_messages(server, batch_watches) -> None:
    stub = server.stub
    limit = service.WATCH_BATCH_LIMIT
    total = limit * 2 + 7
    start = revision(stub)
    ops = [api_pb2.BatchOp(create=api_pb2.CreateRequest(object=pod(f"p{i}"))) for i in range(total)]
    results = stub.Batch(api_pb2.BatchRequest(ops=ops)).results
    assert all(r.code == 0 for r in results)

    for rv in (str(start), ""):  # replayed history, and the initial ADDED of every object
        reader = batch_watches(server.new_stub(), kind="Pod", resource_version=rv)
        names: list[str] = []
        messages = 0
        while len(names) < total:
            message = reader.next_message()
            messages += 1
            assert 0 < len(message.events) <= limit
            names += [api_pb2.WatchEvent.FromString(e).object.pod.metadata.name for e in message.events]
        assert messages >= 3
        if rv:
            assert names == [f"p{i}" for i in range(total)]  # in order
        else:
            assert sorted(names) == sorted(f"p{i}" for i in range(total))
        assert len(set(names)) == total  # nothing lost, nothing twice


def test_too_old_resource_version_is_out_of_range(server_factory, batch_watches) -> None:
    server = server_factory(watch_history=3)
    stub = server.stub
    start = revision(stub)
    for i in range(6):
        create(stub, pod(f"p{i}"))
    err = batch_watches(stub, kind="Pod", resource_version=str(start)).wait_end()
    assert err is not None and err.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "too old resource version" in err.details()
    ok = batch_watches(stub, kind="Pod", resource_version=str(revision(stub) - 3))
    assert [e.object.pod.metadata.name for e in ok.take(3)] == ["p3", "p4", "p5"]


def test_bookmarks_arrive_on_an_idle_watch(server_factory, batch_watches) -> None:
    server = server_factory(bookmark_interval=0.1)
    stub = server.stub
    start = revision(stub)
    w = batch_watches(stub, kind="Pod", resource_version=str(start), allow_bookmarks=True)
    [bookmark] = w.take(1)
    assert bookmark.type == "BOOKMARK"
    assert bookmark.object.pod.metadata.resource_version == str(start)
    assert bookmark.object.pod.metadata.name == ""
    p = create(stub, pod("p"))
    while True:
        [event] = w.take(1)
        if event.type != "BOOKMARK":
            break
    assert (event.type, event.object.pod) == ("ADDED", p)
