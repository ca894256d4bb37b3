"""Starting a local cluster's processes and waiting until each works: the mechanics of
``pykube up`` (:meth:`cluster.local_cluster.LocalCluster.up` checks the request, writes the spec
and the PKI, then calls :meth:`Startup._start_everything`).

The order is the one a cluster needs: the apiserver and the registry first, the nodes' Podman
in parallel meanwhile, then (once the apiserver serves) the scheduler, the controller-manager
and the kubelets, and last pykube-proxy on every node and the NodePort publisher. Each waits
on what the process itself says (its log's ``... running`` event, the apiserver's health
check, the Nodes' Ready heartbeats from this run), never on a fixed sleep.

:class:`Startup` is a part of :class:`cluster.local_cluster.LocalCluster` (it needs the spec,
the process identities and the Node states), kept apart to keep each file about one thing;
:mod:`cluster.node_power` uses it too, when a node boots again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from cluster.cluster_network import NODE_NETWORK, ClusterNetwork
from cluster.cluster_registries import ClusterRegistries
from cluster.components import NODEPORTS
from cluster.node_power import power_on
from cluster.state_dir import ClusterError, ClusterSpec
from cluster.supervise import HOLLOW, Started, all_ready, running_event, some, spawn

RUNNING_EVENT_TIMEOUT = 10.0    # scheduler / controller-manager: "<component> running" logged


class Startup:
    """Starting and waiting, for :class:`LocalCluster` (the methods below are its own)."""

    def _start_everything(self, spec: ClusterSpec, timeout: float) -> None:
        t0 = time.monotonic()
        deadline = t0 + timeout
        apiserver = self._start_process(spec, "apiserver")

        ClusterRegistries(self).start(spec, lambda line: self.out(f"{line} ({time.monotonic() - t0:.1f}s)"))

        if spec.nodes:
            ClusterNetwork(spec.name).create()  # the switch first: each node plugs into it
            with ThreadPoolExecutor(max_workers=min(8, len(spec.nodes))) as pool:
                network = ClusterNetwork(spec.name)
                futures = {n: pool.submit(power_on, self.podman_node(spec, n), network) for n in spec.nodes}
                errors = []
                for node, future in futures.items():
                    try:
                        future.result()
                    except Exception as exc:  # noqa: BLE001 - reported together below
                        errors.append(f"{node}: {exc}")
                if errors:
                    raise ClusterError("node Podman failed to start: " + "; ".join(errors))
            self.out(f"{len(spec.nodes)} node(s) with their own Podman, storage and network namespace, "
                     f"joined by the cluster network {NODE_NETWORK} ({time.monotonic() - t0:.1f}s)")

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
        network = self._start_network_agents(spec, spec.nodes, deadline)
        for started in [apiserver, *others, *kubelets, *network]:
            if started.exited():
                raise started.failure("stopped")

    def _start_network_agents(self, spec: ClusterSpec, nodes: Sequence[str], deadline: float,
                              publisher: bool = True) -> list[Started]:
        """pykube-proxy on ``nodes`` (and the NodePort publisher); returns once each logged
        that it runs (the proxy: its first full sync is programmed)."""
        started = [self._start_process(spec, f"{node}/proxy") for node in nodes]
        if publisher and spec.nodes:
            started.append(self._start_process(spec, NODEPORTS))
        for agent in started:
            while not agent.log.seen(lambda event: event.endswith("running")):
                if agent.exited():
                    raise agent.failure("")
                if time.monotonic() > deadline:
                    raise agent.failure("did not log that it runs in time")
                time.sleep(0.1)
        return started

    def _start_process(self, spec: ClusterSpec, component: str) -> Started:
        started = spawn(component, self._argv(spec, component), self.log_path(component),
                         self.pid_path(component))
        self.started.append(started)
        return started

    def _wait_apiserver(self, spec: ClusterSpec, apiserver: Started, deadline: float) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        from client.connection import connect

        while time.monotonic() < deadline:
            if apiserver.exited():
                raise apiserver.failure("")
            if not apiserver.log.seen(lambda event: event == "apiserver serving"):
                time.sleep(0.05)  # not ours yet, whoever else might answer on that port
                continue
            with connect(spec.address, tls=self.admin_tls()) as conn:
                channel = conn.channel
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
            if all(k.log.seen(running_event(k.component).__eq__) for k in kubelets):
                with contextlib.suppress(ClusterError):
                    states = self._nodes(timeout=5)
                if all_ready(states, names, since):
                    return
            time.sleep(0.1 if len(names) < 100 else 0.5)
        waiting = [n for n in names if states.get(n, ("", 0))[0] != "Ready"]
        first = next(k for k in kubelets if set(runs[k.component]) & set(waiting or names))
        raise first.failure(f"node(s) {some(waiting or names)} not Ready in time")

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
