"""PodmanRuntime against a real Podman API service (see ``podman_service`` for how it is isolated).

Network rule: nothing here connects to a Pod IP from the host namespace.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

import pytest

import podman

from kubelet.runtime import (  # noqa: E402
    CREATED,
    EXITED,
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_UID,
    RUNNING,
    ContainerEvent,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    SandboxSpec,
)
from kubelet.runtime.podman import PodmanRuntime  # noqa: E402
from podman_service import IMAGE, NODE, PodmanService, registry, run, service  # noqa: E402,F401 (fixtures)

# --------------------------------------------------------------------------- helpers

_counter = iter(range(1_000_000))


def sandbox_spec(name: str) -> SandboxSpec:
    n = next(_counter)
    return SandboxSpec(pod_uid=f"{n:08d}-uid-{name}", pod_name=f"{name}-{n}", pod_namespace="default",
                       hostname=f"{name}-{n}")


def container_spec(sandbox: SandboxSpec, name: str, **kwargs: Any) -> ContainerSpec:
    return ContainerSpec(pod_uid=sandbox.pod_uid, pod_name=sandbox.pod_name, pod_namespace=sandbox.pod_namespace,
                         name=name, attempt=kwargs.pop("attempt", 0), image=kwargs.pop("image", IMAGE), **kwargs)


async def wait_for_state(runtime: PodmanRuntime, container_id: str, state: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        status = await runtime.container_status(container_id)
        if status is not None and status.state == state:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{container_id[:12]} not {state} after {timeout}s: {status}")
        await asyncio.sleep(0.05)


async def next_event(events: AsyncIterator[ContainerEvent], match: Callable[[ContainerEvent], bool],
                     timeout: float) -> ContainerEvent:
    async def find() -> ContainerEvent:
        async for event in events:
            if match(event):
                return event
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(find(), timeout)


async def read_logs(runtime: PodmanRuntime, container_id: str, **kwargs: Any) -> bytes:
    return b"".join([chunk async for chunk in runtime.logs(container_id, **kwargs)])


# --------------------------------------------------------------------------- tests


def test_info_and_images(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        info = await rt.info()
        assert info.name == "podman" and info.version
        assert info.cpus >= 1 and info.memory_bytes > 0 and info.kernel and info.architecture
        image_id = await rt.image_id(IMAGE)
        assert image_id is not None and image_id.startswith("sha256:")
        assert await rt.image_id("localhost/not-here:1") is None

    run(service, scenario)


def test_pull_missing_image_raises_with_the_registry_message(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        with pytest.raises(ImagePullError) as err:
            await rt.pull_image("127.0.0.1:1/nope:1")
        assert "127.0.0.1:1" in str(err.value)
        assert "connection refused" in str(err.value) or "connect" in str(err.value)

    run(service, scenario)


def test_pull_from_a_registry(service: PodmanService, registry: str) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        ref = f"{registry}/library/busybox:pushed"
        assert await rt.image_id(ref) is None
        pulled = await rt.pull_image(ref)
        assert pulled.startswith("sha256:") and await rt.image_id(ref) == pulled
        # The same image under another name: nothing new to store, same id.
        assert pulled == await rt.image_id(IMAGE)
        # A tag the registry does not have: its own words come back.
        with pytest.raises(ImagePullError, match="manifest unknown") as err:
            await rt.pull_image(f"{registry}/library/busybox")  # :latest was never pushed
        assert "busybox:latest" in str(err.value) or "latest" in str(err.value)

    run(service, scenario)


def test_sandbox_gets_an_ip_and_is_listed_and_removed(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("ip")
        sandbox = await rt.create_sandbox(spec)
        assert sandbox.ready and sandbox.pod_uid == spec.pod_uid and sandbox.pod_name == spec.pod_name
        assert sandbox.ip, "the infra container has no IP (network setup of this machine?)"
        assert [s.id for s in await rt.list_sandboxes() if s.pod_uid == spec.pod_uid] == [sandbox.id]
        # A container in it shares the Pod's hostname (UTS namespace).
        cid = await rt.create_container(sandbox.id, container_spec(spec, "main", command=["sleep", "1000"]))
        await rt.start_container(cid)
        code, out = await rt.exec(cid, ["hostname"], timeout=5)
        assert (code, out.strip()) == (0, spec.hostname)
        started = time.monotonic()
        await rt.remove_sandbox(sandbox.id)
        assert time.monotonic() - started < 5, "remove must not wait out stop timeouts"
        assert all(s.id != sandbox.id for s in await rt.list_sandboxes())
        assert await rt.container_status(cid) is None
        await rt.remove_sandbox(sandbox.id)  # idempotent

    run(service, scenario)


def test_create_sandbox_replaces_one_an_earlier_attempt_left_behind(service: PodmanService) -> None:
    """A create call that answered too late (or a start that failed halfway) leaves a pod of
    the sandbox's name: the next attempt must not fail on "name in use" forever."""
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("leftover")
        client = podman.PodmanClient(base_url=service.url)
        leftover = client.pods.create(name=rt._sandbox_name(spec))  # created, never started
        sandbox = await rt.create_sandbox(spec)
        assert sandbox.ready and sandbox.id != leftover.id
        assert [s.id for s in await rt.list_sandboxes() if s.pod_uid == spec.pod_uid] == [sandbox.id]
        await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


