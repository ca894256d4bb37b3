"""``pykube up / down / status``: a whole pykube cluster on one machine (the embedded default).

A local cluster is a handful of ordinary processes, each started here, each with a PID file
and a log file in the cluster's *state dir*, and each stopped later by that PID (never by
name), possibly by another process (``pykube down`` runs long after ``pykube up`` returned):

* ``registry``: the local registry standing in for Docker Hub, with the lab images pushed
  (``docker.io/library/multi-worker:1.0`` ...; see :mod:`cluster.images`);
* ``apiserver``: ``pykube-apiserver --listen 127.0.0.1:<port> --data-dir <state>/apiserver``;
* ``scheduler`` and ``controller-manager``, dialling the apiserver;
* per node ``nI``: its Podman service in a sealed network namespace with its own storage and a
  pod subnet of its own (``10.88.I.0/24``, so Pod IPs are unique cluster-wide), the relay that
  carries the registry into the namespace, and a ``pykubelet`` pointed at that Podman;
* optionally hollow nodes ``hollow-1..hollow-M``: one process for all of them,
  ``python -m kubelet.hollow --nodes M`` (component ``hollow-nodes``, see :mod:`kubelet.hollow`):
  M real kubelets on fake runtimes (no containers) sharing one event loop and one channel to
  the apiserver, as kubemark runs them; ~0.1 MB per node rather than a ~45 MB process each.

The state dir (``--state-dir``; default ``$PYKUBE_STATE_DIR``, else ``/var/lib/pykube``)::

    cluster.json          what `up` started: name, apiserver port, nodes, registry, extra args
    config                the pykubectl config for this cluster (server: 127.0.0.1:<port>)
    .lock                 flock: one up/down/stop-node/start-node at a time
    pids/<c>.pid          apiserver, scheduler, controller-manager, <node>-kubelet, hollow-nodes
    logs/<c>.log          every component's log, including registry, <node>-podman, <node>-relay
    hollow-stopped        the hollow nodes stop-node powered off, one a line (the hollow-nodes
                          process re-reads it on SIGHUP); gone after `down`
    apiserver/pykube.db   the cluster's objects (SQLite)
    registry/             the registry's config, storage (the pushed images) and registry.pid
    nodes/<node>/         the node's Podman: configs, storage (image cache), podman.sock,
                          podman.pid, relay.pid; gone after `down`

``down`` keeps the state dir's ``cluster.json``, ``config``, ``logs/``, ``apiserver/`` and
``registry/``: a later ``up`` on the same dir brings back the same objects (Deployments,
Pods...), as a rebooted cluster does; the nodes themselves start empty and their kubelets
re-create the containers. ``down --purge`` deletes the whole state dir.

Why processes and PID files rather than one supervisor process: every component is the same
binary that runs on a real machine, `up` returns once the cluster works, and a test (or a
user) can stop and start a single node's kubelet and Podman to see what the control plane
does about a lost node (:meth:`LocalCluster.stop_node` / :meth:`LocalCluster.start_node`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cluster import netns as netns_mod
from cluster.podman_node import PodmanNode
from cluster.registry import LocalRegistry, free_port, pid_alive, stop_pid

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 6443
DEFAULT_NAME = "local"
DEFAULT_STATE_DIR = Path("/var/lib/pykube")
NODE_IP = "127.0.0.1"
MAX_NODES = 250                 # pod subnets 10.88.1.0/24 .. 10.88.250.0/24
OPTIONAL_COMPONENTS = ("scheduler", "controller-manager")
MODULES = {
    "apiserver": "apiserver.main",
    "scheduler": "scheduler.main",
    "controller-manager": "controllers.main",
    "kubelet": "kubelet.main",
    "hollow-nodes": "kubelet.hollow",
}
HOLLOW = "hollow-nodes"         # the one process that runs every hollow node
HOLLOW_PREFIX = "hollow-"
START_TIMEOUT = 60.0            # everything up and every node Ready
RUNNING_EVENT_TIMEOUT = 10.0    # scheduler / controller-manager: "<component> running" logged
UNIX_PATH_MAX = 107             # sockaddr_un.sun_path, minus the NUL


class ClusterError(Exception):
    """Something the user must hear about; ``str()`` is one line, ``detail`` may add a log tail."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def default_state_dir() -> Path:
    """``$PYKUBE_STATE_DIR``, else ``/var/lib/pykube``: the same for every user, because only
    root can start a cluster while anyone may run ``pykube status``."""
    env = os.environ.get("PYKUBE_STATE_DIR")
    return Path(env).expanduser() if env else DEFAULT_STATE_DIR


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        raise ClusterError(f"pykube {command} needs root (network namespaces, rootful Podman): "
                           f"run it with sudo")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pod_subnet(index: int) -> str:
    """Node ``n<index>``'s pod subnet: distinct per node so Pod IPs are unique cluster-wide."""
    return f"10.88.{index}.0/24"


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def write_pykubectl_config(path: Path, server: str) -> None:
    """Set ``server:`` in a pykubectl config file, keeping its other keys (``namespace``)."""
    import yaml
    data: dict = {}
    with contextlib.suppress(OSError, ValueError, yaml.YAMLError):
        loaded = yaml.safe_load(path.read_text())
        if isinstance(loaded, dict):
            data = loaded
    data["server"] = server
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))
    tmp.replace(path)


