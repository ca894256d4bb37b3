"""Watch through the gRPC API: replay from a resourceVersion, initial state from
"0", too-old errors, bookmarks, selector transitions and fan-out to many
(and to slow) watchers. Every wait is a blocking read with a timeout."""

from __future__ import annotations

import time

import grpc

from apiserver_testlib import (create, get, node, obj_of, pod, revision, rpc_error, update,
                               update_status)
from protos import api_pb2


def summary(event: api_pb2.WatchEvent) -> tuple[str, str, int]:
    meta = obj_of(event.object).metadata
    return event.type, meta.name, int(meta.resource_version)


def delete_pod(stub, name: str, **kwargs) -> object:
    return obj_of(stub.Delete(api_pb2.DeleteRequest(kind="Pod", name=name, **kwargs)))


def test_watch_from_revision_replays_exactly_the_later_changes(stub, watches) -> None:
    create(stub, pod("before"))
    start = revision(stub)

    a = create(stub, pod("a"))
    a.metadata.labels["v"] = "2"
    a2 = update(stub, a)
    create(stub, node("n1"))  # another kind: not in a Pod watch
    deleted = delete_pod(stub, "a")
    b = create(stub, pod("b"))
    expected = [
        ("ADDED", "a", int(a.metadata.resource_version)),
        ("MODIFIED", "a", int(a2.metadata.resource_version)),
        ("DELETED", "a", int(deleted.metadata.resource_version)),
        ("ADDED", "b", int(b.metadata.resource_version)),
    ]
    # The deletion has a revision of its own, later than the last update.
    assert expected[2][2] == int(a2.metadata.resource_version) + 2

    w = watches(stub, kind="Pod", resource_version=str(start))
    events = w.take(4)
    assert [summary(e) for e in events] == expected
    assert events[1].object.pod.metadata.labels == {"v": "2"}
    assert events[2].object.pod.metadata.uid == a.metadata.uid

    # Live events follow the replay, in order, and nothing else came in between.
    b.status.phase = "Running"
    b2 = update_status(stub, b)
    marker = create(stub, pod("marker"))
    assert [summary(e) for e in w.take(2)] == [
        ("MODIFIED", "b", int(b2.metadata.resource_version)),
        ("ADDED", "marker", int(marker.metadata.resource_version)),
    ]

    # From a revision in the middle: only what came after it.
    mid = watches(stub, kind="Pod", resource_version=str(a2.metadata.resource_version))
    assert [summary(e) for e in mid.take(4)] == expected[2:] + [
        ("MODIFIED", "b", int(b2.metadata.resource_version)),
        ("ADDED", "marker", int(marker.metadata.resource_version)),
    ]
    last = create(stub, pod("last"))
    assert summary(mid.next()) == ("ADDED", "last", int(last.metadata.resource_version))
    assert summary(w.next()) == ("ADDED", "last", int(last.metadata.resource_version))


def test_watch_in_a_namespace_sees_only_it(stub, watches) -> None:
    create(stub, api_pb2.Object(namespace={"metadata": {"name": "team-a"}}))
    start = revision(stub)
    w = watches(stub, kind="Pod", namespace="team-a", resource_version=str(start))
    create(stub, pod("elsewhere"))
    inside = create(stub, pod("inside", namespace="team-a"))
    event = w.next()
    assert summary(event) == ("ADDED", "inside", int(inside.metadata.resource_version))
    assert event.object.pod.metadata.namespace == "team-a"


def test_watch_from_zero_or_empty_sends_current_state_then_live_events(stub, watches) -> None:
    for name in ("x", "y", "z"):
        create(stub, pod(name))
    gone = create(stub, pod("gone"))
    delete_pod(stub, "gone")

    for rv in ("0", ""):
        current = {o.pod.metadata.name: o.pod for o in stub.List(api_pb2.ListRequest(kind="Pod")).items}
        assert {"x", "y", "z"} <= set(current) and "gone" not in current
        w = watches(stub, kind="Pod", resource_version=rv)
        initial = w.take(len(current))
        assert all(e.type == "ADDED" for e in initial)
        assert {e.object.pod.metadata.name: e.object.pod for e in initial} == current
        assert gone.metadata.name not in {e.object.pod.metadata.name for e in initial}

        live = create(stub, pod(f"live{rv or 'empty'}"))
        event = w.next()
        assert summary(event) == ("ADDED", live.metadata.name, int(live.metadata.resource_version))


