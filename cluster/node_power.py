"""Node power for a local cluster: ``pykube stop-node`` / ``start-node``.

Losing a node is the lab's most instructive experiment: stop-node cuts a node's power (its
kubelet, Podman service, relay, conmons and containers die at once; what a reboot clears from
/run goes; its disk stays), and the control plane notices only what it would in a real cluster,
the node's Lease no longer renewed. start-node boots it again, and its kubelet does what it
does after a reboot. Hollow nodes are powered off and on inside their shared process.

:class:`NodePower` is a part of :class:`cluster.local_cluster.LocalCluster` (which it needs for
the spec, the process identities and the Node states), kept apart because it is its own story.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time

from cluster import netns as netns_mod
from cluster.cluster_network import ClusterNetwork
from cluster.podman_node import PodmanNode
from cluster.registry import pid_alive
from cluster.state_dir import ClusterError, ClusterSpec, require_root
from cluster.supervise import HOLLOW, LogFollower, all_ready, some, stop_all, tail

VOLATILE_NODE_DIRS = ("run", "tmp", "network-run", "netns-run")  # PodmanConfig: what /run would hold


class NodePower:
    """stop_node / start_node of :class:`LocalCluster` (the methods below are its own)."""

    def stop_node(self, node: str) -> None:
        """Lose node ``node`` as if its machine lost power: kubelet, pykube-proxy, Podman
        service, relay, conmons and containers all stopped by PID; volatile state (what a reboot clears from
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
            agents = [f"{node}/kubelet"] + ([f"{node}/proxy"] if node in spec.nodes else [])
            stop_all([(pid, self._marker(spec, c)) for c in agents
                      if (pid := self._pid_of(spec, c)) is not None])
            for component in agents:
                self.pid_path(component).unlink(missing_ok=True)
            if node in spec.nodes:
                power_off(self.podman_node(spec, node))

    def start_node(self, node: str, timeout: float = 30.0) -> None:
        """Boot a stopped node again: fresh network namespace plugged into the cluster network
        with its node IP, Podman service (which finds its containers exited, as after a
        reboot), relay, kubelet and pykube-proxy; wait until it is Ready and the proxy runs.

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
                power_on(podman, ClusterNetwork(spec.name))
            kubelet = self._start_process(spec, component)
            deadline = time.monotonic() + timeout
            self._wait_kubelets(spec, [kubelet], deadline, since=since)
            proxy = self._start_network_agents(spec, [node] if node in spec.nodes else [], deadline,
                                               publisher=False)
            for started in [kubelet, *proxy]:
                if started.exited():
                    raise started.failure("")

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
        while not all_ready(states, [node], since):
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
            raise ClusterError(f"no node {node} in this cluster (nodes: {some(spec.all_nodes)})")
        return spec


def power_on(podman: PodmanNode, network: ClusterNetwork) -> None:
    """Boot a node: its namespace, plugged into the cluster network with its node IP (the same
    after every boot, as a machine's NIC configuration), then its Podman service."""
    netns_mod.create_netns(podman.netns_name)
    network.attach(podman.name)
    podman.start()


def power_off(podman: PodmanNode, timeout: float = 10.0) -> None:
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
