"""What runs in a local cluster, process by process: each component's command line and the
piece of it (the *marker*) that identifies this cluster's process when a PID is checked.

Components: ``apiserver``, ``scheduler``, ``controller-manager``; per node ``nI/kubelet`` and
``nI/proxy`` (pykube-proxy acting in the node's namespace, as kube-proxy runs on each
machine); ``nodeports`` (:mod:`cluster.nodeport_publisher`); ``hollow-nodes``. The node
agents dial the apiserver on loopback from the root namespace; what they do in the node (Pods'
network, rules, DNS) happens through the node's namespace path.

:class:`Components` is a part of :class:`cluster.local_cluster.LocalCluster` (it needs the
spec and the nodes' Podman), kept apart to keep each file about one thing.
"""

from __future__ import annotations

import sys

from cluster.cluster_network import ClusterNetwork, node_index, node_ip
from cluster.state_dir import OPTIONAL_COMPONENTS, ClusterSpec
from cluster.supervise import HOLLOW

MODULES = {
    "apiserver": "apiserver.main",
    "scheduler": "scheduler.main",
    "controller-manager": "controllers.main",
    "kubelet": "kubelet.main",
    "proxy": "proxy.main",
    "nodeports": "cluster.nodeport_publisher",
    "hollow-nodes": "kubelet.hollow",
}
NODE_AGENTS = ("kubelet", "proxy")  # what runs per node: component "nI/<agent>"
NODEPORTS = "nodeports"
HOLLOW_PREFIX = "hollow-"
HOLLOW_NODE_IP = "127.0.0.1"  # hollow nodes are not on the cluster network
# The Hostname a local kubelet publishes: it listens on loopback, and the apiserver dials
# kubelets by Hostname first (see apiserver.logs_proxy), while its InternalIP is on the
# cluster network, which the root namespace does not reach.
KUBELET_HOSTNAME = "localhost"


def component_of_pid_file(stem: str) -> str:
    """``n1-kubelet`` -> ``n1/kubelet`` (PID files flatten the slash)."""
    for agent in NODE_AGENTS:
        if stem.endswith(f"-{agent}") and stem != agent:
            return stem[: -len(agent) - 1] + "/" + agent
    return stem


def module_of(component: str) -> str | None:
    return MODULES.get(component.rpartition("/")[2] if "/" in component else component)


class Components:
    """_argv / _marker of :class:`LocalCluster` (the methods below are its own)."""

    def _argv(self, spec: ClusterSpec, component: str) -> list[str]:
        py = [sys.executable, "-m"]
        extra = spec.extra_args
        if component == "apiserver":
            http = ["--http-listen", spec.http_address] if spec.http_port else []
            return [*py, MODULES["apiserver"], "--data-dir", str(self.state_dir / "apiserver"),
                    "--listen", spec.address, *http, *self.pki.apiserver_args(), *extra.get("apiserver", [])]
        # Every client dials spec.address (--server, also what _marker looks for) with the
        # identity of its kubeconfig (cluster.cluster_pki).
        kubeconfig = ["--kubeconfig", str(self.pki.kubeconfig(component))]
        if component in OPTIONAL_COMPONENTS:
            return [*py, MODULES[component], "--server", spec.address, *kubeconfig, *extra.get(component, [])]
        if component == NODEPORTS:
            return [*py, MODULES[NODEPORTS], "--server", spec.address, *kubeconfig,
                    "--switch-netns", ClusterNetwork(spec.name).switch_path]
        if component == HOLLOW:
            # --kubelet-arg reaches the hollow kubelets too (kubelet.hollow takes the kubelet's
            # settings; a flag only real kubelets have fails `up` with its log tail).
            return [*py, MODULES[HOLLOW], "--server", spec.address, *kubeconfig,
                    "--nodes", str(len(spec.hollow_nodes)),
                    "--prefix", HOLLOW_PREFIX, "--node-ip", HOLLOW_NODE_IP,
                    "--stopped-file", str(self.hollow_stopped_path), *extra.get("kubelet", [])]
        node, _, what = component.partition("/")
        assert what in NODE_AGENTS and node not in spec.hollow_nodes, component
        podman = self.podman_node(spec, node)
        if what == "proxy":
            return [*py, MODULES["proxy"], "--server", spec.address, *kubeconfig, "--node-name", node,
                    "--netns", podman.netns_path]
        return [*py, MODULES["kubelet"], "--podman-url", podman.url, "--server", spec.address, *kubeconfig,
                "--node-name", node, "--probe-netns", podman.netns_path,
                # local-path volumes in the state dir, outside nodes/ (which `down` removes):
                # kept by `down` as the apiserver keeps their PersistentVolumes, gone with --purge.
                "--local-storage-dir", str(self.state_dir / "storage" / node),
                "--node-ip", node_ip(node_index(node)), "--hostname-override", KUBELET_HOSTNAME,
                *self.pki.kubelet_serving_args(node), *extra.get("kubelet", [])]

    def _marker(self, spec: ClusterSpec, component: str) -> str:
        """A piece of the component's command line that only this cluster's process has."""
        if component == "apiserver":
            return f"--data-dir {self.state_dir / 'apiserver'} "
        if component in OPTIONAL_COMPONENTS or component in (HOLLOW, NODEPORTS):
            return f"{MODULES[component]} --server {spec.address} "
        node, _, what = component.partition("/")
        if node in spec.hollow_nodes:  # a state dir from before hollow nodes shared a process
            return f"--server {spec.address} --node-name {node} --runtime fake "
        if what == "proxy":
            return f"--node-name {node} --netns {self.podman_node(spec, node).netns_path}"
        return f"--podman-url {self.podman_node(spec, node).url} "