# --------------------------------------------------------------------------- what `up` recorded

@dataclass
class ClusterSpec:
    """``cluster.json``: everything `down`, `status` and `start-node` need to find the pieces."""

    name: str
    port: int
    nodes: list[str]
    hollow_nodes: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    registry: str = ""                       # 127.0.0.1:PORT once the registry runs
    pod_subnets: dict[str, str] = field(default_factory=dict)
    extra_args: dict[str, list[str]] = field(default_factory=dict)  # component -> argv tail
    started_at: float = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def all_nodes(self) -> list[str]:
        return self.nodes + self.hollow_nodes

    def control_plane(self) -> list[str]:
        return ["apiserver"] + [c for c in OPTIONAL_COMPONENTS if c not in self.skip]

    @classmethod
    def load(cls, path: Path) -> ClusterSpec | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)


@dataclass
class ComponentStatus:
    """One row of ``pykube status``."""

    component: str
    pid: int | None
    running: bool
    address: str
    log: Path

    @property
    def state(self) -> str:
        return "running" if self.running else "stopped"


# --------------------------------------------------------------------------- processes

class LogFollower:
    """Reads what a process logged since it was started (earlier runs append to the same file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.offset = path.stat().st_size
        except OSError:
            self.offset = 0

    def events(self) -> Iterator[dict]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        for line in data.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record

    def seen(self, match: Callable[[str], bool]) -> bool:
        return any(match(str(r.get("event", ""))) for r in self.events())

    def tail(self, lines: int = 25) -> str:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read().decode(errors="replace")
        except OSError:
            return f"(no log at {self.path})"
        return "\n".join(data.splitlines()[-lines:]) or "(empty log)"


@dataclass
class Started:
    """A component process this `up` (or `start-node`) launched."""

    component: str
    proc: subprocess.Popen
    log: LogFollower

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def failure(self, what: str) -> ClusterError:
        code = self.proc.poll()
        reason = f"exited with code {code}" if code is not None else what
        return ClusterError(f"{self.component} {reason} (log: {self.log.path})", self.log.tail())


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Run the repository's code with this interpreter (the venv), wherever `pykube` was run from.
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn(component: str, argv: list[str], log_path: Path, pid_file: Path) -> Started:
    """Start one component in its own session (Ctrl-C on `up` or its exit does not reach it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    follower = LogFollower(log_path)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=_child_env(), cwd=REPO_ROOT, start_new_session=True)
    pid_file.write_text(f"{proc.pid}\n")
    return Started(component, proc, follower)


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop_all(pids: Sequence[tuple[int, str]], timeout: float = 10.0) -> None:
    """SIGTERM every (pid, cmdline marker) that is still ours, wait, SIGKILL what remains."""
    ours = [(pid, marker) for pid, marker in pids if pid_alive(pid, marker)]
    for pid, _ in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(pid) for pid, _ in ours):
        time.sleep(0.05)
    for pid, marker in ours:
        if pid_alive(pid, marker):
            stop_pid(pid, marker, timeout=0.1)  # SIGTERM again, then SIGKILL


# --------------------------------------------------------------------------- the cluster