def test_too_old_resource_version_is_out_of_range(server_factory, watches) -> None:
    server = server_factory(watch_history=3)
    stub = server.stub
    start = revision(stub)
    created = [create(stub, pod(f"p{i}")) for i in range(6)]
    now = revision(stub)
    assert now == start + 6

    # History keeps the last 3 changes: from now-3 replays exactly those.
    ok = watches(stub, kind="Pod", resource_version=str(now - 3))
    assert [summary(e) for e in ok.take(3)] == [
        ("ADDED", c.metadata.name, int(c.metadata.resource_version)) for c in created[3:]]

    old = watches(stub, kind="Pod", resource_version=str(now - 4))
    err = old.wait_end()
    assert err is not None
    assert err.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "too old resource version" in err.details()
    assert old.events.qsize() == 1  # only the end marker: no event before the error

    oldest = watches(stub, kind="Pod", resource_version=str(start))
    err = oldest.wait_end()
    assert err is not None and err.code() == grpc.StatusCode.OUT_OF_RANGE

    # The client's recovery: relist, then watch from the list's revision.
    listed = stub.List(api_pb2.ListRequest(kind="Pod"))
    assert len(listed.items) == 6
    rewatch = watches(stub, kind="Pod", resource_version=listed.resource_version)
    fresh = create(stub, pod("fresh"))
    assert summary(rewatch.next()) == ("ADDED", "fresh", int(fresh.metadata.resource_version))


def test_bad_resource_version_is_invalid_argument(stub, watches) -> None:
    for rv in ("abc", "-5"):
        err = watches(stub, kind="Pod", resource_version=rv).wait_end()
        assert err is not None
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid resourceVersion" in err.details()


def test_bookmarks_on_idle_watch_carry_current_revision(server_factory, watches) -> None:
    server = server_factory(bookmark_interval=0.2)
    stub = server.stub
    start = revision(stub)
    plain = watches(stub, kind="Pod", resource_version=str(start))
    w = watches(stub, kind="Pod", resource_version=str(start), allow_bookmarks=True)

    first = w.next(timeout=5)
    assert first.type == "BOOKMARK"
    assert first.object.WhichOneof("kind") == "pod"
    assert first.object.pod.metadata.resource_version == str(start)
    assert first.object.pod.metadata.name == ""  # a bookmark carries only the revision

    # Writes to other kinds move the revision; the next bookmarks say so.
    n = create(stub, node("n1"))
    target = int(n.metadata.resource_version)
    deadline = time.monotonic() + 5
    while True:
        event = w.next(timeout=5)
        assert event.type == "BOOKMARK"
        if int(event.object.pod.metadata.resource_version) == target:
            break
        assert int(event.object.pod.metadata.resource_version) == start
        assert time.monotonic() < deadline, "no bookmark with the new revision"
    second = w.next(timeout=5)
    assert summary(second) == ("BOOKMARK", "", target)

    # Real events still come through between bookmarks.
    p = create(stub, pod("p"))
    assert summary(w.next_non_bookmark()) == ("ADDED", "p", int(p.metadata.resource_version))

    # Without allow_bookmarks: several bookmark intervals passed, yet only the event.
    assert summary(plain.next()) == ("ADDED", "p", int(p.metadata.resource_version))
    plain.assert_quiet()


def test_label_selector_watch_turns_label_changes_into_added_and_deleted(stub, watches) -> None:
    start = revision(stub)
    w = watches(stub, kind="Pod", label_selector="app=web", resource_version=str(start))

    p = create(stub, pod("p", labels={"app": "web"}))
    create(stub, pod("other", labels={"app": "db"}))  # never matches: no event
    p.metadata.labels["app"] = "db"
    stopped = update(stub, p)
    stopped.metadata.labels["tier"] = "x"
    still_out = update(stub, stopped)  # not matching before or after: no event
    still_out.metadata.labels["app"] = "web"
    started = update(stub, still_out)
    started.metadata.labels["tier"] = "y"
    modified = update(stub, started)
    delete_pod(stub, "p")
    deleted_rv = revision(stub)

    events = w.take(5)
    assert [summary(e) for e in events] == [
        ("ADDED", "p", int(p.metadata.resource_version)),
        ("DELETED", "p", int(stopped.metadata.resource_version)),
        ("ADDED", "p", int(started.metadata.resource_version)),
        ("MODIFIED", "p", int(modified.metadata.resource_version)),
        ("DELETED", "p", deleted_rv),
    ]
    assert events[1].object.pod.metadata.labels["app"] == "db"  # the object as it now is
    marker = create(stub, pod("marker", labels={"app": "web"}))
    assert summary(w.next()) == ("ADDED", "marker", int(marker.metadata.resource_version))


def test_field_selector_watch_sees_binding_as_added(stub, watches) -> None:
    start = revision(stub)
    w = watches(stub, kind="Pod", field_selector="spec.nodeName=n1", resource_version=str(start))
    create(stub, pod("p"))
    bound = obj_of(stub.Bind(api_pb2.BindRequest(name="p", node_name="n1")))
    event = w.next()
    assert summary(event) == ("ADDED", "p", int(bound.metadata.resource_version))
    assert event.object.pod.spec.node_name == "n1"


