"""The state dir of a local cluster: where each piece of ``pykube up``'s cluster lives on disk.

Everything `down`, `status` and `stop-node` need is here, so any later process (``pykube down``
runs long after ``pykube up`` returned) can find the pieces. The layout (``--state-dir``;
default ``$PYKUBE_STATE_DIR``, else ``/var/lib/pykube``)::

    cluster.json          what `up` started: name, apiserver port, nodes, registry, extra args
    config                the pykubectl config for this cluster: the admin's kubeconfig (0600)
    kubeconfig            the same admin for the real kubectl: server https://127.0.0.1:<http port>,
                          the apiserver's Kubernetes HTTP API (0600)
    pki/                  the cluster CA, the apiserver's certificate, a kubeconfig per component
                          (see cluster.cluster_pki); the CA stays until `down --purge`
    .lock                 flock: one up/down/stop-node/start-node at a time
    pids/<c>.pid          apiserver, scheduler, controller-manager, <node>-kubelet, hollow-nodes
    logs/<c>.log          every component's log, including registry, <node>-podman, <node>-relay
    hollow-stopped        the hollow nodes stop-node powered off, one a line (the hollow-nodes
                          process re-reads it on SIGHUP); gone after `down`
    apiserver/pykube.db   the cluster's objects (SQLite)
    registry/             the registry's config, storage (the pushed images) and registry.pid
    registry-cache/       with --registry-upstream: the pull-through cache's config, storage, pid
    nodes/<node>/         the node's Podman: configs, storage (image cache), podman.sock,
                          podman.pid, relay.pid; gone after `down`

``down`` keeps the state dir's ``cluster.json``, ``config``, ``logs/``, ``apiserver/`` and
``registry/``: a later ``up`` on the same dir brings back the same objects (Deployments,
Pods...), as a rebooted cluster does; the nodes themselves start empty and their kubelets
re-create the containers. ``down --purge`` deletes the whole state dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from client.config import write_server as write_pykubectl_config  # noqa: F401  (re-exported)
from cluster.cluster_pki import ClusterPKI

DEFAULT_NAME = "local"
DEFAULT_STATE_DIR = Path("/var/lib/pykube")
OPTIONAL_COMPONENTS = ("scheduler", "controller-manager")


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


# --------------------------------------------------------------------------- what `up` recorded

@dataclass
class ClusterSpec:
    """``cluster.json``: everything `down`, `status` and `start-node` need to find the pieces."""

    name: str
    port: int
    nodes: list[str]
    http_port: int = 0                       # the Kubernetes HTTP API (--http-listen); 0: none
    hollow_nodes: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    registry: str = ""                       # 127.0.0.1:PORT once the registry runs
    registry_upstream: str = ""              # --registry-upstream URL: a pull-through cache of it
    registry_cache: str = ""                 # 127.0.0.1:PORT of that cache once it runs
    extra_args: dict[str, list[str]] = field(default_factory=dict)  # component -> argv tail
    started_at: float = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_address(self) -> str:
        """``127.0.0.1:<port>`` of the Kubernetes HTTP API ("" for a cluster started without one)."""
        return f"127.0.0.1:{self.http_port}" if self.http_port else ""

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


# --------------------------------------------------------------------------- the layout

class StateDir:
    """The paths of one state dir (see the module docstring), and its lock."""

    def __init__(self, state_dir: str | os.PathLike | None = None,
                 out: Callable[[str], None] | None = None) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir else \
            default_state_dir().resolve()
        self.out = out or (lambda line: None)

    @property
    def spec_path(self) -> Path:
        return self.state_dir / "cluster.json"

    @property
    def config_path(self) -> Path:
        """The pykubectl config for this cluster (``PYKUBECONFIG=<this>`` selects it)."""
        return self.state_dir / "config"

    @property
    def kubeconfig_path(self) -> Path:
        """The real kubectl's config for this cluster (``kubectl --kubeconfig <this>``)."""
        return self.state_dir / "kubeconfig"

    @property
    def pki(self) -> ClusterPKI:
        """``<state>/pki``: the CA, certificates and the components' kubeconfigs."""
        return ClusterPKI(self.state_dir / "pki")

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
    def registry_cache_dir(self) -> Path:
        """The pull-through cache of ``--registry-upstream`` (config, storage, registry.pid)."""
        return self.state_dir / "registry-cache"

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