class LocalCluster:
    """A local cluster rooted at a state dir. Every method works from a fresh object: all it
    needs is on disk (``cluster.json``, PID files), so `down` may run in another process.

        cluster = LocalCluster("/tmp/pk", name="e2e")
        cluster.up(nodes=3)             # returns when every node is Ready
        cluster.stop_node("n3")         # n3 loses power: kubelet, Podman, containers killed
        cluster.start_node("n3")
        cluster.down(purge=True)
    """

    def __init__(self, state_dir: str | os.PathLike | None = None, name: str | None = None,
                 out: Callable[[str], None] | None = None) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir else \
            default_state_dir().resolve()
        self._name = name
        self.out = out or (lambda line: None)
        self.started: list[Started] = []
        self.user_config_path: Path | None = None  # set by up(): the config pykubectl reads

    # -- paths

    @property
    def spec_path(self) -> Path:
        return self.state_dir / "cluster.json"

    @property
    def config_path(self) -> Path:
        """The pykubectl config for this cluster (``PYKUBECONFIG=<this>`` selects it)."""
        return self.state_dir / "config"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def node_root(self) -> Path:
        return self.state_dir / "nodes"

    @property
    def registry_dir(self) -> Path:
        return self.state_dir / "registry"

    @property
    def hollow_stopped_path(self) -> Path:
        """The hollow nodes `stop-node` powered off, one a line (see :mod:`kubelet.hollow`)."""
        return self.state_dir / "hollow-stopped"

    def hollow_stopped(self) -> set[str]:
        from kubelet.hollow import read_stopped_file
        return read_stopped_file(self.hollow_stopped_path)

    def _write_hollow_stopped(self, names: set[str]) -> None:
        tmp = self.hollow_stopped_path.with_name(self.hollow_stopped_path.name + ".tmp")
        tmp.write_text("".join(f"{n}\n" for n in sorted(names)))
        tmp.replace(self.hollow_stopped_path)  # atomic: the process never reads half a file

    def log_path(self, component: str) -> Path:
        return self.log_dir / f"{component.replace('/', '-')}.log"

    def pid_path(self, component: str) -> Path:
        return self.pid_dir / f"{component.replace('/', '-')}.pid"

    def spec(self) -> ClusterSpec | None:
        return ClusterSpec.load(self.spec_path)

    @property
    def name(self) -> str:
        spec = self.spec()
        return self._name or (spec.name if spec else DEFAULT_NAME)

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>`` of the apiserver (from ``cluster.json``)."""
        spec = self.spec()
        if spec is None:
            raise ClusterError(f"no cluster in {self.state_dir} (run pykube up)")
        return spec.address

    def podman_node(self, spec: ClusterSpec, node: str) -> PodmanNode:
        return PodmanNode(node, self.node_root / node, spec.registry or None, cluster=spec.name,
                          pod_subnet=spec.pod_subnets.get(node), log_dir=self.log_dir)

    # -- identities of the processes (the command-line check guards against PID reuse)

    def _argv(self, spec: ClusterSpec, component: str) -> list[str]:
        py = [sys.executable, "-m"]
        extra = spec.extra_args
        if component == "apiserver":
            return [*py, MODULES["apiserver"], "--data-dir", str(self.state_dir / "apiserver"),
                    "--listen", spec.address, *extra.get("apiserver", [])]
        if component in OPTIONAL_COMPONENTS:
            return [*py, MODULES[component], "--server", spec.address, *extra.get(component, [])]
        if component == HOLLOW:
            # --kubelet-arg reaches the hollow kubelets too (kubelet.hollow takes the kubelet's
            # settings; a flag only real kubelets have fails `up` with its log tail).
            return [*py, MODULES[HOLLOW], "--server", spec.address, "--nodes", str(len(spec.hollow_nodes)),
                    "--prefix", HOLLOW_PREFIX, "--node-ip", NODE_IP,
                    "--stopped-file", str(self.hollow_stopped_path), *extra.get("kubelet", [])]
        node, _, what = component.partition("/")
        assert what == "kubelet" and node not in spec.hollow_nodes, component
        podman = self.podman_node(spec, node)
        return [*py, MODULES["kubelet"], "--podman-url", podman.url, "--server", spec.address,
                "--node-name", node, "--probe-netns", podman.netns_path, "--node-ip", NODE_IP,
                *extra.get("kubelet", [])]

    def _marker(self, spec: ClusterSpec, component: str) -> str:
        """A piece of the component's command line that only this cluster's process has."""
        if component == "apiserver":
            return f"--data-dir {self.state_dir / 'apiserver'} "
        if component in OPTIONAL_COMPONENTS:
            return f"{MODULES[component]} --server {spec.address} "
        if component == HOLLOW:
            return f"{MODULES[HOLLOW]} --server {spec.address} "
        node = component.partition("/")[0]
        if node in spec.hollow_nodes:  # a state dir from before hollow nodes shared a process
            return f"--server {spec.address} --node-name {node} --runtime fake "
        return f"--podman-url {self.podman_node(spec, node).url} "

    def _pid_of(self, spec: ClusterSpec, component: str) -> int | None:
        return _read_pid(self.pid_path(component))

    def _alive(self, spec: ClusterSpec, component: str) -> bool:
        pid = self._pid_of(spec, component)
        return pid is not None and pid_alive(pid, self._marker(spec, component))

    # -- status

    def status(self) -> list[ComponentStatus]:
        """Every component of the cluster, running or not (empty when there is no cluster)."""
        spec = self.spec()
        if spec is None:
            return []
        rows: list[ComponentStatus] = []
        registry = LocalRegistry(self.registry_dir)
        reg_pid = _read_pid(registry.pid_file)
        rows.append(ComponentStatus("registry", reg_pid,
                                    reg_pid is not None and pid_alive(reg_pid, str(registry.config_path)),
                                    spec.registry or "-", self.log_path("registry")))
        for component in spec.control_plane():
            rows.append(ComponentStatus(component, self._pid_of(spec, component),
                                        self._alive(spec, component),
                                        spec.address if component == "apiserver" else "-",
                                        self.log_path(component)))
        for node in spec.nodes:
            podman = self.podman_node(spec, node)
            pid = podman.service_pid()
            rows.append(ComponentStatus(f"{node}/podman", pid,
                                        pid is not None and pid_alive(pid, str(podman.socket_path)),
                                        podman.url, podman.log_path))
            relay_pid = _read_pid(podman.state_dir / "relay.pid")
            rows.append(ComponentStatus(
                f"{node}/relay", relay_pid,
                relay_pid is not None and pid_alive(relay_pid, f"--netns {podman.netns_path}"),
                f"{spec.registry or '-'} in netns {podman.netns_name}",
                podman.relay.log_path if podman.relay else self.log_path(f"{node}/relay")))
            component = f"{node}/kubelet"
            rows.append(ComponentStatus(component, self._pid_of(spec, component),
                                        self._alive(spec, component), f"node {node}",
                                        self.log_path(component)))
        if spec.hollow_nodes:
            stopped = self.hollow_stopped() & set(spec.hollow_nodes)
            rows.append(ComponentStatus(HOLLOW, self._pid_of(spec, HOLLOW), self._alive(spec, HOLLOW),
                                        _hollow_range(spec.hollow_nodes, len(stopped)),
                                        self.log_path(HOLLOW)))
            # A powered-off hollow node is a stopped kubelet, as a stopped real node's is.
            rows += [ComponentStatus(f"{node}/kubelet", None, False, "hollow node, powered off",
                                     self.log_path(HOLLOW))
                     for node in spec.hollow_nodes if node in stopped]
        return rows

    def running_components(self) -> list[ComponentStatus]:
        return [row for row in self.status() if row.running]

    def node_states(self, timeout: float = 5.0) -> dict[str, str]:
        """Each Node's STATUS as ``pykubectl get nodes`` shows it (``Ready``, ``NotReady``...),
        as the apiserver sees it. Raises ClusterError when the apiserver does not answer."""
        return {name: state for name, (state, _) in self._nodes(timeout).items()}

    def _nodes(self, timeout: float = 5.0) -> dict[str, tuple[str, int]]:
        """name -> (STATUS, Ready condition's last heartbeat in seconds)."""
        import grpc

        from apimachinery.kinds import unwrap
        from client.connection import connect
        from protos import api_pb2

        try:
            with connect(self.address, call_timeout=timeout) as conn:
                reply = conn.stub.List(api_pb2.ListRequest(kind="Node"))
        except grpc.RpcError as err:
            raise ClusterError(f"the apiserver at {self.address} does not answer: "
                               f"{err.code().name.lower()}") from None
        result = {}
        for item in reply.items:
            node = unwrap(item)
            ready = [c for c in node.status.conditions if c.type == "Ready"]
            beat = ready[-1].last_heartbeat_time.seconds if ready else 0
            state = ("Ready" if ready[-1].status == "True" else "NotReady") if ready else "Unknown"
            if node.spec.unschedulable:
                state += ",SchedulingDisabled"  # as pykubectl get nodes shows it
            result[node.metadata.name] = (state, beat)
        return result

    # -- locking

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.out(f"waiting for another pykube command on {self.state_dir}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- up

    def up(self, nodes: int = 1, *, port: int | None = None, hollow_nodes: int = 0,
           skip: Sequence[str] = (), kubelet_args: Sequence[str] = (),
           apiserver_args: Sequence[str] = (), scheduler_args: Sequence[str] = (),
           controller_manager_args: Sequence[str] = (), kubeconfig: str | os.PathLike | None | bool = None,
           timeout: float = START_TIMEOUT) -> ClusterSpec:
        """Start the whole cluster and return once the apiserver answers and every node is Ready.

        ``kubeconfig``: where to write the pykubectl config besides ``<state>/config``: None
        means ``$PYKUBECONFIG`` or ``~/.pykube/config`` (like pykubectl reads), False nowhere
        else. Raises ClusterError (after stopping whatever it started) when a piece fails.
        """
        require_root("up")
        if not 0 <= nodes <= MAX_NODES or not 0 <= hollow_nodes <= 10_000 or nodes + hollow_nodes == 0:
            raise ClusterError(f"--nodes must be 0..{MAX_NODES} and --hollow-nodes >= 0, not both 0")
        unknown = set(skip) - set(OPTIONAL_COMPONENTS)
        if unknown:
            raise ClusterError(f"cannot skip {', '.join(sorted(unknown))}: only "
                               f"{', '.join(OPTIONAL_COMPONENTS)} are optional")
        name = self._name or DEFAULT_NAME
        netns_mod.netns_name(name, "n1")  # validates the name early
        with self._locked():
            self._refuse_running_or_clean_stale()
            socket_path = self.node_root / f"n{nodes}" / "podman.sock"
            if len(str(socket_path)) > UNIX_PATH_MAX:
                raise ClusterError(f"state dir {self.state_dir} is too long: a node's Podman socket "
                                   f"({socket_path}) must stay under {UNIX_PATH_MAX} characters")
            for i in range(1, nodes + 1):
                if netns_mod.netns_exists(netns_mod.netns_name(name, f"n{i}")):
                    raise ClusterError(f"network namespace {netns_mod.netns_name(name, f'n{i}')} exists "
                                       f"but is not this state dir's: another cluster named {name!r}? "
                                       f"use --name")
            if port is None:
                port = DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port()
            elif not port_free(port):
                raise ClusterError(f"port {port} on 127.0.0.1 is in use (choose another with --port)")
            node_names = [f"n{i}" for i in range(1, nodes + 1)]
            spec = ClusterSpec(
                name=name, port=port, nodes=node_names,
                hollow_nodes=[f"hollow-{i}" for i in range(1, hollow_nodes + 1)],
                skip=sorted(set(skip)),
                pod_subnets={n: pod_subnet(i) for i, n in enumerate(node_names, 1)},
                extra_args={k: list(v) for k, v in (
                    ("kubelet", kubelet_args), ("apiserver", apiserver_args),
                    ("scheduler", scheduler_args), ("controller-manager", controller_manager_args)) if v},
                started_at=time.time())
            for d in (self.log_dir, self.pid_dir, self.node_root):
                d.mkdir(parents=True, exist_ok=True)
            spec.save(self.spec_path)  # first: whatever starts below, `down` can find it
            try:
                self._start_everything(spec, timeout)
            except BaseException:
                # Whatever went wrong (even a closed stdout), leave nothing running.
                with contextlib.suppress(Exception):
                    self.out("start-up failed; stopping what was started")
                with contextlib.suppress(Exception):
                    self._down()
                raise
            self._write_configs(spec, kubeconfig)
            return spec

    def _leftovers(self) -> bool:
        """PID files, node dirs or namespaces that a clean `down` would have removed."""
        if any(self.pid_dir.glob("*.pid")) or (self.registry_dir / "registry.pid").exists() \
                or any(self.node_root.glob("*")) or self.hollow_stopped_path.exists():
            return True
        spec = self.spec()
        return spec is not None and any(
            netns_mod.netns_exists(netns_mod.netns_name(spec.name, node)) for node in spec.nodes)

    def _refuse_running_or_clean_stale(self) -> None:
        if not self._leftovers():
            return  # a fresh state dir, or one a clean `down` left: nothing to clean
        running = self.running_components()
        if running:
            names = ", ".join(r.component for r in running)
            raise ClusterError(f"a cluster is already running in {self.state_dir} ({names}); "
                               f"run pykube down first")
        self.out(f"cleaning up a stopped cluster left in {self.state_dir}")
        self._down()

    def _start_everything(self, spec: ClusterSpec, timeout: float) -> None:
        t0 = time.monotonic()
        deadline = t0 + timeout
        apiserver = self._start_process(spec, "apiserver")

        from cluster.images import build_and_push_lab_images
        registry = LocalRegistry(self.registry_dir, log_path=self.log_path("registry")).start()
        spec.registry = registry.address
        spec.save(self.spec_path)
        build_and_push_lab_images(registry)
        self.out(f"registry on {registry.address} with the lab images ({time.monotonic() - t0:.1f}s)")

        if spec.nodes:
            with ThreadPoolExecutor(max_workers=min(8, len(spec.nodes))) as pool:
                futures = {n: pool.submit(self.podman_node(spec, n).start) for n in spec.nodes}
                errors = []
                for node, future in futures.items():
                    try:
                        future.result()
                    except Exception as exc:  # noqa: BLE001 - reported together below
                        errors.append(f"{node}: {exc}")
                if errors:
                    raise ClusterError("node Podman failed to start: " + "; ".join(errors))
            self.out(f"{len(spec.nodes)} node(s) with their own Podman, storage and network namespace "
                     f"({time.monotonic() - t0:.1f}s)")

        self._wait_apiserver(spec, apiserver, deadline)
        self.out(f"apiserver serving on {spec.address} ({time.monotonic() - t0:.1f}s)")

        others = [self._start_process(spec, c) for c in spec.control_plane()[1:]]
        kubelets = [self._start_process(spec, f"{n}/kubelet") for n in spec.nodes]
        if spec.hollow_nodes:
            self.hollow_stopped_path.unlink(missing_ok=True)  # every hollow node starts powered on
            kubelets.append(self._start_process(spec, HOLLOW))
        self._wait_kubelets(spec, kubelets, deadline, since=spec.started_at)
        self.out(f"{len(spec.all_nodes)} node(s) Ready ({time.monotonic() - t0:.1f}s)")
        with contextlib.suppress(ClusterError):
            for stray in sorted(set(self._nodes()) - set(spec.all_nodes)):
                self.out(f"note: Node {stray} from an earlier run in this state dir is not part of "
                         f"this cluster (pykubectl delete node {stray}, or start afresh after "
                         f"pykube down --purge)")
        self._wait_running_event(others, time.monotonic() + RUNNING_EVENT_TIMEOUT)
        for started in [apiserver, *others, *kubelets]:
            if started.exited():
                raise started.failure("stopped")

    def _start_process(self, spec: ClusterSpec, component: str) -> Started:
        started = _spawn(component, self._argv(spec, component), self.log_path(component),
                         self.pid_path(component))
        self.started.append(started)
        return started

    def _wait_apiserver(self, spec: ClusterSpec, apiserver: Started, deadline: float) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        while time.monotonic() < deadline:
            if apiserver.exited():
                raise apiserver.failure("")
            if not apiserver.log.seen(lambda event: event == "apiserver serving"):
                time.sleep(0.05)  # not ours yet, whoever else might answer on that port
                continue
            with grpc.insecure_channel(spec.address) as channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
            time.sleep(0.05)
        raise apiserver.failure(f"did not serve on {spec.address} in time")

    def _wait_kubelets(self, spec: ClusterSpec, kubelets: list[Started], deadline: float,
                       since: float) -> None:
        """Every kubelet (or the hollow-nodes process) alive, and each of its Nodes Ready with
        a heartbeat from this run (a Node kept from an earlier run says Ready until its kubelet
        writes again)."""
        runs = {k.component: (spec.hollow_nodes if k.component == HOLLOW else [k.component.partition("/")[0]])
                for k in kubelets}
        names = [n for k in kubelets for n in runs[k.component]]
        states: dict[str, tuple[str, int]] = {}
        while time.monotonic() < deadline:
            for started in kubelets:
                if started.exited():
                    raise started.failure("")
            if all(k.log.seen(_running_event(k.component).__eq__) for k in kubelets):
                with contextlib.suppress(ClusterError):
                    states = self._nodes(timeout=5)
                if _all_ready(states, names, since):
                    return
            time.sleep(0.1 if len(names) < 100 else 0.5)
        waiting = [n for n in names if states.get(n, ("", 0))[0] != "Ready"]
        first = next(k for k in kubelets if set(runs[k.component]) & set(waiting or names))
        raise first.failure(f"node(s) {_some(waiting or names)} not Ready in time")

    def _wait_running_event(self, started: list[Started], deadline: float) -> None:
        """scheduler / controller-manager log "<component> running" once their informers synced."""
        pending = list(started)
        while pending and time.monotonic() < deadline:
            for s in list(pending):
                if s.exited():
                    raise s.failure("")
                if s.log.seen(lambda event: event.endswith("running")):
                    pending.remove(s)
            time.sleep(0.1)
        for s in pending:
            if s.exited():
                raise s.failure("")
            self.out(f"note: {s.component} runs but has not logged that it is running yet "
                     f"(see {s.log.path})")

    def _write_configs(self, spec: ClusterSpec, kubeconfig: str | os.PathLike | None | bool) -> None:
        write_pykubectl_config(self.config_path, spec.address)
        self.config_path.chmod(0o644)
        if kubeconfig is False:
            return
        if kubeconfig is None or kubeconfig is True:
            from kubectl.config import config_path
            target = config_path(os.environ)
        else:
            target = Path(kubeconfig).expanduser()
        try:
            write_pykubectl_config(target, spec.address)
        except OSError as err:  # the cluster runs: a config we cannot write is worth a note only
            self.out(f"note: cannot write the pykubectl config {target}: {err.strerror}")
            return
        self.user_config_path = target

    # -- down

    def down(self, purge: bool = False) -> bool:
        """Stop everything by PID, remove the nodes' containers, mounts and namespaces.
        Returns False when there was no cluster in the state dir."""
        require_root("down")
        if not self.state_dir.exists():
            return False
        with self._locked():
            found = self._down()
        if purge:
            self._purge()
        return found

    def _purge(self) -> None:
        leftover = _mounts_under(self.state_dir)
        if leftover:
            raise ClusterError(f"not deleting {self.state_dir}: still mounted: {', '.join(leftover)}")
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _down(self) -> bool:
        spec = self.spec()
        node_dirs = sorted(p.name for p in self.node_root.glob("*") if p.is_dir()) \
            if self.node_root.exists() else []
        if spec is None and not node_dirs and not any(self.pid_dir.glob("*.pid")) \
                and not (self.registry_dir / "registry.pid").exists():
            return False
        spec = spec or ClusterSpec(name=self._name or DEFAULT_NAME, port=0, nodes=[])
        # 1. The agents and the control plane (kubelets first: they leave containers running).
        kubelets, control = [], []
        for pid_file in sorted(self.pid_dir.glob("*.pid")) if self.pid_dir.exists() else []:
            component = pid_file.stem
            pid = _read_pid(pid_file)
            if component.endswith("-kubelet"):
                component = component[: -len("-kubelet")] + "/kubelet"
            if pid is None:
                continue
            module = MODULES["kubelet"] if component.endswith("/kubelet") else MODULES.get(component)
            if module is None:
                continue
            # A PID file from an earlier spec (other port): still ours only if the module and
            # this state dir's identity match.
            marker = self._marker(spec, component) if spec.port else module
            agent = component.endswith("/kubelet") or component == HOLLOW
            (kubelets if agent else control).append((pid, marker, pid_file))
        _stop_all([(p, m) for p, m, _ in kubelets])
        for order in ("controller-manager", "scheduler", "apiserver"):
            _stop_all([(p, m) for p, m, f in control if f.stem == order])
        for _, _, pid_file in kubelets + control:
            pid_file.unlink(missing_ok=True)
        self.hollow_stopped_path.unlink(missing_ok=True)  # the next `up` boots every hollow node
        # 2. The nodes: containers, Podman service, relay, leftovers, mounts, netns, node dir.
        names = sorted(set(node_dirs) | set(spec.nodes))
        errors = []
        if names:
            with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
                futures = {n: pool.submit(PodmanNode(n, self.node_root / n, cluster=spec.name,
                                                     log_dir=self.log_dir).cleanup, True)
                           for n in names}
                for node, future in futures.items():
                    try:
                        future.result()
                    except Exception as exc:  # noqa: BLE001 - the other nodes must go too
                        errors.append(f"{node}: {exc}")
        # 3. The registry (its storage, i.e. the pushed images, stays).
        LocalRegistry(self.registry_dir).stop()
        if errors:
            raise ClusterError("cleanup failed: " + "; ".join(errors))
        return True

    # -- lab helpers: lose a node and bring it back

    def stop_node(self, node: str) -> None:
        """Lose node ``node`` as if its machine lost power: kubelet, Podman service, relay,
        conmons and containers all stopped by PID; volatile state (what a reboot clears from
        /run: Podman's runroot and tmp dir, IPAM, container netns pins) and the node's network
        namespace are gone. Its disk stays: configs and storage (the image cache).

        The control plane notices only what it would notice in a real cluster: the node's
        Lease is no longer renewed, so the node lifecycle controller marks it NotReady.

        A hollow node is powered off inside the hollow-nodes process (its kubelet stops, its
        fake containers die; the process and the other hollow nodes run on), through the
        ``hollow-stopped`` file and SIGHUP: see :meth:`_power_hollow`.
        """
        require_root("stop-node")
        with self._locked():
            spec = self._spec_with_node(node)
            if node in spec.hollow_nodes:
                self._power_hollow(spec, node, on=False)
                return
            component = f"{node}/kubelet"
            pid = self._pid_of(spec, component)
            if pid is not None:
                _stop_all([(pid, self._marker(spec, component))])
            self.pid_path(component).unlink(missing_ok=True)
            if node in spec.nodes:
                _power_off(self.podman_node(spec, node))

    def start_node(self, node: str, timeout: float = 30.0) -> None:
        """Boot a stopped node again: fresh network namespace, Podman service (which finds its
        containers exited, as after a reboot), relay and kubelet; wait until it is Ready.

        The kubelet then does what it does after a reboot: restarts the containers of Pods
        still bound to the node (RESTARTS goes up) and removes those of Pods that are gone.
        A hollow node boots the same way, inside the running hollow-nodes process.
        """
        require_root("start-node")
        with self._locked():
            spec = self._spec_with_node(node)
            if node in spec.hollow_nodes:
                self._power_hollow(spec, node, on=True, timeout=timeout)
                return
            component = f"{node}/kubelet"
            if self._alive(spec, component):
                raise ClusterError(f"node {node}'s kubelet is running (pykube stop-node {node} first)")
            since = time.time()
            if node in spec.nodes:
                podman = self.podman_node(spec, node)
                if podman.ping():
                    raise ClusterError(f"node {node}'s Podman service is running "
                                       f"(pykube stop-node {node} first)")
                podman.start()
            kubelet = self._start_process(spec, component)
            self._wait_kubelets(spec, [kubelet], time.monotonic() + timeout, since=since)
            if kubelet.exited():
                raise kubelet.failure("")

    def _power_hollow(self, spec: ClusterSpec, node: str, on: bool, timeout: float = 30.0) -> None:
        """Power hollow node ``node`` off or on inside the running hollow-nodes process: write
        the stopped file, SIGHUP the process (by PID), wait for its ``hollow nodes reconfigured``
        line to say so, and when powering on, for the Node to be Ready with a fresh heartbeat.

        Off is a power cut for that node only (its kubelet stops without a goodbye, its fake
        containers die); the process and the other hollow nodes run on. Needs the process: if
        it is gone, say so (`pykube down` and `up` start it again) rather than start one."""
        pid = self._pid_of(spec, HOLLOW)
        marker = self._marker(spec, HOLLOW)
        if pid is None or not pid_alive(pid, marker):
            raise ClusterError(f"the hollow-nodes process that runs {node} is not running "
                               f"(see pykube status; pykube down and up start it again)")
        stopped = self.hollow_stopped()
        if on and node not in stopped:
            raise ClusterError(f"node {node}'s kubelet is running (pykube stop-node {node} first)")
        if not on and node in stopped:
            return  # already off, as stop-node of a stopped real node is
        since = time.time()
        follower = LogFollower(self.log_path(HOLLOW))
        self._write_hollow_stopped((stopped - {node}) if on else (stopped | {node}))
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout

        def applied() -> bool:
            return any(r.get("event") == "hollow nodes reconfigured"
                       and (node in r.get("stopped", ())) != on for r in follower.events())

        def failure(what: str) -> ClusterError:
            return ClusterError(f"{HOLLOW} (pid {pid}) {what} (log: {follower.path})", tail(follower.path))
        while not applied():
            if not pid_alive(pid, marker):
                raise failure("exited")
            if time.monotonic() > deadline:
                raise failure(f"did not power {'on' if on else 'off'} {node} in time")
            time.sleep(0.05)
        if not on:
            return
        states: dict[str, tuple[str, int]] = {}
        while not _all_ready(states, [node], since):
            if not pid_alive(pid, marker):
                raise failure("exited")
            if time.monotonic() > deadline:
                raise failure(f"started {node} but it is not Ready in time")
            time.sleep(0.1)
            with contextlib.suppress(ClusterError):
                states = self._nodes(timeout=5)

    def _spec_with_node(self, node: str) -> ClusterSpec:
        spec = self.spec()
        if spec is None:
            raise ClusterError(f"no cluster in {self.state_dir} (run pykube up)")
        if node not in spec.all_nodes:
            raise ClusterError(f"no node {node} in this cluster (nodes: {_some(spec.all_nodes)})")
        return spec


def _running_event(component: str) -> str:
    """What a node agent logs once it runs (the hollow-nodes process: once all of its do)."""
    return "hollow nodes running" if component == HOLLOW else "kubelet running"


def _all_ready(states: dict[str, tuple[str, int]], names: Sequence[str], since: float) -> bool:
    return all(states.get(n, ("", 0))[0] == "Ready" and states[n][1] >= int(since) - 1 for n in names)


def _some(names: Sequence[str], limit: int = 10) -> str:
    """A list of node names short enough for one line (there may be thousands of hollow ones)."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _hollow_range(names: Sequence[str], stopped: int) -> str:
    """The hollow-nodes row's ADDRESS cell: which nodes the process runs."""
    span = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return f"{len(names)} hollow node(s) {span}" + (f", {stopped} powered off" if stopped else "")


VOLATILE_NODE_DIRS = ("run", "tmp", "network-run", "netns-run")  # PodmanConfig: what /run would hold


def _power_off(podman: PodmanNode, timeout: float = 10.0) -> None:
    """Kill a node's Podman service, relay, conmons and containers at once (SIGKILL: a power
    cut gives nobody a grace period), then clear what a reboot clears. Only processes found
    in the node's own network namespace or its containers' cgroups are touched."""
    from cluster.podman_node import pids_in_netns, unmount_under

    podman.stop()  # the service and the relay, by PID
    victims = set(podman.container_pids())
    if netns_mod.netns_exists(podman.netns_name):
        victims.update(pids_in_netns(podman.netns_path))
    victims.discard(os.getpid())
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in victims):
        time.sleep(0.05)
    still = [pid for pid in victims if pid_alive(pid)]
    if still:
        raise ClusterError(f"node {podman.name}: processes {still} did not die")
    unmount_under(podman.state_dir)
    netns_mod.delete_netns(podman.netns_name)
    for sub in VOLATILE_NODE_DIRS:
        shutil.rmtree(podman.state_dir / sub, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    from cluster.podman_node import mounts_under
    return mounts_under(path)
