"""Kubernetes' watch over HTTP (apiserver/rest/watch.py): a tiny aiohttp app routes
``GET /api/v1/namespaces/{namespace}/pods?watch=true`` to serve_watch over a Registry on
a MemoryStore, and the tests read the chunked JSON lines as kubectl and client-go do."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

import kubernetes
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from apimachinery.convert import from_dict
from apimachinery.kinds import kind_info
from apiserver import errors
from apiserver.registry.registry import Registry
from apiserver.rest.watch import INITIAL_EVENTS_END, serve_watch, start_revision, validate_watch_options
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache

POD = kind_info("Pod")
BOOKMARK_INTERVAL = 0.2
READ_TIMEOUT = 5.0
TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


def pod(name: str, namespace: str = "default", labels: dict[str, str] | None = None) -> Any:
    return from_dict({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                      "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}})


def flag(query: Any, name: str) -> bool | None:
    return None if name not in query else query[name] in TRUE


class World:
    """A registry, its watch cache and an HTTP client of the watch app."""

    def __init__(self, registry: Registry, client: TestClient) -> None:
        self.registry = registry
        self.cache = registry.cache
        self.client = client

    def create(self, name: str, **kwargs: Any) -> Any:
        return self.registry.create(pod(name, **kwargs))

    async def watch(self, **query: str) -> "Stream":
        response = await self.client.get("/api/v1/namespaces/default/pods", params={"watch": "true", **query})
        assert response.status == 200, await response.text()
        return Stream(response)


class Stream:
    """One watch's response, read line by line."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = READ_TIMEOUT) -> dict[str, Any]:
        line = await asyncio.wait_for(self.response.content.readline(), timeout)
        assert line.endswith(b"\n"), f"stream ended: {line!r}"
        return json.loads(line)

    async def take(self, n: int) -> list[tuple[str, str]]:
        return [summary(await self.next()) for _ in range(n)]

    async def ended(self, timeout: float = READ_TIMEOUT) -> bool:
        return await asyncio.wait_for(self.response.content.read(), timeout) == b""


def summary(event: dict[str, Any]) -> tuple[str, str]:
    return event["type"], event["object"]["metadata"].get("name", "")


