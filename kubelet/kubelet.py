"""The Kubelet: wires the node agent's parts together.

    informer (Pods with spec.nodeName=<this node>) ──┐
    PLEG (runtime events + relist) ──────────────────┼─> pod workers (one per Pod)
    prober (liveness/readiness results) ─────────────┤        │ decide → act (runtime)
    config cache (a watch per referenced ConfigMap/Secret) ┘
                                                              └─> status manager ─> apiserver
    node status + Lease heartbeats ─────────────────────────────────────────────> apiserver

At start it re-adopts what the runtime already runs: containers carry their Pod's
uid and attempt number in labels, so a restarted kubelet picks up where it left
off without restarting anything, and removes containers no Pod owns.

A real node's Pods need the Pod network first: the kubelet registers its Node (NotReady,
"container runtime network not ready"), waits for the node IPAM controller to set the Node's
``spec.podCIDR``, has the runtime create the network on it, and only then turns Ready and
runs Pods (Kubernetes' kubelet waits for its network plugin the same way). The fake runtime
needs no podCIDR, so hollow nodes are Ready at once."""

from __future__ import annotations

import asyncio
import os
import tempfile
from concurrent.futures import Executor

import grpc
import structlog
from google.protobuf.message import Message

from client.api import AsyncAPI, describe, is_not_found
from client.batcher import Batcher
from client.events import EventRecorder
from client.informer import Informer
from kubelet.backoff import BackOff, BackOffPolicy
from kubelet.config import KubeletConfig
from kubelet.dns import pod_dns, read_resolv_conf
from kubelet.images import ImageManager
from kubelet.log_server import LogsError, pick_container, waiting_to_start
from kubelet.node_status import NodeLease, NodeStatusReporter, network_not_ready
from kubelet.pleg import PLEG, RuntimeCache
from kubelet.pod_workers import NodeParts, PodWorker
from kubelet.claims import APIClaimSource
from kubelet.config_cache import ConfigCache
from kubelet.prober import Prober
from kubelet.runtime import DNSConfig, Runtime
from kubelet.status_manager import StatusManager
from protos import core_pb2

log = structlog.get_logger("kubelet")


def root_dir(config: KubeletConfig) -> str:
    """The kubelet's root directory (Pods' volumes): --root-dir, else one per node under the
    system's temporary directory (a local cluster runs several kubelets on one host)."""
    return config.root_dir or os.path.join(tempfile.gettempdir(), f"pykube-kubelet-{config.node_name}")


# The Node annotation naming where the local-path provisioner puts this node's volumes. Every
# kubelet of `pykube up` shares one filesystem, so the root is per node: under its root-dir.
LOCAL_PATH_ROOT = "pykube.io/local-path-root"


def local_path_root(config: KubeletConfig) -> str:
    return config.local_storage_dir or os.path.join(root_dir(config), "storage")