def test_stop_sandbox_stops_everything_in_it(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("stop")
        sandbox = await rt.create_sandbox(spec)
        cid = await rt.create_container(sandbox.id, container_spec(spec, "main", command=["sleep", "1000"]))
        await rt.start_container(cid)
        started = time.monotonic()
        await rt.stop_sandbox(sandbox.id)
        assert time.monotonic() - started < 5
        status = await wait_for_state(rt, cid, EXITED)
        assert status.exit_code == 137
        (listed,) = [s for s in await rt.list_sandboxes() if s.id == sandbox.id]
        assert not listed.ready and listed.ip == ""
        await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


def test_running_container_listed_with_labels_then_killed_event(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("kill")
        sandbox = await rt.create_sandbox(spec)
        events = rt.events()
        try:
            cid = await rt.create_container(sandbox.id, container_spec(spec, "main", attempt=2,
                                                                       command=["sleep", "1000"]))
            assert (await rt.container_status(cid)).state == CREATED  # type: ignore[union-attr]
            await rt.start_container(cid)
            (status,) = [c for c in await rt.list_containers() if c.pod_uid == spec.pod_uid]
            assert status.id == cid and status.state == RUNNING and status.name == "main"
            assert status.attempt == 2 and status.pod_name == spec.pod_name and status.pod_namespace == "default"
            assert status.image == IMAGE and status.image_id == await rt.image_id(IMAGE)
            assert status.started_at is not None and abs(status.started_at - time.time()) < 30
            # The "start" event arrives (the stream was opened before the container started).
            await next_event(events, lambda e: e.container_id == cid and e.type == "start", 5)

            # podman kill, as an operator (or the OOM killer) would do behind the kubelet's back.
            client = podman.PodmanClient(base_url=service.url)
            labels = client.containers.get(cid).labels
            assert labels[LABEL_MANAGED] == "true" and labels[LABEL_NODE] == NODE
            assert labels[LABEL_POD_UID] == spec.pod_uid and labels[LABEL_CONTAINER_NAME] == "main"
            assert labels[LABEL_ATTEMPT] == "2"
            killed_at = time.monotonic()
            client.containers.get(cid).kill()
            client.close()
            died = await next_event(events, lambda e: e.container_id == cid and e.type == "died", 2)
            assert time.monotonic() - killed_at < 2
            assert died.pod_uid == spec.pod_uid and died.container_name == "main"
            status = await wait_for_state(rt, cid, EXITED, timeout=2)
            assert (status.exit_code, status.reason) == (137, "Error")
            assert status.finished_at is not None and status.finished_at >= status.started_at  # type: ignore[operator]
            await rt.remove_container(cid)
            await next_event(events, lambda e: e.container_id == cid and e.type == "remove", 5)
            assert await rt.container_status(cid) is None
            await rt.remove_container(cid)  # idempotent
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


def test_failing_container_exit_code_reason_and_logs(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("fail")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(
                spec, "fail", command=["sh", "-c"], args=["echo hi; echo oops >&2; exit 3"]))
            await rt.start_container(cid)
            status = await wait_for_state(rt, cid, EXITED)
            assert (status.exit_code, status.reason) == (3, "Error")
            logs = await read_logs(rt, cid)
            assert b"hi\n" in logs and b"oops\n" in logs
            assert await read_logs(rt, cid, tail=1) == b"oops\n"

            ok = await rt.create_container(sandbox.id, container_spec(
                spec, "ok", args=["-c", "echo $GREETING from $(cat /proc/self/cgroup >/dev/null; echo here)"],
                command=["sh"], env={"GREETING": "hello"}, working_dir="/tmp"))
            await rt.start_container(ok)
            status = await wait_for_state(rt, ok, EXITED)
            assert (status.exit_code, status.reason) == (0, "Completed")
            assert await read_logs(rt, ok) == b"hello from here\n"

            # The OCI runtime refuses to start it: an error now, "StartError" (exit 128) from then on.
            bad = await rt.create_container(sandbox.id, container_spec(spec, "bad", command=["/no/such/binary"]))
            with pytest.raises(ContainerRuntimeError) as err:
                await rt.start_container(bad)
            assert "/no/such/binary" in str(err.value)
            status = await rt.container_status(bad)
            assert status is not None
            assert (status.state, status.exit_code, status.reason) == (EXITED, 128, "StartError")
            assert "/no/such/binary" in status.message and status.finished_at is not None
            assert [c.reason for c in await rt.list_containers() if c.id == bad] == ["StartError"]

            # args alone keep the image's entrypoint (none) and replace its CMD ["sh"].
            only_args = await rt.create_container(sandbox.id, container_spec(
                spec, "args", args=["sh", "-c", "pwd; exit 0"], working_dir="/etc"))
            await rt.start_container(only_args)
            await wait_for_state(rt, only_args, EXITED)
            assert await read_logs(rt, only_args) == b"/etc\n"
        finally:
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


def test_follow_logs_streams_until_the_container_exits(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("follow")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(
                spec, "talk", command=["sh", "-c", "echo one; sleep 1; echo two"]))
            await rt.start_container(cid)
            got = await asyncio.wait_for(read_logs(rt, cid, follow=True), 10)
            assert got == b"one\ntwo\n"

            # Closing a follow stream early ends its reader thread (no leak).
            forever = await rt.create_container(sandbox.id, container_spec(
                spec, "forever", command=["sh", "-c", "echo tick; sleep 1000"]))
            await rt.start_container(forever)
            stream = rt.logs(forever, follow=True)
            assert await asyncio.wait_for(stream.__anext__(), 5) == b"tick\n"
            await stream.aclose()  # type: ignore[attr-defined]
            await _no_stream_threads("podman-logs-")
        finally:
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


async def _stream_thread(prefix: str, timeout: float = 5.0) -> None:
    import threading

    deadline = time.monotonic() + timeout
    while not any(t.name.startswith(prefix) for t in threading.enumerate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {prefix} thread after {timeout}s")
        await asyncio.sleep(0.05)


async def _no_stream_threads(prefix: str, timeout: float = 3.0) -> None:
    import threading

    deadline = time.monotonic() + timeout
    while any(t.name.startswith(prefix) for t in threading.enumerate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{prefix} thread still alive after close")
        await asyncio.sleep(0.05)


def test_stop_container_sigkills_after_the_grace_period(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("grace")
        sandbox = await rt.create_sandbox(spec)
        try:
            stubborn = await rt.create_container(sandbox.id, container_spec(
                spec, "stubborn", command=["sh", "-c", 'trap "" TERM; sleep 1000']))
            polite = await rt.create_container(sandbox.id, container_spec(
                spec, "polite", command=["sh", "-c", 'trap "exit 0" TERM; while true; do sleep 0.1; done']))
            await rt.start_container(stubborn)
            await rt.start_container(polite)
            started = time.monotonic()
            await rt.stop_container(stubborn, 1)
            took = time.monotonic() - started
            assert 0.9 <= took < 3, took
            status = await rt.container_status(stubborn)
            assert status is not None and (status.state, status.exit_code) == (EXITED, 137)

            started = time.monotonic()
            await rt.stop_container(polite, 10)
            assert time.monotonic() - started < 3
            status = await rt.container_status(polite)
            assert status is not None and (status.state, status.exit_code, status.reason) == (EXITED, 0, "Completed")

            await rt.stop_container(stubborn, 1)  # already stopped: no error, no wait
            never = await rt.create_container(sandbox.id, container_spec(spec, "never", command=["true"]))
            await rt.stop_container(never, 1)  # never started: nothing to do
            await rt.stop_container("0" * 64, 1)  # gone: nothing to do
        finally:
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


def test_exec_returns_exit_code_and_output(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("exec")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(spec, "main", command=["sleep", "1000"]))
            await rt.start_container(cid)
            assert await rt.exec(cid, ["sh", "-c", "echo out; echo err >&2; exit 4"], timeout=5) == (4, "out\nerr\n")
            assert await rt.exec(cid, ["true"], timeout=5) == (0, "")
            code, out = await rt.exec(cid, ["no-such-binary"], timeout=5)
            assert code != 0 and "no-such-binary" in out
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await rt.exec(cid, ["sleep", "30"], timeout=0.5)
            assert time.monotonic() - started < 2
            # The pool is not stuck behind the timed-out exec.
            assert await rt.exec(cid, ["echo", "again"], timeout=5) == (0, "again\n")
        finally:
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario)


def test_lists_only_this_nodes_labelled_containers(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        client = podman.PodmanClient(base_url=service.url)
        stranger = client.containers.create(IMAGE, command=["sleep", "1000"], name="not-pykube")
        other_pod = client.pods.create("other-node-pod", labels={LABEL_MANAGED: "true", LABEL_NODE: "elsewhere"})
        spec = sandbox_spec("mine")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(spec, "main", command=["sleep", "1000"]))
            sandboxes = await rt.list_sandboxes()
            assert sandbox.id in {s.id for s in sandboxes} and other_pod.id not in {s.id for s in sandboxes}
            containers = await rt.list_containers()
            assert cid in {c.id for c in containers}
            assert stranger.id not in {c.id for c in containers}
            assert all(c.name for c in containers), "infra containers are the sandbox, not containers"
            # Another node's kubelet on the same Podman sees none of ours.
            other = PodmanRuntime(service.url, "elsewhere")
            try:
                assert cid not in {c.id for c in await other.list_containers()}
                assert other_pod.id in {s.id for s in await other.list_sandboxes()}
                assert sandbox.id not in {s.id for s in await other.list_sandboxes()}
            finally:
                await other.close()
            # A pykube container without a node label (an orphan, made by hand or by an older
            # kubelet) is this node's: listed, so the kubelet can adopt or remove it.
            orphan = client.containers.create(IMAGE, command=["sleep", "1000"], name="pykube-orphan", labels={
                LABEL_MANAGED: "true", LABEL_POD_UID: "orphan-uid", LABEL_CONTAINER_NAME: "main"})
            try:
                (listed,) = [c for c in await rt.list_containers() if c.id == orphan.id]
                assert listed.pod_uid == "orphan-uid"
            finally:
                orphan.remove(force=True)
        finally:
            await rt.remove_sandbox(sandbox.id)
            client.containers.get(stranger.id).remove(force=True)
            client.api.delete(f"/pods/{other_pod.id}", params={"force": True})
            client.close()

    run(service, scenario)


def test_events_iterator_closes_cleanly(service: PodmanService) -> None:
    async def scenario(rt: PodmanRuntime) -> None:
        async def consume() -> None:
            async for _ in rt.events():
                pass

        task = asyncio.create_task(consume())
        await _stream_thread("podman-events-")  # the stream is open: closing it now is the test
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _no_stream_threads("podman-events-")

    run(service, scenario)


def test_per_container_ulimits_and_resources(service: PodmanService) -> None:
    ulimits = [{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 512, "Hard": 512}]

    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("limits")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(
                spec, "main", command=["sleep", "1000"], memory_limit_bytes=64 << 20, cpu_limit_millis=250))
            await rt.start_container(cid)
            # PID 1's limits: Podman gives exec sessions soft nofile = hard, so `ulimit -n` in an
            # exec would say 2048.
            code, limits = await rt.exec(cid, ["cat", "/proc/1/limits"], timeout=5)
            assert code == 0
            rows = {line[:26].strip(): line[26:].split()[:2] for line in limits.splitlines()}
            assert rows["Max open files"] == ["1024", "2048"] and rows["Max processes"] == ["512", "512"]
            client = podman.PodmanClient(base_url=service.url)
            host = client.containers.get(cid).attrs["HostConfig"]
            client.close()
            assert host["Memory"] == 64 << 20
            assert (host["CpuQuota"], host["CpuPeriod"]) == (25_000, 100_000)
        finally:
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario, ulimits=ulimits)


def test_default_ulimits_are_startable_here(service: PodmanService) -> None:
    """What ``pykubelet --ulimits auto`` passes must be something runc can actually set."""
    from kubelet.runtime.podman_mapping import default_ulimits

    ulimits = default_ulimits()
    if ulimits is None:
        pytest.skip("CAP_SYS_RESOURCE present: Podman's own limits are used")

    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("auto")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(spec, "main", command=["sleep", "1000"]))
            await rt.start_container(cid)
            assert (await rt.container_status(cid)).state == RUNNING  # type: ignore[union-attr]
        finally:
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario, ulimits=ulimits)