class NonCancellingServer(TestServer):
    """A TestServer that, like aiohttp's default web.AppRunner, does not cancel a handler
    whose client went away (TestServer turns handler_cancellation on)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        kwargs["handler_cancellation"] = False
        return web.AppRunner(self.app, **kwargs)


def run(scenario: Callable[[World], Awaitable[None]], history_size: int = 10_000,
        server_class: type[TestServer] = TestServer, encode: Any = None) -> None:
    async def main() -> None:
        registry = Registry(MemoryStore(), WatchCache(history_size=history_size))

        async def handler(request: web.Request) -> web.StreamResponse:
            query = request.query
            timeout = query.get("timeoutSeconds")
            try:
                return await serve_watch(
                    request, registry.cache, POD, request.match_info["namespace"],
                    label_selector=query.get("labelSelector", ""), field_selector=query.get("fieldSelector", ""),
                    resource_version=query.get("resourceVersion", ""),
                    allow_bookmarks=bool(flag(query, "allowWatchBookmarks")),
                    timeout_seconds=float(timeout) if timeout else None,
                    send_initial_events=flag(query, "sendInitialEvents"), bookmark_interval=BOOKMARK_INTERVAL,
                    encode=encode, resource_version_match=query.get("resourceVersionMatch", ""))
            except errors.APIError as err:  # the backbone's status.py does this for real
                code = 422 if isinstance(err, errors.Invalid) else 400
                return web.json_response({"kind": "Status", "message": err.message, "code": code}, status=code)

        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{namespace}/pods", handler)
        async with TestClient(server_class(app)) as client:
            await scenario(World(registry, client))

    asyncio.run(main())


async def eventually(check: Callable[[], bool], timeout: float = READ_TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ the stream


def test_the_response_is_chunked_json_lines() -> None:
    async def scenario(world: World) -> None:
        world.create("a")
        stream = await world.watch()
        assert stream.response.headers["Content-Type"] == "application/json"
        assert stream.response.headers["Transfer-Encoding"] == "chunked"
        event = await stream.next()
        assert event["type"] == "ADDED"
        assert (event["object"]["apiVersion"], event["object"]["kind"]) == ("v1", "Pod")
        assert event["object"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    run(scenario)


@pytest.mark.parametrize("resource_version", ["", "0"])
def test_from_empty_or_zero_the_current_state_comes_first_then_live_events(resource_version: str) -> None:
    async def scenario(world: World) -> None:
        world.create("a")
        world.create("b")
        world.registry.create(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}))
        world.create("elsewhere", namespace="other")  # not in the watched namespace
        stream = await world.watch(resourceVersion=resource_version)
        assert sorted(await stream.take(2)) == [("ADDED", "a"), ("ADDED", "b")]
        world.create("c")
        assert await stream.take(1) == [("ADDED", "c")]
        world.registry.delete("Pod", "default", "c", grace_period_seconds=0)
        assert await stream.take(1) == [("DELETED", "c")]
    run(scenario)


def test_from_a_revision_exactly_the_later_changes_are_replayed() -> None:
    async def scenario(world: World) -> None:
        world.create("before")
        since = world.cache.revision
        after = world.create("after")
        stream = await world.watch(resourceVersion=str(since))
        event = await stream.next()
        assert summary(event) == ("ADDED", "after")
        assert event["object"]["metadata"]["resourceVersion"] == after.metadata.resource_version
    run(scenario)


def test_selectors_filter_the_events() -> None:
    async def scenario(world: World) -> None:
        world.create("web", labels={"app": "web"})
        world.create("db", labels={"app": "db"})
        stream = await world.watch(labelSelector="app=web", fieldSelector="metadata.name=web")
        assert await stream.take(1) == [("ADDED", "web")]
        world.create("web2", labels={"app": "web"})  # label matches, name does not
        world.create("other", labels={"app": "web"})
        stream2 = await world.watch(labelSelector="app=db")
        assert await stream2.take(1) == [("ADDED", "db")]
    run(scenario)


def test_a_too_old_revision_is_200_then_one_expired_error_event() -> None:
    async def scenario(world: World) -> None:
        start = world.cache.revision
        for i in range(5):
            world.create(f"p{i}")
        stream = await world.watch(resourceVersion=str(start))
        event = await stream.next()
        assert event == {"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"too old resource version: {start} ({world.cache.oldest_revision})",
            "reason": "Expired", "code": 410}}
        assert await stream.ended()
        assert not world.cache.watchers.get("Pod")
    run(scenario, history_size=2)


@pytest.mark.parametrize("query, message", [
    ({"resourceVersion": "abc"}, 'invalid resourceVersion "abc": must be a number'),
    ({"labelSelector": "a in (b"}, ""),
])
def test_bad_input_is_refused_before_anything_is_sent(query: dict[str, str], message: str) -> None:
    async def scenario(world: World) -> None:
        response = await world.client.get("/api/v1/namespaces/default/pods", params={"watch": "true", **query})
        assert response.status == 400
        assert message in (await response.json())["message"]
        assert not world.cache.watchers.get("Pod")
    run(scenario)


# ------------------------------------------------------------------ bookmarks and timeouts


def test_bookmarks_after_each_quiet_interval_when_allowed() -> None:
    async def scenario(world: World) -> None:
        plain = await world.watch(resourceVersion=str(world.cache.revision))
        stream = await world.watch(resourceVersion=str(world.cache.revision), allowWatchBookmarks="true")
        event = await stream.next()
        assert event == {"type": "BOOKMARK", "object": {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"resourceVersion": str(world.cache.revision)}}}
        world.create("a")
        assert await stream.take(1) == [("ADDED", "a")]
        assert await plain.take(1) == [("ADDED", "a")]  # no bookmark before it
        event = await stream.next()
        assert (event["type"], event["object"]["metadata"]["resourceVersion"]) == \
            ("BOOKMARK", str(world.cache.revision))
    run(scenario)


def test_timeout_seconds_ends_the_stream_cleanly() -> None:
    async def scenario(world: World) -> None:
        world.create("a")
        loop = asyncio.get_running_loop()
        started = loop.time()
        stream = await world.watch(timeoutSeconds="0.3")
        assert await stream.take(1) == [("ADDED", "a")]
        assert await stream.ended()
        assert 0.25 <= loop.time() - started < 3
        await eventually(lambda: not world.cache.watchers.get("Pod"))
    run(scenario)


# ------------------------------------------------------------------ watch list (sendInitialEvents)


def test_send_initial_events_ends_them_with_an_annotated_bookmark() -> None:
    async def scenario(world: World) -> None:
        world.create("a")
        world.create("b")
        revision = world.cache.revision
        stream = await world.watch(sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                                   allowWatchBookmarks="true", resourceVersion="")
        assert sorted(await stream.take(2)) == [("ADDED", "a"), ("ADDED", "b")]
        end = await stream.next()
        assert end == {"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "resourceVersion": str(revision), "annotations": {INITIAL_EVENTS_END: "true"}}}}
        world.create("c")
        assert await stream.take(1) == [("ADDED", "c")]
    run(scenario)


def test_send_initial_events_with_nothing_to_send_is_just_the_end_bookmark() -> None:
    async def scenario(world: World) -> None:
        stream = await world.watch(sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                                   allowWatchBookmarks="true", resourceVersion=str(world.cache.revision))
        end = await stream.next()
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    run(scenario)


def test_send_initial_events_false_starts_from_now() -> None:
    async def scenario(world: World) -> None:
        world.create("old")
        stream = await world.watch(sendInitialEvents="false", resourceVersionMatch="NotOlderThan")
        world.create("new")
        assert await stream.take(1) == [("ADDED", "new")]
    run(scenario)


def test_watch_options_are_validated_as_kubernetes_does() -> None:
    async def scenario(world: World) -> None:
        response = await world.client.get("/api/v1/namespaces/default/pods",
                                          params={"watch": "true", "sendInitialEvents": "true"})
        assert response.status == 422
        assert (await response.json())["message"] == (
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents '
            "requires setting resourceVersionMatch to NotOlderThan")
    run(scenario)
    validate_watch_options(True, "NotOlderThan")
    validate_watch_options(None, "")
    with pytest.raises(errors.Invalid, match="forbidden for watch unless sendInitialEvents is provided"):
        validate_watch_options(None, "NotOlderThan")
    with pytest.raises(errors.Invalid, match='Unsupported value: "Exact"'):
        validate_watch_options(False, "Exact")


def test_start_revision() -> None:
    assert start_revision("", None, 7) is None
    assert start_revision("0", None, 7) is None
    assert start_revision("5", None, 7) == 5
    assert start_revision("5", True, 7) is None  # the current state is not older than 5
    assert start_revision("", False, 7) == 7
    assert start_revision("5", False, 7) == 5


# ------------------------------------------------------------------ the end of a watch


@pytest.mark.parametrize("server_class", [TestServer, NonCancellingServer])
def test_a_client_going_away_stops_the_watcher(server_class: type[TestServer]) -> None:
    async def scenario(world: World) -> None:
        world.create("a")
        stream = await world.watch()
        assert await stream.take(1) == [("ADDED", "a")]
        assert len(world.cache.watchers["Pod"]) == 1
        stream.response.close()
        await eventually(lambda: not world.cache.watchers.get("Pod"))
    run(scenario, server_class=server_class)


def test_a_watcher_closed_by_the_cache_ends_with_an_internal_error_event() -> None:
    async def scenario(world: World) -> None:
        stream = await world.watch(resourceVersion=str(world.cache.revision))
        await eventually(lambda: bool(world.cache.watchers.get("Pod")))
        (watcher,) = world.cache.watchers["Pod"]
        watcher.close("watch closed: the client fell more than 3 events behind")
        event = await stream.next()
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (500, "InternalError")
        assert "fell more than 3 events behind" in event["object"]["message"]
        assert await stream.ended()
        await eventually(lambda: not world.cache.watchers.get("Pod"))
    run(scenario)


def test_an_encoder_shapes_every_object() -> None:
    def encode(event_type: str, obj: Any) -> dict[str, Any]:
        return {"kind": "Table", "rows": [obj.metadata.name], "seen_as": event_type}

    async def scenario(world: World) -> None:
        world.create("a")
        stream = await world.watch(allowWatchBookmarks="true")
        assert (await stream.next())["object"] == {"kind": "Table", "rows": ["a"], "seen_as": "ADDED"}
        assert (await stream.next())["object"]["seen_as"] == "BOOKMARK"
    run(scenario, encode=encode)


# ------------------------------------------------------------------ a real client


def test_the_official_python_client_reads_the_stream() -> None:
    """kubernetes.watch.Watch, as an informer-style client uses it: typed events, the
    resourceVersion advancing, and the stream ending at timeoutSeconds."""
    def read(host: str) -> list[tuple[str, str, str]]:
        configuration = kubernetes.client.Configuration()
        configuration.host = host
        with kubernetes.client.ApiClient(configuration) as api:
            core = kubernetes.client.CoreV1Api(api)
            return [(event["type"], event["object"].metadata.name, event["object"].spec.containers[0].image)
                    for event in kubernetes.watch.Watch().stream(core.list_namespaced_pod, "default",
                                                                 timeout_seconds=1)]

    async def scenario(world: World) -> None:
        world.create("a")
        world.create("b")
        host = str(world.client.make_url("")).rstrip("/")
        events = await asyncio.get_running_loop().run_in_executor(None, read, host)
        assert sorted(events) == [("ADDED", "a", "nginx:1.27"), ("ADDED", "b", "nginx:1.27")]
    run(scenario)
