"""One lab node's Podman: its own configs, storage, network namespace and API socket.

Several nodes share one machine, yet each must behave like a separate computer: its own image
cache (pulling on n1 does not help n2), its own containers, IP allocations, events and locks.
Podman keeps a few of these in machine-wide places, so each node gets its own config files
(:mod:`cluster.podman_config`: storage, runtime, cgroups, events, locks, registries) and a
process tree ``nsenter --net=<node netns> unshare --mount --propagation private``, in which the
node's own directories are bind-mounted over ``/run/containers/networks`` (rootful Podman
hard-codes its IPAM database and aardvark-dns config there, "shared by all libpod instances")
and ``/run/netns`` (where Podman pins each container's network namespace), and then
``podman system service --time=0 unix://<state>/podman.sock`` runs.

Everything Podman mounts (overlay layers, container ``/dev/shm``, netns pins) therefore lives in
the node's mount namespace and vanishes with it; :meth:`PodmanNode.cleanup` still unmounts
anything found under the state dir before deleting it. The kubelet talks to the node only
through the unix socket (:attr:`PodmanNode.url`); unix sockets ignore network namespaces.
"""

from __future__ import annotations

import http.client
import os
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cluster import netns as netns_mod
from cluster.podman_config import PodmanConfig
from component_base.netns import nsenter_prefix
from cluster.registry import stop_pid
from cluster.relay import RelayProcess

START_TIMEOUT = 30.0
NETWORK_RUN_DIR = "/run/containers/networks"  # hard-coded in podman 4 for rootful
NETNS_RUN_DIR = "/run/netns"


# --------------------------------------------------------------------------- mounts, processes

