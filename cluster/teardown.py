"""``pykube down``: stop a local cluster's processes by PID and remove its nodes.

Node agents go first (kubelets leave containers running; the NodePort publisher's sockets
would keep the switch namespace alive), then the control plane, then each node's containers,
Podman, relay, mounts and namespace, then the cluster network, and last the registry (its
storage, the pushed and cached images, stays). ``--purge`` then deletes the state dir, unless
something is still mounted below it.

:class:`Teardown` is a part of :class:`cluster.local_cluster.LocalCluster` (it needs the spec
and the process identities), kept apart to keep each file about one thing; ``up`` uses it too,
to clean up after a failed start or a stopped cluster left behind.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

from cluster.cluster_network import ClusterNetwork
from cluster.cluster_registries import ClusterRegistries
from cluster.components import NODEPORTS, component_of_pid_file, module_of
from cluster.podman_node import PodmanNode, mounts_under
from cluster.state_dir import DEFAULT_NAME, ClusterError, ClusterSpec, require_root
from cluster.supervise import HOLLOW, read_pid, stop_all


class Teardown:
    """down for :class:`LocalCluster` (the methods below are its own)."""

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
        leftover = mounts_under(self.state_dir)
        if leftover:
            raise ClusterError(f"not deleting {self.state_dir}: still mounted: {', '.join(leftover)}")
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _down(self) -> bool:
        spec = self.spec()
        node_dirs = sorted(p.name for p in self.node_root.glob("*") if p.is_dir()) \
            if self.node_root.exists() else []
        if spec is None and not node_dirs and not any(self.pid_dir.glob("*.pid")) \
                and not ClusterRegistries(self).leftovers():
            return False
        spec = spec or ClusterSpec(name=self._name or DEFAULT_NAME, port=0, nodes=[])
        # 1. The agents and the control plane (node agents first: kubelets leave containers
        # running; the NodePort publisher's sockets would keep the switch namespace alive).
        kubelets, control = [], []
        for pid_file in sorted(self.pid_dir.glob("*.pid")) if self.pid_dir.exists() else []:
            component = component_of_pid_file(pid_file.stem)
            pid = read_pid(pid_file)
            module = module_of(component)
            if pid is None or module is None:
                continue
            # A PID file from an earlier spec (other port): still ours only if the module and
            # this state dir's identity match.
            marker = self._marker(spec, component) if spec.port else module
            agent = "/" in component or component in (HOLLOW, NODEPORTS)
            (kubelets if agent else control).append((pid, marker, pid_file))
        stop_all([(p, m) for p, m, _ in kubelets])
        for order in ("controller-manager", "scheduler", "apiserver"):
            stop_all([(p, m) for p, m, f in control if f.stem == order])
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
        # 3. The cluster network (after the nodes: their ends of the links go with them).
        try:
            ClusterNetwork(spec.name).remove()
        except RuntimeError as exc:
            errors.append(f"network: {exc}")
        # 4. The registry and its cache (their storage, i.e. the pushed and cached images, stays).
        ClusterRegistries(self).stop()
        if errors:
            raise ClusterError("cleanup failed: " + "; ".join(errors))
        return True
