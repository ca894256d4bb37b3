"""``pykube up / down / status``: a whole pykube cluster on one machine (the embedded default).

A local cluster is a handful of ordinary processes, each started here, each with a PID file
and a log file in the cluster's *state dir*, and each stopped later by that PID (never by
name), possibly by another process (``pykube down`` runs long after ``pykube up`` returned):

* ``registry``: the local registry standing in for Docker Hub, with the lab images pushed
  (``docker.io/library/multi-worker:1.0`` ...; see :mod:`cluster.images`);
* ``apiserver``: ``pykube-apiserver --listen 127.0.0.1:<port> --data-dir <state>/apiserver``
  ``--http-listen 127.0.0.1:<http port>`` (the Kubernetes HTTP API; ``<state>/kubeconfig`` for kubectl);
* ``scheduler`` and ``controller-manager``, dialling the apiserver;
* ``network``: the cluster network (:mod:`cluster.cluster_network`), a switch namespace whose
  bridge joins every node's ``eth0`` (node ``nI`` = ``10.87.0.(I+1)``, its InternalIP);
* per node ``nI``: its Podman service in a sealed network namespace with its own storage, the
  relay that carries the registry into the namespace, a ``pykubelet`` pointed at that Podman
  (its Pods get addresses from the Node's podCIDR, set by the node IPAM controller) and a
  ``pykube-proxy`` programming the node's Service rules, routes and DNS (component ``nI/proxy``);
* ``nodeports``: every NodePort published on the host's ``127.0.0.1:<nodePort>``
  (:mod:`cluster.nodeport_publisher`);
* optionally hollow nodes ``hollow-1..hollow-M``: one process for all of them,
  ``python -m kubelet.hollow --nodes M`` (component ``hollow-nodes``, see :mod:`kubelet.hollow`):
  M real kubelets on fake runtimes (no containers) sharing one event loop and one channel to
  the apiserver, as kubemark runs them; ~0.1 MB per node rather than a ~45 MB process each.

Where each piece lives on disk is :mod:`cluster.state_dir`; how processes are started, followed
and stopped is :mod:`cluster.supervise`; the order `up` starts them in and what it waits for is
:mod:`cluster.startup`; `down` is :mod:`cluster.teardown`; losing a node and bringing it back
is :mod:`cluster.node_power`.

Why processes and PID files rather than one supervisor process: every component is the same
binary that runs on a real machine, `up` returns once the cluster works, and a test (or a
user) can stop and start a single node's kubelet and Podman to see what the control plane
does about a lost node (:meth:`LocalCluster.stop_node` / :meth:`LocalCluster.start_node`).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from client.config import component_settings, config_path as client_config_path
from client.connection import DEFAULT_ADDRESS, TLSConfig
from client.files import write_atomic
from client.kubeconfig import kubectl_config, write_kubeconfig
from cluster import netns as netns_mod
from cluster.cluster_network import ClusterNetwork, node_index, node_ip
from cluster.components import NODE_AGENTS, NODEPORTS, Components
from cluster.node_power import NodePower
from cluster.podman_node import PodmanNode
from cluster.cluster_registries import ClusterRegistries
from cluster.registry import free_port, pid_alive
from cluster.state_dir import (
    DEFAULT_NAME,
    OPTIONAL_COMPONENTS,
    ClusterError,
    ClusterSpec,
    ComponentStatus,
    StateDir,
    default_state_dir,
    require_root,
    write_pykubectl_config,
)
from cluster.startup import Startup
from cluster.supervise import HOLLOW, Started, read_pid, some
from cluster.teardown import Teardown

__all__ = ["HOLLOW", "ClusterError", "ClusterSpec", "ComponentStatus", "LocalCluster", "default_state_dir",
           "write_pykubectl_config", "DEFAULT_NAME", "OPTIONAL_COMPONENTS", "START_TIMEOUT"]

DEFAULT_PORT = int(DEFAULT_ADDRESS.rpartition(":")[2])  # the port clients try when told nothing
MAX_NODES = 250                 # node IPs 10.87.0.2 .. 10.87.0.251 on the cluster network
START_TIMEOUT = 60.0            # everything up and every node Ready
RUNNING_EVENT_TIMEOUT = 10.0    # scheduler / controller-manager: "<component> running" logged
UNIX_PATH_MAX = 107             # sockaddr_un.sun_path, minus the NUL


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- the cluster

class LocalCluster(StateDir, Startup, Teardown, NodePower, Components):
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
        super().__init__(state_dir, out)
        self._name = name
        self.started: list[Started] = []
        self.user_config_path: Path | None = None  # set by up(): the config pykubectl reads

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
                          registry_cache=spec.registry_cache or None, log_dir=self.log_dir)

    def node_podman(self, node: str) -> PodmanNode:
        """Node ``node``'s Podman (for ``pykube podman NODE ...``), or a one-line ClusterError."""
        spec = self.spec()
        if spec is None:
            raise ClusterError(f"no cluster in {self.state_dir} (run pykube up)")
        if node not in spec.nodes:
            hollow = " (a hollow node runs no containers, so it has no Podman)" if node in spec.hollow_nodes else ""
            raise ClusterError(f"no node {node} with a Podman in this cluster{hollow} "
                               f"(nodes: {some(spec.nodes) or 'none'})")
        return self.podman_node(spec, node)

    def registry_address(self) -> str:
        """``127.0.0.1:PORT`` of the cluster's running registry (where ``image load`` pushes)."""
        return ClusterRegistries(self).address(self.spec())

    # -- identities of the processes (command lines and markers: cluster.components)

    def _pid_of(self, spec: ClusterSpec, component: str) -> int | None:
        return read_pid(self.pid_path(component))

    def _alive(self, spec: ClusterSpec, component: str) -> bool:
        pid = self._pid_of(spec, component)
        return pid is not None and pid_alive(pid, self._marker(spec, component))

    # -- status

    def status(self) -> list[ComponentStatus]:
        """Every component of the cluster, running or not (empty when there is no cluster)."""
        spec = self.spec()
        if spec is None:
            return []
        rows: list[ComponentStatus] = ClusterRegistries(self).rows(spec)
        for component in spec.control_plane() + ([NODEPORTS] if spec.nodes else []):
            rows.append(ComponentStatus(component, self._pid_of(spec, component),
                                        self._alive(spec, component),
                                        {"apiserver": spec.address, NODEPORTS: "127.0.0.1:<nodePort>"}.get(component, "-"),
                                        self.log_path(component)))
        for node in spec.nodes:
            podman = self.podman_node(spec, node)
            pid = podman.service_pid()
            rows.append(ComponentStatus(f"{node}/podman", pid,
                                        pid is not None and pid_alive(pid, str(podman.socket_path)),
                                        podman.url, podman.log_path))
            relay_pid = read_pid(podman.state_dir / "relay.pid")
            rows.append(ComponentStatus(
                f"{node}/relay", relay_pid,
                relay_pid is not None and pid_alive(relay_pid, f"--netns {podman.netns_path}"),
                f"{spec.registry or '-'} in netns {podman.netns_name}",
                podman.relay.log_path if podman.relay else self.log_path(f"{node}/relay")))
            for agent in NODE_AGENTS:
                component = f"{node}/{agent}"
                rows.append(ComponentStatus(component, self._pid_of(spec, component),
                                            self._alive(spec, component),
                                            f"node {node}, {node_ip(node_index(node))}",
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
            with connect(self.address, call_timeout=timeout, tls=self.admin_tls()) as conn:
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

    # -- up

    def up(self, nodes: int = 1, *, port: int | None = None, hollow_nodes: int = 0,
           skip: Sequence[str] = (), kubelet_args: Sequence[str] = (),
           apiserver_args: Sequence[str] = (), scheduler_args: Sequence[str] = (),
           controller_manager_args: Sequence[str] = (), kubeconfig: str | os.PathLike | None | bool = None,
           timeout: float = START_TIMEOUT, registry_upstream: str | None = None) -> ClusterSpec:
        """Start the whole cluster and return once the apiserver answers and every node is Ready.

        ``kubeconfig``: where to write the pykubectl config besides ``<state>/config``: None
        means ``$PYKUBECONFIG`` or ``~/.pykube/config`` (like pykubectl reads), False nowhere
        else. ``registry_upstream``: a registry URL (``https://registry-1.docker.io``) the cluster's
        registry falls back to, through a pull-through cache. Raises ClusterError (after stopping
        whatever it started) when a piece fails.
        """
        require_root("up")
        if registry_upstream and not re.fullmatch(r"https?://[^/\s]+/?", registry_upstream):
            raise ClusterError(f"--registry-upstream must be a registry URL like https://registry-1.docker.io, "
                               f"not {registry_upstream!r}")
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
            namespaces = [netns_mod.netns_name(name, f"n{i}") for i in range(1, nodes + 1)]
            for namespace in namespaces + ([ClusterNetwork(name).switch] if nodes else []):
                if netns_mod.netns_exists(namespace):
                    raise ClusterError(f"network namespace {namespace} exists "
                                       f"but is not this state dir's: another cluster named {name!r}? "
                                       f"use --name")
            if port is None:
                port = DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port()
            elif not port_free(port):
                raise ClusterError(f"port {port} on 127.0.0.1 is in use (choose another with --port)")
            http_port = free_port()
            while http_port == port:
                http_port = free_port()
            node_names = [f"n{i}" for i in range(1, nodes + 1)]
            spec = ClusterSpec(
                name=name, port=port, http_port=http_port, nodes=node_names,
                hollow_nodes=[f"hollow-{i}" for i in range(1, hollow_nodes + 1)],
                skip=sorted(set(skip)),
                extra_args={k: list(v) for k, v in (
                    ("kubelet", kubelet_args), ("apiserver", apiserver_args),
                    ("scheduler", scheduler_args), ("controller-manager", controller_manager_args)) if v},
                registry_upstream=(registry_upstream or "").rstrip("/"),
                started_at=time.time())
            for d in (self.log_dir, self.pid_dir, self.node_root):
                d.mkdir(parents=True, exist_ok=True)
            spec.save(self.spec_path)  # first: whatever starts below, `down` can find it
            self.pki.issue(spec.address, spec.nodes, [node_ip(node_index(n)) for n in spec.nodes],
                           nodeports=bool(spec.nodes), hollow=bool(spec.hollow_nodes))
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
        if any(self.pid_dir.glob("*.pid")) or ClusterRegistries(self).leftovers() \
                or any(self.node_root.glob("*")) or self.hollow_stopped_path.exists():
            return True
        spec = self.spec()
        return spec is not None and (ClusterNetwork(spec.name).exists() or any(
            netns_mod.netns_exists(netns_mod.netns_name(spec.name, node)) for node in spec.nodes))

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

    def admin_tls(self) -> TLSConfig | None:
        """The admin's credentials (``pki/admin.conf``), for `up`'s and `status`'s own calls;
        None for a cluster started before pykube had a CA (plaintext)."""
        path = self.pki.kubeconfig("admin")
        if not path.exists():
            return None
        return component_settings(None, path).tls

    def _write_configs(self, spec: ClusterSpec, kubeconfig: str | os.PathLike | None | bool) -> None:
        """The admin's kubeconfig becomes ``<state>/config`` and the user's pykubectl config
        (0600: it holds the admin's key), and, pointed at the Kubernetes HTTP API,
        ``<state>/kubeconfig`` for the real kubectl. Under sudo, ``<state>/config`` is given to the
        user who ran sudo, so ``PYKUBECONFIG=<state>/config pykubectl`` works without root
        (kubeadm asks to copy and chown admin.conf by hand)."""
        admin = self.pki.kubeconfig("admin").read_bytes()
        write_atomic(self.config_path, admin, 0o600)
        written = [self.config_path]
        if spec.http_port:
            write_kubeconfig(self.kubeconfig_path, kubectl_config(admin, spec.http_address, self.kubeconfig_path))
            written.append(self.kubeconfig_path)
        for path in written:
            with contextlib.suppress(KeyError, ValueError, OSError):
                os.chown(path, int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"]))
        if kubeconfig is False:
            return
        if kubeconfig is None or kubeconfig is True:
            target = client_config_path(os.environ)
        else:
            target = Path(kubeconfig).expanduser()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, admin, 0o600)
        except OSError as err:  # the cluster runs: a config we cannot write is worth a note only
            self.out(f"note: cannot write the pykubectl config {target}: {err.strerror}")
            return
        self.user_config_path = target


def _hollow_range(names: Sequence[str], stopped: int) -> str:
    """The hollow-nodes row's ADDRESS cell: which nodes the process runs."""
    span = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return f"{len(names)} hollow node(s) {span}" + (f", {stopped} powered off" if stopped else "")