def mounts_under(path: str | os.PathLike, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points at or below ``path`` in a mount namespace (default: ours), deepest first."""
    prefix = str(Path(path).resolve())
    found = []
    try:
        with open(mountinfo) as f:
            for line in f:
                mount_point = line.split()[4].replace("\\040", " ")
                if mount_point == prefix or mount_point.startswith(prefix + "/"):
                    found.append(mount_point)
    except OSError:
        return []
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_under(path: str | os.PathLike) -> None:
    """Detach every mount below ``path`` in our namespace (lazy, so busy mounts go too)."""
    for mount_point in mounts_under(path):
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


def pids_in_netns(path: str) -> list[int]:
    """Processes in the namespace pinned at ``path``: the service, netavark, conmon (containers
    themselves get their own namespaces; see :meth:`PodmanNode.container_pids`)."""
    try:
        target = os.stat(path)
    except OSError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_ino, st.st_dev) == (target.st_ino, target.st_dev):
            pids.append(int(entry))
    return pids


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float = 5.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def unix_http_get(socket_path: str, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- the node

class PodmanNode:
    """A node's Podman service in its own sealed network namespace and mount namespace.

    ``registry_mirror`` is the local registry's root-namespace address (``127.0.0.1:PORT``);
    the node gets a relay on the same address inside its namespace, and ``docker.io`` maps to it.
    ``registry_cache`` (``pykube up --registry-upstream``) is a pull-through cache's address,
    relayed the same way and tried for docker.io after the local registry.
    """

    def __init__(self, name: str, state_dir: str | os.PathLike, registry_mirror: str | None = None,
                 *, cluster: str = "local", storage_driver: str | None = None,
                 log_dir: str | os.PathLike | None = None, registry_cache: str | None = None) -> None:
        self.name = name
        self.cluster = cluster
        self.state_dir = Path(state_dir).resolve()
        self.registry_mirror = registry_mirror
        self.netns_name = netns_mod.netns_name(cluster, name)
        self.netns_path = netns_mod.netns_path(self.netns_name)
        self.config = PodmanConfig(self.state_dir, registry_mirror, storage_driver=storage_driver,
                                   registry_cache=registry_cache)
        self.socket_path = self.state_dir / "podman.sock"
        self.pid_file = self.state_dir / "podman.pid"
        # `pykube up` gathers logs in <state>/logs (<node>-podman.log, <node>-relay.log), so they
        # outlive the node's own directory; alone, a node logs into its state dir.
        self.log_dir = Path(log_dir).resolve() if log_dir else None
        self.log_path = (self.log_dir / f"{name}-podman.log" if self.log_dir
                         else self.state_dir / "podman.log")
        self.proc: subprocess.Popen | None = None
        self.relay: RelayProcess | None = None
        if registry_mirror:
            self.relay = RelayProcess(self.netns_path, registry_mirror, registry_mirror,
                                      self.state_dir, also=[registry_cache] if registry_cache else [])
            if self.log_dir:
                self.relay.log_path = self.log_dir / f"{name}-relay.log"

    # -- addresses and environment

    @property
    def url(self) -> str:
        """The Podman API as podman-py and ``podman --url`` want it."""
        return f"unix://{self.socket_path}"

    def env(self) -> dict[str, str]:
        """Variables that point a ``podman`` CLI at this node's configs."""
        return self.config.env()

    def full_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env())
        return env

    def remote(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run ``podman --remote --url unix://... <args>`` against this node's service."""
        result = subprocess.run(["podman", "--remote", "--url", self.url, *args],
                                capture_output=True, text=True, env=self.full_env(),
                                timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"podman --remote {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stderr.strip()}")
        return result

    # -- lifecycle

    def service_argv(self) -> list[str]:
        """nsenter (net) -> unshare (private mounts) -> bind node dirs -> exec podman service."""
        script = (
            f"mount --bind {shlex.quote(str(self.config.network_run_dir))} {NETWORK_RUN_DIR} && "
            f"mount --bind {shlex.quote(str(self.config.netns_run_dir))} {NETNS_RUN_DIR} && "
            f"exec podman system service --time=0 {shlex.quote(self.url)}"
        )
        return [*nsenter_prefix(self.netns_path),
                "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]

    def start(self) -> "PodmanNode":
        """Create the namespace, write configs, start relay + service, wait for ``_ping``."""
        if shutil.which("podman") is None:
            raise RuntimeError("podman not found: run scripts/bootstrap.sh (installs podman)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        netns_mod.create_netns(self.netns_name)
        self.config.write()
        if self.relay is not None:
            self.relay.start()
        self._start_service()
        return self

    def _start_service(self) -> None:
        os.makedirs(NETWORK_RUN_DIR, exist_ok=True)  # mount targets must exist in the root ns
        os.makedirs(NETNS_RUN_DIR, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.service_argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=self.full_env(),
                                         start_new_session=True)
        self.pid_file.write_text(str(self.proc.pid))
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"podman service for node {self.name} exited with "
                                   f"{self.proc.returncode}; log: {self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"podman service for node {self.name} did not answer _ping; "
                           f"log: {self.log_tail()}")

    def ping(self) -> bool:
        try:
            status, body = unix_http_get(str(self.socket_path), "/v4.0.0/libpod/_ping", 2.0)
        except OSError:
            return False
        return status == 200 and body.strip() == b"OK"

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def service_pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the service (by PID; containers keep running, like a real Podman) and relay."""
        pid = self.service_pid()
        if pid is not None:
            stop_pid(pid, must_contain=str(self.socket_path), proc=self.proc)
        self.proc = None
        self.pid_file.unlink(missing_ok=True)
        relay = self.relay
        if relay is None and (self.state_dir / "relay.pid").exists():
            # A node object made without the mirror (e.g. by `pykube down`) still stops the relay
            # a previous process started: the PID file and the netns in its argv identify it.
            relay = RelayProcess(self.netns_path, "", "", self.state_dir)
        if relay is not None:
            relay.stop()

    def remove_all(self) -> None:
        """Remove every pod and container (and volume) through the API, stopping them at once."""
        self.remote("pod", "rm", "--all", "--force", "--time", "0", check=False)
        self.remote("rm", "--all", "--force", "--time", "0", check=False)
        self.remote("volume", "rm", "--all", "--force", check=False)

    def container_ids(self) -> list[str]:
        """IDs of every container in this node's storage (running or not)."""
        ids = []
        for driver_dir in self.config.graphroot.glob("*-containers"):
            ids += [p.name for p in driver_dir.iterdir() if len(p.name) == 64]
        return ids

    def container_pids(self) -> list[int]:
        """Processes in the cgroups of this node's containers (``libpod-<id>`` for cgroupfs and
        ``libpod-<id>.scope`` for systemd). Containers have their own network namespaces, so
        :func:`pids_in_netns` finds their conmon but not them."""
        ids = self.container_ids()
        if not ids:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cgroup") as f:
                    cgroups = f.read()
            except OSError:
                continue
            if any(f"libpod-{cid}" in cgroups for cid in ids):
                found.append(int(entry))
        return found

    def cleanup(self, remove_state: bool = True) -> None:
        """Leave nothing behind: pods/containers, processes, mounts, the namespace, the state.

        Order matters: containers go first, through the service (which also unmounts their
        layers and frees their IPs) - restarted for the purpose if it died, since conmon and
        the containers outlive it. Then the service and relay; then, as a safety net, any
        process still in the node's namespace or in one of its containers' cgroups (only this
        node's processes can be there); then stray mounts below the state dir; and only then
        the files - deleting a mounted overlay's backing dirs corrupts it.
        """
        if not self.ping() and netns_mod.netns_exists(self.netns_name) and self.container_ids():
            try:
                self._start_service()
            except (OSError, RuntimeError):
                pass
        if self.ping():
            self.remove_all()
        self.stop()
        leftovers = set(self.container_pids())
        if netns_mod.netns_exists(self.netns_name):
            leftovers.update(pids_in_netns(self.netns_path))
        leftovers.discard(os.getpid())
        for pid in sorted(leftovers):
            # conmon forwards SIGTERM to its (maybe already dead) container and stays: be brief.
            stop_pid(pid, timeout=1.0)
        unmount_under(self.state_dir)
        netns_mod.delete_netns(self.netns_name)
        if remove_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "PodmanNode":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