def test_watch_with_bad_selector_or_unknown_kind_fails(stub, watches) -> None:
    err = watches(stub, kind="Pod", field_selector="spec.image=x").wait_end()
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.image" in err.details()
    err = watches(stub, kind="Pod", label_selector="app in (a").wait_end()
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = watches(stub, kind="Widget").wait_end()
    assert err is not None
    assert err.code() == grpc.StatusCode.NOT_FOUND  # as Get and List answer
    assert 'no kind "Widget" is served' in err.details()


def test_many_concurrent_watchers_all_receive_the_event(server, watches) -> None:
    stub = server.stub
    start = revision(stub)
    stubs = [server.new_stub() for _ in range(4)]
    readers = [watches(stubs[i % len(stubs)], kind="Pod", resource_version=str(start)) for i in range(200)]

    created = create(stub, pod("fanout"))
    expected = ("ADDED", "fanout", int(created.metadata.resource_version))
    deadline = time.monotonic() + 20
    for reader in readers:
        assert summary(reader.next(timeout=max(0.1, deadline - time.monotonic()))) == expected

    # And a second event after all are live.
    created.metadata.labels["round"] = "2"
    second = update(stub, created)
    expected = ("MODIFIED", "fanout", int(second.metadata.resource_version))
    for reader in readers:
        assert summary(reader.next(timeout=max(0.1, deadline - time.monotonic()))) == expected


def test_a_watcher_that_never_reads_does_not_hold_up_others(server, watches) -> None:
    stub = server.stub
    start = revision(stub)
    # Its own channel and no reader: the server's sends to it stall on flow control.
    stalled_stub = server.new_stub()
    stalled = stalled_stub.Watch(api_pb2.WatchRequest(kind="Pod", resource_version=str(start)))
    try:
        reader = watches(server.new_stub(), kind="Pod", resource_version=str(start))
        big = "x" * 200_000
        p = create(stub, pod("big"))
        assert reader.next().type == "ADDED"
        # ~12 MB of events: far beyond any HTTP/2 window the stalled stream has.
        for i in range(60):
            p.metadata.annotations["blob"] = f"{i}-{big}"
            t0 = time.monotonic()
            p = update(stub, p)
            event = reader.next(timeout=5)
            assert summary(event) == ("MODIFIED", "big", int(p.metadata.resource_version))
            assert time.monotonic() - t0 < 5
        # The stalled stream really is stalled: its watcher holds undelivered events.
        cache = server.server.cache
        assert max(len(w.buffer) for w in cache.watchers["Pod"]) > 0
        # The server still answers everything else promptly.
        assert get(stub, "Pod", "big").metadata.resource_version == p.metadata.resource_version
        marker = create(stub, pod("marker"))
        assert summary(reader.next(timeout=5)) == ("ADDED", "marker", int(marker.metadata.resource_version))
    finally:
        stalled.cancel()


def test_cancelled_watch_is_unregistered(server, watches) -> None:
    stub = server.stub
    w = watches(stub, kind="Pod", resource_version=str(revision(stub)))
    p = create(stub, pod("p"))
    assert w.next().type == "ADDED"
    cache = server.server.cache
    assert len(cache.watchers.get("Pod", ())) == 1
    w.close()
    deadline = time.monotonic() + 5
    while cache.watchers.get("Pod"):
        assert time.monotonic() < deadline, "cancelled watcher still registered"
        time.sleep(0.01)
    p.metadata.labels["after"] = "cancel"
    update(stub, p)  # fan-out with the watcher gone
    assert rpc_error(lambda: get(stub, "Pod", "nope")).code() == grpc.StatusCode.NOT_FOUND


def test_deleted_event_for_graceful_pod_deletion(stub, watches) -> None:
    create(stub, pod("p"))
    obj_of(stub.Bind(api_pb2.BindRequest(name="p", node_name="n1")))
    start = revision(stub)
    w = watches(stub, kind="Pod", resource_version=str(start))
    marked = delete_pod(stub, "p")
    event = w.next()
    assert summary(event) == ("MODIFIED", "p", int(marked.metadata.resource_version))
    assert event.object.pod.metadata.HasField("deletion_timestamp")
    removed = delete_pod(stub, "p", grace_period_seconds=0)
    event = w.next()
    assert summary(event) == ("DELETED", "p", int(removed.metadata.resource_version))
    assert int(removed.metadata.resource_version) == revision(stub)


def test_watch_from_a_future_revision_skips_changes_up_to_it(stub, watches) -> None:
    now = revision(stub)
    w = watches(stub, kind="Pod", resource_version=str(now + 2))
    create(stub, pod("first"))  # revision now+1: at or below what was asked for
    create(stub, pod("second"))  # now+2: likewise
    third = create(stub, pod("third"))
    assert [summary(e) for e in w.take(1)] == [("ADDED", "third", int(third.metadata.resource_version))]
