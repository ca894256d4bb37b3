"""PodmanRuntime against a real Podman API service.

The fixture starts a throwaway ``podman system service`` that shares nothing with the machine's
own Podman (or with other tests' instances):

* its own storage (``--root``/``--runroot``), ``tmp_dir``, events file and file locks (the
  default SHM lock segment is machine-wide, and a fresh Podman frees every lock in it);
* its own network namespace (``unshare --net``, loopback up), so the bridge, the iptables rules
  and every Pod IP live there and no traffic ever leaves it; and its own mount namespace, in
  which Podman's hard-coded ``/run/containers/networks`` (IPAM database) and ``/run/netns``
  (netns pins) are bind-mounted from the temp dir.

On cgroup v1 hosts without systemd (CI containers) containers.conf pins runc + cgroupfs; on
systemd/cgroup v2 machines Podman's own choices stay. No registry is reachable, so the busybox
image is built from the host's static busybox and imported through the API.

Network rule: nothing here connects to a Pod IP from the host namespace.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, TypeVar

import pytest

podman = pytest.importorskip("podman")

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

IMAGE = "localhost/busybox:test"
NODE = "it-node"
START_TIMEOUT = 30.0
APPLETS = ("sh", "sleep", "httpd", "echo", "cat", "wget", "true", "hostname", "ls", "dd", "id")

T = TypeVar("T")


# --------------------------------------------------------------------------- the Podman service


def _cgroup_v2() -> bool:
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _systemd() -> bool:
    return os.path.isdir("/run/systemd/system")


def _containers_conf(tmp: Path) -> str:
    engine = [
        'events_logger = "file"',
        f'events_logfile_path = "{tmp}/tmp/events.log"',
        f'tmp_dir = "{tmp}/tmp"',
        'lock_type = "file"',
    ]
    if not (_cgroup_v2() or _systemd()):
        # What works on a cgroup v1 host without systemd: crun fails there, runc does not.
        engine += ['runtime = "runc"', 'cgroup_manager = "cgroupfs"']
    return "\n".join([
        "[containers]",
        # Explicit limits: otherwise Podman raises them to the host maximum (CAP_SYS_RESOURCE).
        'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]',
        'log_driver = "k8s-file"',
        "",
        "[network]",
        'network_backend = "netavark"',
        f'network_config_dir = "{tmp}/networks"',
        "",
        "[engine]",
        *engine,
        "",
    ])


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _pids_mentioning(text: str) -> list[int]:
    """Processes our service left behind (conmon of a container), found by their command line."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid()]


