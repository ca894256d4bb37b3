"""The fake runtime keeps the Runtime protocol's promises (the same ones the Podman runtime's
integration tests check against real Podman), deterministically, with a FakeClock."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

import pytest

from kubelet.runtime import (
    CREATED,
    EXITED,
    RUNNING,
    ContainerEvent,
    ContainerRuntimeError,
    ContainerSpec,
    ImageNotPresentError,
    ImagePullError,
    Runtime,
    SandboxSpec,
    normalize_image,
)
from kubelet.runtime.fake import FakeClock, FakeRuntime, ImageBehavior

T = TypeVar("T")
IMAGE = "busybox:1.36"


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), 5)

    return asyncio.run(bounded())


def sandbox_spec(name: str = "web", uid: str = "uid-1") -> SandboxSpec:
    return SandboxSpec(pod_uid=uid, pod_name=name, pod_namespace="default", hostname=name)


def container_spec(sb: SandboxSpec, name: str = "main", attempt: int = 0, image: str = IMAGE) -> ContainerSpec:
    return ContainerSpec(pod_uid=sb.pod_uid, pod_name=sb.pod_name, pod_namespace=sb.pod_namespace,
                         name=name, attempt=attempt, image=image)


def make(**kwargs: Any) -> tuple[FakeRuntime, FakeClock]:
    clock = FakeClock(1000.0)
    rt = FakeRuntime("n1", registry=[IMAGE, "nginx"], images=[IMAGE], clock=clock, **kwargs)
    return rt, clock


async def start(rt: FakeRuntime, sb: SandboxSpec, name: str = "main", image: str = IMAGE,
                attempt: int = 0) -> tuple[str, str]:
    sandbox = next((s for s in await rt.list_sandboxes() if s.pod_uid == sb.pod_uid), None)
    sandbox_id = sandbox.id if sandbox else (await rt.create_sandbox(sb)).id
    cid = await rt.create_container(sandbox_id, container_spec(sb, name, attempt, image))
    await rt.start_container(cid)
    return sandbox_id, cid


def drain(stream: Any) -> list[ContainerEvent]:
    """Events already buffered in a fake stream (no waiting)."""
    out = list(stream.buffer)
    stream.buffer.clear()
    return out


def test_it_is_a_runtime() -> None:
    rt: Runtime = FakeRuntime()
    assert callable(rt.events) and callable(rt.logs)


def test_normalize_image_follows_docker_rules() -> None:
    assert normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("me/app:1") == "docker.io/me/app:1"
    assert normalize_image("docker.io/nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("localhost/busybox:test") == "localhost/busybox:test"
    assert normalize_image("127.0.0.1:5000/x/y") == "127.0.0.1:5000/x/y:latest"
    assert normalize_image("localhost:5000/a@sha256:" + "a" * 64) == "localhost:5000/a@sha256:" + "a" * 64
    assert normalize_image("sha256:" + "b" * 64) == "sha256:" + "b" * 64


def test_images_cache_pull_and_registry_errors() -> None:
    async def scenario() -> None:
        rt, _ = make()
        cached = await rt.image_id("docker.io/library/busybox:1.36")  # same image, other spelling
        assert cached is not None and cached.startswith("sha256:") and len(cached) == 71
        assert await rt.image_id("nginx") is None
        nginx = await rt.pull_image("nginx:latest")
        assert await rt.image_id("nginx") == nginx and nginx != cached
        await rt.pull_image("nginx")
        assert rt.pulls["docker.io/library/nginx:latest"] == 2

        with pytest.raises(ImagePullError, match="manifest unknown") as err:
            await rt.pull_image("nope:1")
        assert "docker.io/library/nope:1" in str(err.value)
        rt.pull_errors[normalize_image("nginx")] = "toomanyrequests: slow down"
        with pytest.raises(ImagePullError, match="toomanyrequests"):
            await rt.pull_image("nginx")
        assert rt.pulls == {"docker.io/library/nginx:latest": 3, "docker.io/library/nope:1": 1}
        assert rt.calls_to("pull_image") == [("nginx:latest",), ("nginx",), ("nope:1",), ("nginx",)]

    run(scenario)


def test_sandbox_lifecycle_ips_and_idempotent_removal() -> None:
    async def scenario() -> None:
        rt, _ = make()
        a = await rt.create_sandbox(sandbox_spec("a", "uid-a"))
        b = await rt.create_sandbox(sandbox_spec("b", "uid-b"))
        assert (a.ip, b.ip) == ("10.88.0.2", "10.88.0.3") and a.ready
        assert a.pod_uid == "uid-a" and a.pod_name == "a" and a.pod_namespace == "default"
        with pytest.raises(ContainerRuntimeError, match="pod already exists"):
            await rt.create_sandbox(sandbox_spec("a", "uid-a"))
        await rt.stop_sandbox(a.id)
        (stopped,) = [s for s in await rt.list_sandboxes() if s.id == a.id]
        assert not stopped.ready and stopped.ip == ""
        await rt.remove_sandbox(a.id)
        await rt.remove_sandbox(a.id)
        await rt.stop_sandbox(a.id)
        assert [s.id for s in await rt.list_sandboxes()] == [b.id]
        c = await rt.create_sandbox(sandbox_spec("c", "uid-c"))
        assert c.ip == "10.88.0.2"  # freed address reused

    run(scenario)


def test_container_states_labels_and_create_errors() -> None:
    async def scenario() -> None:
        rt, clock = make()
        sb = sandbox_spec()
        sandbox = await rt.create_sandbox(sb)
        cid = await rt.create_container(sandbox.id, container_spec(sb, attempt=3))
        status = await rt.container_status(cid)
        assert status is not None and status.state == CREATED and status.started_at is None
        clock.advance(1)
        await rt.start_container(cid)
        await rt.start_container(cid)  # already running: fine
        (status,) = await rt.list_containers()
        assert (status.id, status.state, status.name, status.attempt) == (cid, RUNNING, "main", 3)
        assert (status.pod_uid, status.pod_name, status.pod_namespace) == ("uid-1", "web", "default")
        assert status.image == "docker.io/library/busybox:1.36" and status.image_id == await rt.image_id(IMAGE)
        assert status.started_at == 1001.0 and status.finished_at is None

        with pytest.raises(ContainerRuntimeError, match="already in use"):
            await rt.create_container(sandbox.id, container_spec(sb, attempt=3))
        with pytest.raises(ImageNotPresentError):
            await rt.create_container(sandbox.id, container_spec(sb, "side", image="nginx"))
        with pytest.raises(ContainerRuntimeError, match="no such pod"):
            await rt.create_container("nope", container_spec(sb, "x"))
        assert await rt.container_status("nope") is None

    run(scenario)


def test_scripted_exit_after_is_lazy_and_deterministic() -> None:
    async def scenario() -> None:
        rt, clock = make()
        rt.behave(IMAGE, exit_after=5, exit_code=3, output=b"hi\nthere\n")
        events = rt.events()
        _, cid = await start(rt, sandbox_spec())
        clock.advance(4.9)
        assert (await rt.container_status(cid)).state == RUNNING  # type: ignore[union-attr]
        clock.advance(0.2)
        status = await rt.container_status(cid)
        assert status is not None and (status.state, status.exit_code, status.reason) == (EXITED, 3, "Error")
        assert status.finished_at == 1005.0  # when it was due, not when we looked
        assert [(e.type, e.time) for e in drain(events)] == [("start", 1000.0), ("died", 1005.0)]

        rt.behave("nginx", exit_after=0)
        await rt.pull_image("nginx")
        _, ok = await start(rt, sandbox_spec(), "ok", "nginx")
        rt.tick()
        status = await rt.container_status(ok)
        assert status is not None and (status.exit_code, status.reason) == (0, "Completed")

    run(scenario)


def test_kill_stop_remove_and_events() -> None:
    async def scenario() -> None:
        rt, clock = make()
        events = rt.events()
        sb = sandbox_spec()
        sandbox_id, cid = await start(rt, sb)
        clock.advance(2)
        rt.kill(cid)
        status = await rt.container_status(cid)
        assert status is not None and (status.state, status.exit_code, status.reason) == (EXITED, 137, "Error")
        with pytest.raises(ContainerRuntimeError, match="state improper"):
            rt.kill(cid)

        _, oom = await start(rt, sb, "hog")
        rt.kill(oom, oom=True)
        assert (await rt.container_status(oom)).reason == "OOMKilled"  # type: ignore[union-attr]

        rt.behave("nginx", ignores_sigterm=True)
        await rt.pull_image("nginx")
        _, stubborn = await start(rt, sb, "stubborn", "nginx")
        _, polite = await start(rt, sb, "polite")
        await rt.stop_container(stubborn, 1)
        await rt.stop_container(polite, 30)
        assert (await rt.container_status(stubborn)).exit_code == 137  # type: ignore[union-attr]
        assert (await rt.container_status(polite)).exit_code == 143  # type: ignore[union-attr]
        await rt.stop_container(polite, 30)  # already stopped
        await rt.stop_container("gone", 30)
        assert rt.calls_to("stop_container")[:2] == [(stubborn, 1), (polite, 30)]

        await rt.remove_container(cid)
        await rt.remove_container(cid)
        assert await rt.container_status(cid) is None
        await rt.remove_sandbox(sandbox_id)
        assert await rt.list_containers() == []
        seen = drain(events)
        assert all(e.pod_uid == "uid-1" for e in seen)
        got = [(e.type, e.container_name) for e in seen]
        assert got == [
            ("start", "main"), ("died", "main"),
            ("start", "hog"), ("died", "hog"),
            ("start", "stubborn"), ("start", "polite"), ("died", "stubborn"), ("died", "polite"),
            ("remove", "main"),
            ("remove", "hog"), ("remove", "stubborn"), ("remove", "polite"),
        ]

    run(scenario)


def test_events_wake_a_waiting_consumer_and_close_cleanly() -> None:
    async def scenario() -> None:
        rt, clock = make()
        rt.behave(IMAGE, exit_after=10)
        events = rt.events()
        _, cid = await start(rt, sandbox_spec())
        assert (await events.__anext__()).type == "start"
        pending = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0)
        assert not pending.done()
        clock.advance(10)
        rt.tick()
        died = await pending
        assert (died.type, died.container_id, died.time) == ("died", cid, 1010.0)

        # Cancelling a pending __anext__ ends the stream, like an async generator.
        pending = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()
        assert not rt._streams

        # close() ends every stream.
        other = rt.events()
        waiting = asyncio.ensure_future(other.__anext__())
        await asyncio.sleep(0)
        await rt.close()
        with pytest.raises(StopAsyncIteration):
            await waiting

    run(scenario)


def test_events_with_a_real_clock_fire_on_time() -> None:
    async def scenario() -> None:
        rt = FakeRuntime("n1", images=[IMAGE])
        rt.behave(IMAGE, exit_after=0.05)
        events = rt.events()
        _, cid = await start(rt, sandbox_spec())
        kinds = [(await events.__anext__()).type, (await events.__anext__()).type]
        assert kinds == ["start", "died"]
        await events.aclose()  # type: ignore[attr-defined]

    run(scenario)


def test_exec_logs_and_start_errors() -> None:
    async def scenario() -> None:
        rt, clock = make(exec_handler=lambda cmd: (0, "default\n"))
        rt.behave(IMAGE, output=b"one\ntwo\nthree\n",
                  exec=lambda cmd: (1, "not ready\n") if cmd == ["check"] else (0, " ".join(cmd) + "\n"))
        sb = sandbox_spec()
        _, cid = await start(rt, sb)
        assert await rt.exec(cid, ["check"], 1) == (1, "not ready\n")
        assert await rt.exec(cid, ["echo", "x"], 1) == (0, "echo x\n")
        assert [c async for c in rt.logs(cid)] == [b"one\ntwo\nthree\n"]
        assert b"".join([c async for c in rt.logs(cid, tail=1)]) == b"three\n"
        assert [c async for c in rt.logs(cid, tail=0)] == []

        follow = rt.logs(cid, follow=True)
        assert await follow.__anext__() == b"one\ntwo\nthree\n"
        more = asyncio.ensure_future(follow.__anext__())
        await asyncio.sleep(0)
        rt.write_output(cid, b"four\n")
        assert await more == b"four\n"
        ended = asyncio.ensure_future(follow.__anext__())
        await asyncio.sleep(0)
        rt.kill(cid)
        with pytest.raises(StopAsyncIteration):
            await ended
        with pytest.raises(ContainerRuntimeError, match="running containers"):
            await rt.exec(cid, ["true"], 1)

        rt.behave("nginx", start_error='exec: "/app": stat /app: no such file or directory')
        await rt.pull_image("nginx")
        sandbox_id = (await rt.list_sandboxes())[0].id
        bad = await rt.create_container(sandbox_id, container_spec(sb, "bad", image="nginx"))
        with pytest.raises(ContainerRuntimeError, match="no such file"):
            await rt.start_container(bad)
        status = await rt.container_status(bad)
        assert status is not None and (status.state, status.exit_code, status.reason) == (EXITED, 128, "StartError")
        assert "/app" in status.message

        rt2, _ = make(exec_handler=lambda cmd: (0, "default\n"))
        _, c2 = await start(rt2, sb)
        assert await rt2.exec(c2, ["x"], 1) == (0, "default\n")
        rt2.behave(IMAGE, ImageBehavior())
        _, c3 = await start(rt2, sb, "plain")
        assert await rt2.exec(c3, ["x"], 1) == (0, "default\n")

    run(scenario)


def test_injected_failures_calls_and_info() -> None:
    async def scenario() -> None:
        rt, _ = make()
        rt.fail("create_sandbox", ContainerRuntimeError("netavark: boom"), times=2)
        for _ in range(2):
            with pytest.raises(ContainerRuntimeError, match="boom"):
                await rt.create_sandbox(sandbox_spec())
        assert (await rt.create_sandbox(sandbox_spec())).ready
        info = await rt.info()
        assert (info.name, info.hostname, info.cpus) == ("fake", "n1", 4)
        assert [name for name, _ in rt.calls] == ["create_sandbox"] * 3 + ["info"]

        quiet = FakeRuntime("hollow", record_calls=False)
        await quiet.info()
        assert quiet.calls == []

    run(scenario)
