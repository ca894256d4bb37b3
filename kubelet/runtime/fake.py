"""An in-memory Runtime: unit tests of the kubelet, and hollow nodes in benchmarks.

It keeps the same contract as the Podman runtime (states, reasons, exit codes, events, errors
with Podman-like words) but runs nothing: no containers, no threads, no sleeps, so a thousand
hollow nodes fit in one process. Time comes from an injectable clock; a container that should
exit after some seconds is noticed lazily, on the next call (any call ``tick()``\\s first) or by
a waiting ``events()``/``logs(follow=True)`` consumer, which waits on the loop only until the
next scheduled exit. With a :class:`FakeClock` the test moves time and calls :meth:`tick`
(or :meth:`FakeRuntime.advance`): fully deterministic.

Scripting:

* ``registry``: image references a pull can find; others fail with a registry-like
  ``manifest unknown``. ``pull_errors[ref]`` forces a failure with given words.
* ``images``: what is already in the node's cache (no pull needed).
* ``behave(image, ...)``: what containers of an image do once started (:class:`ImageBehavior`):
  run forever (default), exit after N seconds with a code, ignore SIGTERM, fail to start, print
  output, answer exec.
* ``kill(container_id, exit_code=137, oom=False)``: ``podman kill`` (or the OOM killer) behind
  the kubelet's back.
* ``fail(method, error, times=1)``: the next call(s) of a method raise.
* ``calls`` records every call (``record_calls=False`` for hollow nodes); ``pulls`` counts pulls
  per reference.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import heapq
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable

from kubelet.runtime import (
    CREATED,
    EXITED,
    RUNNING,
    ContainerEvent,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerStatus,
    ImageNotPresentError,
    ImagePullError,
    RuntimeInfo,
    Sandbox,
    SandboxSpec,
    normalize_image,
)

ExecHandler = Callable[[list[str]], "tuple[int, str]"]


class FakeClock:
    """A clock that only moves when told: ``clock()`` is now, ``advance(s)`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass(frozen=True)
class ImageBehavior:
    """What a container of an image does once started."""

    exit_after: float | None = None  # seconds after start; None: runs until stopped or killed
    exit_code: int = 0  # when it exits on its own
    output: bytes = b""  # its logs, written at start
    ignores_sigterm: bool = False  # stop() must SIGKILL it (exit 137), as a shell PID 1 does
    term_exit_code: int = 143  # exit code when SIGTERM ends it (128 + 15)
    start_error: str | None = None  # the OCI runtime refuses to start it (e.g. no such binary)
    exec: ExecHandler | None = None  # answers exec(); default (0, "")


RUNS_FOREVER = ImageBehavior()


@dataclass
class _Container:
    id: str
    sandbox_id: str
    spec: ContainerSpec
    image: str  # normalized reference
    image_id: str
    behavior: ImageBehavior
    state: str = CREATED
    exit_code: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    reason: str = ""
    message: str = ""
    output: bytearray = field(default_factory=bytearray)
    generation: int = 0  # bumps on every start: stale scheduled exits are ignored

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            id=self.id, pod_uid=self.spec.pod_uid, pod_name=self.spec.pod_name,
            pod_namespace=self.spec.pod_namespace, name=self.spec.name, attempt=self.spec.attempt,
            image=self.image, image_id=self.image_id, state=self.state,
            exit_code=self.exit_code if self.state == EXITED else 0,
            started_at=self.started_at, finished_at=self.finished_at if self.state == EXITED else None,
            reason=self.reason, message=self.message,
        )


@dataclass
class _Sandbox:
    id: str
    spec: SandboxSpec
    ip: str
    ready: bool = True

    def view(self) -> Sandbox:
        return Sandbox(id=self.id, pod_uid=self.spec.pod_uid, pod_name=self.spec.pod_name,
                       pod_namespace=self.spec.pod_namespace, ip=self.ip if self.ready else "", ready=self.ready)


class FakeRuntime:
    """The Runtime protocol in memory (see the module docstring)."""

    # Sandbox addresses come from ``pod_cidr`` given here: no Node podCIDR needed (hollow nodes).
    needs_pod_cidr = False

    def __init__(
        self,
        node_name: str = "fake",
        *,
        registry: Iterable[str] = (),
        images: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        pod_cidr: str = "10.88.0.0/16",
        cpus: int = 4,
        memory_bytes: int = 16 << 30,
        record_calls: bool = True,
        exec_handler: ExecHandler | None = None,
        any_image: bool = False,
    ) -> None:
        """any_image: every image can be pulled (a hollow node's fake registry has them all)."""
        self.node_name = node_name
        self.any_image = any_image
        self.clock = clock
        self.registry: set[str] = {normalize_image(r) for r in registry}
        self.images: dict[str, str] = {normalize_image(r): self._digest(normalize_image(r)) for r in images}
        self.behaviors: dict[str, ImageBehavior] = {}
        self.pull_errors: dict[str, str] = {}
        self.pulls: collections.Counter[str] = collections.Counter()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.record_calls = record_calls
        self.exec_handler = exec_handler
        self.cpus = cpus
        self.memory_bytes = memory_bytes
        self.containers: dict[str, _Container] = {}
        self.sandboxes: dict[str, _Sandbox] = {}
        self._network = ipaddress.ip_network(pod_cidr)
        self.network = ""  # the podCIDR ensure_network was last given
        self._next_host = 2  # .0 is the network, .1 the bridge (gateway), like Podman's
        self._free_ips: list[str] = []
        self._ids = 0
        self._due: list[tuple[float, int, str, int]] = []  # (when, seq, container id, generation)
        self._failures: dict[str, list[BaseException]] = {}
        self._streams: set[_FakeEventStream] = set()
        self._waiters: set[asyncio.Event] = set()
        self._closed = False

    # ------------------------------------------------------------------ scripting

    def behave(self, image: str, behavior: ImageBehavior | None = None, **kwargs: Any) -> ImageBehavior:
        """Set what containers of ``image`` do (an ImageBehavior, or its fields as keywords)."""
        chosen = behavior if behavior is not None else ImageBehavior(**kwargs)
        self.behaviors[normalize_image(image)] = chosen
        return chosen

    def add_image(self, image: str, *, cached: bool = False) -> str:
        """Make an image pullable (and, with ``cached``, already on the node); its id."""
        ref = normalize_image(image)
        self.registry.add(ref)
        if cached:
            self.images[ref] = self._digest(ref)
        return self._digest(ref)

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error``."""
        self._failures.setdefault(method, []).extend([error] * times)

    def kill(self, container_id: str, exit_code: int = 137, *, oom: bool = False) -> None:
        """``podman kill`` (or, with ``oom``, the kernel's OOM killer) behind the kubelet's back."""
        self.tick()
        c = self.containers.get(container_id)
        if c is None or c.state != RUNNING:
            raise ContainerRuntimeError(f"can only kill running containers. {container_id} is in state "
                                        f"{c.state if c else 'unknown'}: container state improper")
        self._exit(c, exit_code, self.clock(), "OOMKilled" if oom else None)

    def write_output(self, container_id: str, data: bytes) -> None:
        """More output from a running container (wakes ``logs(follow=True)`` readers)."""
        self.containers[container_id].output += data
        self._notify()

    def calls_to(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    def advance(self, seconds: float) -> None:
        """Move a :class:`FakeClock` on and let due containers exit."""
        if not isinstance(self.clock, FakeClock):
            raise TypeError("advance() needs a FakeClock; with a real clock time moves by itself")
        self.clock.advance(seconds)
        self.tick()

    def tick(self) -> None:
        """Let every container whose scheduled exit is due exit now (emitting ``died``)."""
        now = self.clock()
        while self._due and self._due[0][0] <= now:
            when, _, cid, generation = heapq.heappop(self._due)
            c = self.containers.get(cid)
            if c is not None and c.state == RUNNING and c.generation == generation:
                self._exit(c, c.behavior.exit_code, when, None)

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, *args: Any) -> None:
        if self.record_calls:
            self.calls.append((method, args))
        if self._closed:
            raise ContainerRuntimeError("runtime closed")
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)
        self.tick()

    def _new_id(self) -> str:
        self._ids += 1
        return hashlib.sha256(f"{self.node_name}/{self._ids}".encode()).hexdigest()

    @staticmethod
    def _digest(ref: str) -> str:
        return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()

    def _emit(self, c: _Container, kind: str, when: float) -> None:
        if self._streams:
            event = ContainerEvent(container_id=c.id, pod_uid=c.spec.pod_uid, container_name=c.spec.name,
                                   type=kind, time=when)
            for stream in self._streams:
                stream.buffer.append(event)
        self._notify()

    def _notify(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def _exit(self, c: _Container, code: int, when: float, reason: str | None) -> None:
        c.state, c.exit_code, c.finished_at = EXITED, code, when
        c.reason = reason or ("Completed" if code == 0 else "Error")
        self._emit(c, "died", when)

    def _next_due_in(self) -> float | None:
        while self._due:
            _, _, cid, generation = self._due[0]
            c = self.containers.get(cid)
            if c is not None and c.state == RUNNING and c.generation == generation:
                return max(0.0, self._due[0][0] - self.clock())
            heapq.heappop(self._due)  # stale: stopped, killed or removed meanwhile
        return None

    async def _wait_change(self) -> None:
        """Sleep on the loop until something changes or the next scheduled exit is due."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            delay = self._next_due_in()
            if delay is None:
                await waiter.wait()
            else:
                try:
                    await asyncio.wait_for(waiter.wait(), max(delay, 0.001))
                except asyncio.TimeoutError:
                    pass
        finally:
            self._waiters.discard(waiter)
        self.tick()

    def _container(self, container_id: str) -> _Container:
        c = self.containers.get(container_id)
        if c is None:
            raise ContainerRuntimeError(f"no container with name or ID {container_id!r} found: no such container")
        return c

    # ------------------------------------------------------------------ node

    async def info(self) -> RuntimeInfo:
        self._call("info")
        return RuntimeInfo(name="fake", version="0.1.0", os="pykube hollow node", kernel="fake",
                           architecture="amd64", cpus=self.cpus, memory_bytes=self.memory_bytes,
                           hostname=self.node_name)

    async def ensure_network(self, pod_cidr: str) -> None:
        """Remembered only (``network``): sandboxes keep taking addresses from ``pod_cidr``."""
        self._call("ensure_network", pod_cidr)
        self.network = pod_cidr

    # ------------------------------------------------------------------ images

    async def image_id(self, image: str) -> str | None:
        self._call("image_id", image)
        return self.images.get(normalize_image(image))

    async def pull_image(self, image: str) -> str:
        self._call("pull_image", image)
        ref = normalize_image(image)
        self.pulls[ref] += 1
        if ref in self.pull_errors:
            raise ImagePullError(self.pull_errors[ref])
        if ref not in self.registry and not self.any_image:
            repo, _, tag = ref.rpartition(":") if "@" not in ref else ref.partition("@")
            raise ImagePullError(f"initializing source docker://{ref}: reading manifest {tag} in {repo}: "
                                 "manifest unknown: manifest unknown")
        self.images[ref] = self._digest(ref)
        return self.images[ref]

    # ------------------------------------------------------------------ sandboxes

    async def create_sandbox(self, spec: SandboxSpec) -> Sandbox:
        self._call("create_sandbox", spec)
        for existing in self.sandboxes.values():
            if existing.spec.pod_uid == spec.pod_uid:
                raise ContainerRuntimeError(
                    f'failed to make pod: adding pod to state: name "pk_{spec.pod_name}_{spec.pod_namespace}_'
                    f'{spec.pod_uid[:8]}" is in use: pod already exists')
        sandbox = _Sandbox(id=self._new_id(), spec=spec, ip=self._allocate_ip())
        self.sandboxes[sandbox.id] = sandbox
        return sandbox.view()

    def _allocate_ip(self) -> str:
        if self._free_ips:
            return self._free_ips.pop(0)
        if self._next_host >= self._network.num_addresses - 1:
            raise ContainerRuntimeError(f"IPAM error: failed to get ip address in subnet {self._network}")
        ip = str(self._network.network_address + self._next_host)
        self._next_host += 1
        return ip

    async def stop_sandbox(self, sandbox_id: str) -> None:
        self._call("stop_sandbox", sandbox_id)
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        now = self.clock()
        for c in list(self.containers.values()):
            if c.sandbox_id == sandbox_id and c.state == RUNNING:
                self._exit(c, 137, now, None)
        sandbox.ready = False

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self._call("remove_sandbox", sandbox_id)
        sandbox = self.sandboxes.pop(sandbox_id, None)
        if sandbox is None:
            return
        now = self.clock()
        for c in [c for c in self.containers.values() if c.sandbox_id == sandbox_id]:
            if c.state == RUNNING:
                self._exit(c, 137, now, None)
            del self.containers[c.id]
            self._emit(c, "remove", now)
        self._free_ips.append(sandbox.ip)

    async def list_sandboxes(self) -> list[Sandbox]:
        self._call("list_sandboxes")
        return [s.view() for s in self.sandboxes.values()]

    # ------------------------------------------------------------------ containers

    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        self._call("create_container", sandbox_id, spec)
        if sandbox_id not in self.sandboxes:
            raise ContainerRuntimeError(f"no pod with name or ID {sandbox_id} found: no such pod")
        ref = normalize_image(spec.image)
        if ref not in self.images:
            raise ImageNotPresentError(f"{ref}: image not known")
        for c in self.containers.values():
            if (c.spec.pod_uid, c.spec.name, c.spec.attempt) == (spec.pod_uid, spec.name, spec.attempt):
                raise ContainerRuntimeError(
                    f'creating container storage: the container name "pk_{spec.name}_{spec.pod_name}_'
                    f'{spec.pod_namespace}_{spec.pod_uid[:8]}_{spec.attempt}" is already in use by {c.id}')
        c = _Container(id=self._new_id(), sandbox_id=sandbox_id, spec=spec, image=ref, image_id=self.images[ref],
                       behavior=self.behaviors.get(ref, RUNS_FOREVER))
        self.containers[c.id] = c
        return c.id

    async def start_container(self, container_id: str) -> None:
        self._call("start_container", container_id)
        c = self._container(container_id)
        if c.state == RUNNING:
            return
        if c.state != CREATED:
            raise ContainerRuntimeError(f"container {container_id} is in state {c.state}: container state improper")
        now = self.clock()
        if c.behavior.start_error:
            # As the Podman runtime reports it (containerd's words): exited, 128, StartError.
            c.state, c.exit_code, c.finished_at = EXITED, 128, now
            c.reason, c.message = "StartError", c.behavior.start_error
            raise ContainerRuntimeError(c.behavior.start_error)
        c.state, c.started_at, c.generation = RUNNING, now, c.generation + 1
        c.output += c.behavior.output
        self._emit(c, "start", now)
        if c.behavior.exit_after is not None:
            heapq.heappush(self._due, (now + c.behavior.exit_after, self._ids, c.id, c.generation))
            self._ids += 1

    async def stop_container(self, container_id: str, timeout: float) -> None:
        self._call("stop_container", container_id, timeout)
        c = self.containers.get(container_id)
        if c is None or c.state != RUNNING:
            return
        if c.behavior.ignores_sigterm:
            self._exit(c, 137, self.clock(), None)
        else:
            self._exit(c, c.behavior.term_exit_code, self.clock(), None)

    async def remove_container(self, container_id: str) -> None:
        self._call("remove_container", container_id)
        c = self.containers.get(container_id)
        if c is None:
            return
        now = self.clock()
        if c.state == RUNNING:
            self._exit(c, 137, now, None)
        del self.containers[container_id]
        self._emit(c, "remove", now)

    async def list_containers(self) -> list[ContainerStatus]:
        self._call("list_containers")
        return [c.status() for c in self.containers.values()]

    async def container_status(self, container_id: str) -> ContainerStatus | None:
        self._call("container_status", container_id)
        c = self.containers.get(container_id)
        return None if c is None else c.status()

    def events(self) -> AsyncIterator[ContainerEvent]:
        """start / died / remove of every container, from the moment of this call."""
        self._call("events")
        stream = _FakeEventStream(self)
        self._streams.add(stream)
        return stream

    async def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]:
        self._call("exec", container_id, list(command), timeout)
        c = self._container(container_id)
        if c.state != RUNNING:
            raise ContainerRuntimeError("can only create exec sessions on running containers: container state improper")
        handler = c.behavior.exec or self.exec_handler
        if handler is None:
            return 0, ""
        return handler(list(command))

    async def exec_session(self, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                           width: int = 0, height: int = 0) -> "_FakeExecSession":
        """``kubectl exec`` on the fake: the command is answered as exec() answers it (stdout, exit
        code); with stdin it is a ``cat`` first, echoing stdin back until it is closed."""
        self._call("exec_session", container_id, list(command), stdin, tty)
        c = self._container(container_id)
        if c.state != RUNNING:
            raise ContainerRuntimeError("can only create exec sessions on running containers: container state improper")
        handler = c.behavior.exec or self.exec_handler
        return _FakeExecSession(handler(list(command)) if handler else (0, ""), stdin)

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        self._call("logs", container_id, follow, tail)
        return self._logs(container_id, follow, tail)

    async def _logs(self, container_id: str, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
        c = self._container(container_id)
        data = bytes(c.output)
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[len(lines) - tail:]) if tail > 0 else b""
        if data:
            yield data
        offset = len(c.output)
        while follow and c.state in (CREATED, RUNNING) and not self._closed:
            await self._wait_change()
            if len(c.output) > offset:
                yield bytes(c.output[offset:])
                offset = len(c.output)
            if c.id not in self.containers:
                return

    async def close(self) -> None:
        if self.record_calls:
            self.calls.append(("close", ()))
        self._closed = True
        for stream in list(self._streams):
            stream._close()
        self._notify()


class _FakeEventStream:
    """One ``events()`` subscriber: a buffer filled by the runtime, drained by ``__anext__``.

    Registered at ``events()`` time so nothing between the call and the first ``__anext__`` is
    lost; like an async generator, cancelling a pending ``__anext__`` or ``aclose`` ends it.
    """

    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.buffer: collections.deque[ContainerEvent] = collections.deque()
        self.closed = False

    def __aiter__(self) -> "_FakeEventStream":
        return self

    async def __anext__(self) -> ContainerEvent:
        rt = self.runtime
        while True:
            if not self.closed:
                rt.tick()
            if self.buffer:
                return self.buffer.popleft()
            if self.closed:
                raise StopAsyncIteration
            try:
                await rt._wait_change()
            except BaseException:  # cancelled: the stream is over, as with an async generator
                self._close()
                raise

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        self.closed = True
        self.runtime._streams.discard(self)


__all__ = ["FakeClock", "FakeRuntime", "ImageBehavior", "RUNS_FOREVER"]


class _FakeExecSession:
    """An exec session of the fake runtime: stdin echoed (if any), then the answer, then the code."""

    def __init__(self, answer: tuple[int, str], stdin: bool) -> None:
        self.exit_code, self._answer = answer
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.resizes: list[tuple[int, int]] = []
        self._done = False
        if not stdin:
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._answer:
            self._queue.put_nowait(self._answer.encode())
        self._queue.put_nowait(None)

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        while (data := await self._queue.get()) is not None:
            yield "stdout", data

    async def write_stdin(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    async def close_stdin(self) -> None:
        self._finish()

    async def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def wait(self) -> int:
        return self.exit_code

    async def close(self) -> None:
        pass