class Kubelet:
    def __init__(self, api: AsyncAPI, runtime: Runtime, config: KubeletConfig,
                 probe_executor: Executor | None = None, batcher: Batcher | None = None) -> None:
        """batcher: where Pod status writes gather into Batch calls; hollow nodes share
        one (a status change on many nodes at once is then one call), a kubelet of its own
        makes its own."""
        self.api = api
        self._own_batcher = batcher is None
        self.batcher = batcher or Batcher(api, max_batch=100)
        self.runtime = runtime
        self.config = config
        self.pods = Informer(api, "Pod", field_selector=f"spec.nodeName={config.node_name}")
        self.pods.add_handler(self._on_pod_event)
        self.runtime_cache = RuntimeCache()
        self.pleg = PLEG(runtime, self.runtime_cache, self.wake_pod, config.relist_interval)
        self.backoff = BackOff(BackOffPolicy(config.backoff_initial, config.backoff_max, config.backoff_reset_after))
        self.events = EventRecorder(api, "kubelet", config.node_name)
        self.images = ImageManager(runtime, self.record,
                                   BackOffPolicy(config.pull_backoff_initial, config.pull_backoff_max))
        self.prober = Prober(runtime, self.wake_pod, probe_executor)
        self.status_manager = StatusManager(api, self.pod_by_uid, batcher=self.batcher)
        # The ConfigMaps/Secrets the Pods refer to, one watch each; a change wakes their Pods.
        self.configs = ConfigCache(api, on_change=self.wake_pod)
        self.worker_parts = NodeParts(runtime, self.runtime_cache, self.backoff, self.prober, self.images,
                                      self.status_manager.set, self.record, config.node_ip,
                                      config.resync_interval, self._pod_dns,
                                      configs=self.configs, root_dir=root_dir(config),
                                      claims=APIClaimSource(api))
        self.workers: dict[str, PodWorker] = {}
        self._uid_to_key: dict[str, str] = {}
        self.tasks: list[asyncio.Task] = []
        self.port = config.listen_port
        self.node_reporter: NodeStatusReporter | None = None
        self.node_dns = read_resolv_conf(config.resolv_conf)  # what dnsPolicy Default Pods get
        self.network_ready = not runtime.needs_pod_cidr
        self._pod_cidr: asyncio.Queue[str] = asyncio.Queue()

    # ---------------------------------------------------------------- lookups

    def pod_by_uid(self, uid: str) -> core_pb2.Pod | None:
        key = self._uid_to_key.get(uid)
        pod = self.pods.get(key) if key else None
        return pod if pod is not None and pod.metadata.uid == uid else None  # type: ignore[return-value]

    def find_container(self, namespace: str, name: str, container: str, previous: bool) -> str:
        """The container whose logs `pykubectl logs` wants: the current attempt, or with
        previous the one before it, of this Pod (by uid, so leftovers of an earlier Pod
        with the same name never answer)."""
        pod: core_pb2.Pod | None = self.pods.get(f"{namespace}/{name}")  # type: ignore[assignment]
        if pod is None:
            raise waiting_to_start(container, name, "the Pod is not on this node")
        statuses = self.runtime_cache.observation(pod.metadata.uid).containers
        worker = self.workers.get(pod.metadata.uid)
        waiting = worker.waiting.get(container) if worker else None
        try:
            return pick_container(statuses, namespace, name, container, previous)
        except LogsError:
            if waiting is not None and not previous:
                raise waiting_to_start(container, name, waiting.reason) from None
            raise

    def _pod_dns(self, pod: core_pb2.Pod) -> DNSConfig:
        return pod_dns(pod, self.config.cluster_dns, self.config.cluster_domain, self.node_dns)

    def record(self, obj: Message, event_type: str, reason: str, message: str) -> None:
        self.events.record(obj, event_type, reason, message)

    # ------------------------------------- workers (the Kubelet is their PodWorkerHost)

    def _on_pod_event(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        uid = pod.metadata.uid
        if event == "DELETED":
            self._uid_to_key.pop(uid, None)
            self.configs.unregister_pod(uid)
        else:
            self._uid_to_key[uid] = f"{pod.metadata.namespace}/{pod.metadata.name}"
            self.configs.register_pod(pod)
        self.wake_pod(uid)

    def wake_pod(self, uid: str) -> None:
        if not self.pods.synced.is_set() or not self.network_ready:
            return  # until the Pods are known (and have a network), start() waits, then wakes all
        worker = self.workers.get(uid)
        if worker is None:
            worker = self.workers[uid] = PodWorker(self, self.worker_parts, uid)
            worker.start()
        worker.wake.set()

    def worker_finished(self, uid: str) -> None:
        self.workers.pop(uid, None)
        # The Pod may have come back (same uid never does; a new Pod has a new uid).

    async def confirm_deletion(self, pod: core_pb2.Pod) -> None:
        """The kubelet's "all stopped" to the apiserver: grace 0 removes the Pod object."""
        try:
            await self.api.delete("Pod", pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                  uid=pod.metadata.uid)
        except Exception as err:
            if not is_not_found(err):
                raise

    # ---------------------------------------------------------------- running

    async def start(self, port: int) -> None:
        """Register, adopt what runs, and start every loop. port: the kubelet service's."""
        self.port = port
        self.tasks = [asyncio.create_task(NodeLease(self.api, self.config).run(), name="lease")]
        info = await self.runtime.info()
        self.worker_parts.allocatable.update(cpu=str(info.cpus), memory=f"{info.memory_bytes // 1024}Ki")
        self.node_reporter = NodeStatusReporter(
            self.api, self.config, info, port,
            network_message="" if self.network_ready else network_not_ready(self.config.node_name),
            on_pod_cidr=self._on_pod_cidr, annotations={LOCAL_PATH_ROOT: local_path_root(self.config)})
        delay = 0.2
        while True:  # the apiserver may not be up yet (or be restarting): wait for it
            try:
                if not self.network_ready:
                    await self._network_from_own_node()
                await self.node_reporter.register()
                break
            except grpc.RpcError as err:
                if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                log.warning("apiserver unreachable, retrying registration", error=describe(err), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self.pleg.relist()  # what already runs (a restarted kubelet adopts it)
        self.tasks += [asyncio.create_task(coro, name=name) for name, coro in (
            ("pod-informer", self.pods.run()),
            ("events", self.events.run()),
            ("status-manager", self.status_manager.run()),
            ("node-status", self.node_reporter.run_status()),
        )]
        await self.pods.synced.wait()
        if not self.network_ready:
            await self._set_up_network()
        # Every Pod bound here gets its worker; so do containers of Pods that are not
        # (or no longer) bound here: their workers find no Pod and clean up.
        for pod in self.pods.items():
            self.wake_pod(pod.metadata.uid)  # type: ignore[attr-defined]
        for uid in self.runtime_cache.pod_uids():
            if self.pod_by_uid(uid) is None:
                log.info("removing orphaned pod containers", pod_uid=uid)
            self.wake_pod(uid)
        self.tasks += [asyncio.create_task(self.pleg.run_events(), name="pleg-events"),
                       asyncio.create_task(self.pleg.run_relist(), name="pleg-relist")]
        log.info("kubelet running", node=self.config.node_name, pods=len(self.pods.cache),
                 adopted_containers=len(self.runtime_cache.containers))

    async def _network_from_own_node(self) -> None:
        """A restarted kubelet (or a rebooted node) whose Node has its podCIDR already sets up
        the network before it registers, so the Node never turns NotReady on the way."""
        assert self.node_reporter is not None
        try:
            node: core_pb2.Node = await self.api.get("Node", self.config.node_name)  # type: ignore[assignment]
        except Exception as err:
            if is_not_found(err):
                return
            raise
        if not node.spec.pod_cidr:
            return
        try:
            await self.runtime.ensure_network(node.spec.pod_cidr)
        except Exception as err:  # the watch path (_set_up_network) tries again
            log.warning("pod network setup failed", pod_cidr=node.spec.pod_cidr, error=str(err))
            return
        self.network_ready = True
        self.node_reporter.network_message = ""
        log.info("pod network ready", node=self.config.node_name, pod_cidr=node.spec.pod_cidr)

    def _on_pod_cidr(self, pod_cidr: str) -> None:
        if not self.network_ready:
            self._pod_cidr.put_nowait(pod_cidr)

    async def _set_up_network(self) -> None:
        """Wait for the Node's podCIDR, have the runtime create the Pod network on it (retrying
        while it fails, with the error in the log), then report the Node Ready."""
        assert self.node_reporter is not None
        log.info("waiting for the node's podCIDR", node=self.config.node_name)
        delay = 0.5
        while True:
            pod_cidr = await self._pod_cidr.get()
            while not self._pod_cidr.empty():
                pod_cidr = self._pod_cidr.get_nowait()  # the latest word counts
            try:
                await self.runtime.ensure_network(pod_cidr)
                break
            except Exception as err:  # the runtime's words, in the log; try again
                log.warning("pod network setup failed", pod_cidr=pod_cidr, error=str(err), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                self._pod_cidr.put_nowait(pod_cidr)
        self.network_ready = True
        self.node_reporter.network_ready()
        log.info("pod network ready", node=self.config.node_name, pod_cidr=pod_cidr)

    async def stop(self) -> None:
        """Stop the kubelet's loops; containers keep running (as a real kubelet's do)."""
        self.prober.stop_all()
        for task in self.tasks + [w.task for w in self.workers.values() if w.task]:
            task.cancel()
        await asyncio.gather(*self.tasks, *(w.task for w in self.workers.values() if w.task),
                             return_exceptions=True)
        self.tasks.clear()
        await self.configs.stop()
        if self._own_batcher:
            await self.batcher.close()
