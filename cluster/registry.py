"""A local container registry that stands in for Docker Hub.

No registry on the internet is reachable from the lab (and the lab must not try), so images
are built locally (:mod:`cluster.images`) and served by Debian's ``docker-registry`` (the CNCF
distribution registry) bound to 127.0.0.1. Nodes reach it through their relay
(:mod:`cluster.relay`), and their ``registries.conf`` maps ``docker.io`` to it, so manifests
keep the real names (``docker.io/library/busybox:1.36``).

The process is ours: started with Popen, remembered by PID (also in ``registry.pid`` so another
process, e.g. ``pykube down``, can stop it), stopped by that PID only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY_BINARY = "docker-registry"
START_TIMEOUT = 15.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the registry binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pid_alive(pid: int, must_contain: str | None = None) -> bool:
    """Is ``pid`` running (and, if given, does its command line mention ``must_contain``)?

    The command-line check guards against PID reuse when a PID comes from a file.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        return False
    return must_contain is None or must_contain in cmdline


def stop_pid(pid: int, must_contain: str | None = None, timeout: float = 10.0,
             proc: subprocess.Popen | None = None) -> None:
    """SIGTERM, wait, then SIGKILL one process we started (never anything by name)."""
    if not pid_alive(pid, must_contain):
        if proc is not None:
            proc.poll()
        return
    with _suppress_lookup():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with _suppress_lookup():
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=5)
    else:
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        return exc_type is ProcessLookupError


class LocalRegistry:
    """``docker-registry`` on 127.0.0.1:<port>, storage and config under ``state_dir``."""

    def __init__(self, state_dir: str | os.PathLike, port: int | None = None, *,
                 log_path: str | os.PathLike | None = None, proxy_remote: str | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        # A pull-through cache of this registry URL (distribution's proxy mode; it refuses pushes).
        self.proxy_remote = proxy_remote
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.pid_file = self.state_dir / "registry.pid"
        # `pykube up` gathers every component's log in <state>/logs; alone it sits beside the data.
        self.log_path = Path(log_path) if log_path else self.state_dir / "registry.log"
        self.config_path = self.state_dir / "config.yml"

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``: push here from the root namespace."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def write_config(self) -> Path:
        """Filesystem storage, plain HTTP on loopback, no auth (it never leaves 127.0.0.1)."""
        storage = self.state_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "version: 0.1\n"
            "log:\n"
            "  level: warn\n"
            "  accesslog:\n"
            "    disabled: true\n"
            "storage:\n"
            "  filesystem:\n"
            f"    rootdirectory: {storage}\n"
            "  delete:\n"
            "    enabled: true\n"
            "  cache:\n"
            "    blobdescriptor: inmemory\n"
            "http:\n"
            f"  addr: 127.0.0.1:{self.port}\n"
            "  headers:\n"
            "    X-Content-Type-Options: [nosniff]\n"
            + (f"proxy:\n  remoteurl: {self.proxy_remote}\n" if self.proxy_remote else "")
            + "health:\n"
            "  storagedriver:\n"
            "    enabled: true\n"
            "    interval: 10s\n"
            "    threshold: 3\n"
        )
        return self.config_path

    def start(self) -> "LocalRegistry":
        binary = shutil.which(REGISTRY_BINARY)
        if binary is None:
            raise RuntimeError(f"{REGISTRY_BINARY} not found: install the docker-registry package "
                               "(scripts/bootstrap.sh does)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding
            if self.port is None or last_error:
                self.port = free_port()
            self.write_config()
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen([binary, "serve", str(self.config_path)],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
            self.pid_file.write_text(str(self.proc.pid))
            try:
                self._wait_ready()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
        raise RuntimeError(f"registry did not start: {last_error}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}; "
                                   f"log: {self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry not ready on {self.address}; log: {self.log_tail()}")

    def ready(self) -> bool:
        """``GET /v2/`` answers 200: the distribution API is up."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def catalog(self) -> list[str]:
        import json
        with urllib.request.urlopen(f"{self.url}/v2/_catalog", timeout=5) as resp:
            return json.load(resp).get("repositories", [])

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop our registry by PID (from this object, or ``registry.pid`` if we are a new process)."""
        pid = self.proc.pid if self.proc is not None else None
        if pid is None and self.pid_file.exists():
            pid = int(self.pid_file.read_text().strip() or 0) or None
        if pid is not None:
            stop_pid(pid, must_contain=str(self.config_path), proc=self.proc)
        self.proc = None
        self.pid_file.unlink(missing_ok=True)
