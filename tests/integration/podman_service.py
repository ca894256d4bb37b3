"""A throwaway Podman API service for the runtime's integration tests (``test_podman_runtime``).

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
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import podman
import pytest

from kubelet.runtime.podman import PodmanRuntime

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