class PodmanService:
    """One throwaway Podman API service (see the module docstring)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.socket = tmp / "podman.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "service.log"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.tmp / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.tmp / "registries.conf"),
            "NETAVARK_FW": "iptables",
        }

    def start(self) -> "PodmanService":
        for d in ("root", "runroot", "tmp", "networks", "netrun", "netns"):
            (self.tmp / d).mkdir(parents=True, exist_ok=True)
        (self.tmp / "containers.conf").write_text(_containers_conf(self.tmp))
        (self.tmp / "registries.conf").write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
        script = " && ".join([
            "ip link set lo up",
            "mkdir -p /run/containers/networks /run/netns",
            f"mount --bind {self.tmp}/netrun /run/containers/networks",
            f"mount --bind {self.tmp}/netns /run/netns",
            f"exec podman --root {self.tmp}/root --runroot {self.tmp}/runroot"
            f" system service --time=0 {self.url}",
        ])
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                stdout=log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)
        client = podman.PodmanClient(base_url=self.url)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"podman service exited: {self.log.read_text()[-2000:]}")
                try:
                    if self.socket.exists() and client.ping():
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"podman service not up in {START_TIMEOUT}s: {self.log.read_text()[-2000:]}")
                time.sleep(0.1)
            self._import_busybox(client)
        except BaseException:
            client.close()
            self.stop()
            raise
        client.close()
        return self

    def _import_busybox(self, client: Any) -> None:
        """A tiny image: /bin/busybox plus applet symlinks, imported like ``podman import``."""
        busybox = shutil.which("busybox") or "/bin/busybox"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d in ("bin", "tmp", "etc"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755 if d != "tmp" else 0o1777
                tar.addfile(info)
            tar.add(busybox, arcname="bin/busybox")
            for applet in APPLETS:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        response = client.api.post("/images/import", params={"reference": IMAGE, "changes": ['CMD ["sh"]']},
                                   data=buf.getvalue(), headers={"Content-Type": "application/x-tar"})
        response.raise_for_status()

    def stop(self) -> None:
        """Remove what is left, stop the service by PID, unmount, delete."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                client = podman.PodmanClient(base_url=self.url)
                for pod in client.api.get("/pods/json").json() or []:
                    client.api.post(f"/pods/{pod['Id']}/kill", params={"signal": "SIGKILL"})
                    client.api.delete(f"/pods/{pod['Id']}", params={"force": True})
                for c in client.api.get("/containers/json", params={"all": True}).json() or []:
                    client.api.delete(f"/containers/{c['Id']}", params={"force": True})
                client.close()
            except Exception:  # noqa: BLE001 - best effort; the kill below still happens
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid in _pids_mentioning(str(self.tmp)):  # e.g. a conmon that outlived its container
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for point in _mounts_under(self.tmp):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _can_run_podman() -> str | None:
    if os.geteuid() != 0:
        return "needs root (rootful Podman in private namespaces)"
    for tool in ("podman", "unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        return "busybox (static) not installed"
    return None


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    reason = _can_run_podman()
    if reason:
        pytest.skip(reason)
    svc = PodmanService(tmp_path_factory.mktemp("podman")).start()
    yield svc
    svc.stop()


REGISTRY = "127.0.0.1:5000"  # inside the service's network namespace, not the host's


@pytest.fixture(scope="module")
def registry(service: PodmanService) -> Iterator[str]:
    """Debian's docker-registry in the Podman service's own network namespace, holding the
    busybox image pushed there through the API: a real pull, on an address only that
    namespace has."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry not installed")
    assert service.proc is not None
    netns = f"/proc/{service.proc.pid}/ns/net"
    root = service.tmp / "registry"
    root.mkdir()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                      f"http:\n  addr: {REGISTRY}\n")
    with open(root / "registry.log", "wb") as log:
        proc = subprocess.Popen(["nsenter", f"--net={netns}", binary, "serve", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        busybox = shutil.which("busybox") or "/bin/busybox"
        while subprocess.run(["nsenter", f"--net={netns}", busybox, "wget", "-q", "-O", "/dev/null",
                              f"http://{REGISTRY}/v2/"], capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry not up: {(root / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.1)
        client = podman.PodmanClient(base_url=service.url)
        response = client.api.post(f"/images/{IMAGE}/push",
                                   params={"destination": f"{REGISTRY}/library/busybox:pushed", "tlsVerify": False})
        response.raise_for_status()
        assert '"error"' not in response.text, response.text
        client.close()
        yield REGISTRY
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def run(service: PodmanService, scenario: Callable[[PodmanRuntime], Awaitable[T]], **kwargs: Any) -> T:
    """Run one async scenario with a fresh runtime, always closed, with an overall time bound."""

    async def main() -> T:
        runtime = PodmanRuntime(service.url, NODE, **kwargs)
        try:
            return await asyncio.wait_for(scenario(runtime), 60)
        finally:
            await runtime.close()

    return asyncio.run(main())


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
        await asyncio.sleep(0.3)
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


# --------------------------------------------------------------------------- mapping (no service needed)


def test_parse_time_handles_nanoseconds_offsets_and_go_zero_time() -> None:
    from kubelet.runtime.podman import parse_time

    assert parse_time("2026-11-26T03:39:09.165042908Z") == pytest.approx(1795664349.165042908, abs=1e-6)
    assert parse_time("2026-11-26T04:39:09.5+01:00") == pytest.approx(1795664349.5, abs=1e-6)
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time("") is None and parse_time(None) is None


def test_status_and_event_mapping() -> None:
    from kubelet.runtime.podman import event_from_podman, status_from_inspect

    labels = {LABEL_POD_UID: "u", "io.pykube.pod.name": "p", "io.pykube.pod.namespace": "ns",
              LABEL_CONTAINER_NAME: "c", LABEL_ATTEMPT: "4"}
    attrs = {"Id": "abc", "Image": "f" * 64, "ImageName": IMAGE, "Config": {"Labels": labels},
             "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                       "StartedAt": "2026-11-26T03:39:09Z", "FinishedAt": "2026-11-26T03:39:10Z"}}
    status = status_from_inspect(attrs)
    assert (status.state, status.exit_code, status.reason, status.attempt) == (EXITED, 137, "OOMKilled", 4)
    assert status.image_id == "sha256:" + "f" * 64 and status.finished_at - status.started_at == 1  # type: ignore[operator]
    attrs["State"] = {"Status": "stopping", "ExitCode": 0, "StartedAt": "2026-11-26T03:39:09Z"}
    assert status_from_inspect(attrs).state == RUNNING

    event = {"Type": "container", "Action": "died", "timeNano": 1795664349229527617,
             "Actor": {"ID": "abc", "Attributes": {**labels, "containerExitCode": "137"}}}
    assert event_from_podman(event) == ContainerEvent("abc", "u", "c", "died", 1795664349.2295275)
    infra = {**event, "Actor": {"ID": "inf", "Attributes": {LABEL_POD_UID: "u"}}}
    assert event_from_podman(infra) is None  # the sandbox's infra container
    assert event_from_podman({**event, "Action": "exec_died"}) is None  # exec probes are not news


def test_create_kwargs_follow_kubernetes_command_semantics() -> None:
    rt = PodmanRuntime("unix:///nonexistent.sock", NODE, ulimits=[{"Name": "nofile", "Soft": 1, "Hard": 2}])
    sb = SandboxSpec("0123456789", "web", "prod", "web")
    only_command = rt.create_kwargs("pod", container_spec(sb, "app", command=["/app"], attempt=1))
    assert only_command["entrypoint"] == ["/app"] and "command" not in only_command
    assert only_command["name"] == "pk_app_web_prod_01234567_1" and only_command["pod"] == "pod"
    assert only_command["labels"][LABEL_NODE] == NODE and only_command["labels"][LABEL_ATTEMPT] == "1"
    assert only_command["ulimits"] == [{"Name": "nofile", "Soft": 1, "Hard": 2}]
    only_args = rt.create_kwargs("pod", container_spec(sb, "app", args=["--port", "80"]))
    assert only_args["command"] == ["--port", "80"] and "entrypoint" not in only_args
    limits = rt.create_kwargs("pod", container_spec(sb, "app", cpu_limit_millis=500, cpu_request_millis=250,
                                                    memory_limit_bytes=1 << 20))
    assert (limits["cpu_quota"], limits["cpu_period"], limits["cpu_shares"], limits["mem_limit"]) == (
        50_000, 100_000, 256, 1 << 20)
    plain = PodmanRuntime("unix:///nonexistent.sock", NODE)
    assert "ulimits" not in plain.create_kwargs("pod", container_spec(sb, "a"))
    asyncio.run(rt.close())
    asyncio.run(plain.close())


def test_default_ulimits_are_startable_here(service: PodmanService) -> None:
    """What ``pykubelet --ulimits auto`` passes must be something runc can actually set."""
    from kubelet.runtime.podman import default_ulimits

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

    from kubelet.runtime.podman import _response_socket

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
            sock = _response_socket(first_connection)
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