def test_event_stream_reconnects_without_losing_or_repeating_events(service: PodmanService) -> None:
    """Cut the stream's connection under the reader (as a Podman restart would): what happened
    while it reconnected is replayed from the last event seen, and nothing is delivered twice."""
    import socket

    from kubelet.runtime.podman_streams import response_socket

    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("reconnect")
        sandbox = await rt.create_sandbox(spec)
        events = rt.events()
        try:
            a = await rt.create_container(sandbox.id, container_spec(spec, "a", command=["sleep", "1000"]))
            await rt.start_container(a)
            await next_event(events, lambda e: e.container_id == a and e.type == "start", 5)
            pipe = events._pipe  # type: ignore[attr-defined]
            first_connection = pipe._response
            sock = response_socket(first_connection)
            assert sock is not None
            sock.shutdown(socket.SHUT_RDWR)
            await rt.stop_container(a, 0)  # dies while the stream is down (reconnect waits 1 s)
            b = await rt.create_container(sandbox.id, container_spec(spec, "b", command=["sleep", "1000"]))
            await rt.start_container(b)
            seen: list[tuple[str, str]] = []

            async def until_b_started() -> None:
                async for e in events:
                    seen.append((e.container_id, e.type))
                    if (e.container_id, e.type) == (b, "start"):
                        return

            await asyncio.wait_for(until_b_started(), 5)
            assert pipe._response is not None and pipe._response is not first_connection  # reconnected
            with pytest.raises(asyncio.TimeoutError):  # and nothing more (no replayed duplicates)
                extra = await asyncio.wait_for(events.__anext__(), 0.5)
                seen.append((extra.container_id, extra.type))
            assert seen == [(a, "died"), (b, "start")]
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            await rt.remove_sandbox(sandbox.id)

    run(service, scenario)
