"""The kubelet and the Pod network: a real node waits for its podCIDR (NotReady with
Kubernetes' "network not ready" words), then has the runtime create the network and runs
Pods; the fake runtime (hollow nodes) needs none. Pods' resolv.conf follows dnsPolicy.
Wiring against a real in-process apiserver, with the fake runtime."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from client.informer import Informer
from kubelet.config import KubeletConfig
from kubelet.kubelet import Kubelet
from kubelet.runtime import DNSConfig
from kubelet.runtime.fake import FakeRuntime
from protos import core_pb2, meta_pb2

IMAGE = "docker.io/library/multi-worker:1.0"


async def eventually(what: str, check: Callable, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def ready_condition(node: core_pb2.Node) -> core_pb2.NodeCondition:
    return next(c for c in node.status.conditions if c.type == "Ready")


def run(scenario, needs_pod_cidr: bool, tmp_path) -> None:
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        runtime = FakeRuntime("n1", registry=[IMAGE])
        runtime.needs_pod_cidr = needs_pod_cidr  # as the Podman runtime's
        resolv = tmp_path / "resolv.conf"
        resolv.write_text("nameserver 192.0.2.53\nsearch lab.example\n")
        kubelet = Kubelet(api, runtime, KubeletConfig(node_name="n1", lease_interval=0.2,
                                                      resolv_conf=str(resolv)))
        starting = asyncio.create_task(kubelet.start(port=10250))
        try:
            await asyncio.wait_for(scenario(api, runtime, starting), 30)
        finally:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await kubelet.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


def pod(name: str, dns_policy: str = "") -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                     spec=core_pb2.PodSpec(node_name="n1", termination_grace_period_seconds=1,
                                           dns_policy=dns_policy))
    p.spec.containers.add(name="main", image=IMAGE)
    return p


def test_a_real_node_waits_for_its_pod_cidr_then_makes_the_network_and_runs_pods(tmp_path):
    async def scenario(api: AsyncAPI, runtime: FakeRuntime, starting: asyncio.Task):
        async def node_not_ready():
            try:
                node = await api.get("Node", "n1")
            except Exception:
                return None
            return node if node.status.conditions and ready_condition(node).status == "False" else None
        node = await eventually("the Node registered NotReady", node_not_ready)
        ready = ready_condition(node)
        assert ready.reason == "KubeletNotReady"
        assert ready.message.startswith("container runtime network not ready: NetworkReady=false "
                                        "reason:NetworkPluginNotReady message:")
        await api.create(pod("web"))  # bound before the network exists: it waits
        assert not starting.done()

        node.spec.pod_cidr = "10.88.3.0/24"  # what the node IPAM controller writes
        node.spec.pod_cidrs.append("10.88.3.0/24")
        await api.update(node)
        await asyncio.wait_for(starting, 10)
        assert runtime.network == "10.88.3.0/24"

        async def node_ready():
            n = await api.get("Node", "n1")
            return ready_condition(n).status == "True" and ready_condition(n).reason == "KubeletReady"
        await eventually("the Node Ready", node_ready)

        async def running():
            p = await api.get("Pod", "web", "default")
            return p.status.phase == "Running"
        await eventually("the Pod running", running)
        calls = [name for name, _ in runtime.calls]
        assert calls.index("ensure_network") < calls.index("create_sandbox")
    run(scenario, needs_pod_cidr=True, tmp_path=tmp_path)


def test_a_hollow_node_needs_no_pod_cidr_and_pods_get_their_resolv_conf(tmp_path):
    async def scenario(api: AsyncAPI, runtime: FakeRuntime, starting: asyncio.Task):
        await asyncio.wait_for(starting, 10)
        node = await api.get("Node", "n1")
        assert ready_condition(node).status == "True" and not node.spec.pod_cidr
        assert runtime.network == ""
        for name, policy in (("first", ""), ("own", "Default"), ("bare", "None")):
            await api.create(pod(name, policy))

        async def sandboxes():
            specs = {s.spec.pod_name: s.spec for s in runtime.sandboxes.values()}
            return specs if len(specs) == 3 else None
        specs = await eventually("three sandboxes", sandboxes)
        assert specs["first"].dns == DNSConfig(
            servers=["10.96.0.10"], searches=["default.svc.cluster.local", "svc.cluster.local", "cluster.local"],
            options=["ndots:5"])
        assert specs["own"].dns == DNSConfig(servers=["192.0.2.53"], searches=["lab.example"])
        assert specs["bare"].dns == DNSConfig()
    run(scenario, needs_pod_cidr=False, tmp_path=tmp_path)


def test_a_restarted_kubelet_whose_node_has_its_pod_cidr_never_reports_not_ready():
    """As after a reboot: the Node keeps spec.podCIDR, and a NotReady on the way would make the
    node lifecycle controller evict the node's Pods."""
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        await api.create(core_pb2.Node(metadata=meta_pb2.ObjectMeta(name="n1"),
                                       spec=core_pb2.NodeSpec(pod_cidr="10.88.5.0/24")))
        seen: list[str] = []
        nodes = Informer(api, "Node")
        nodes.add_handler(lambda event, node, old: seen.extend(
            c.status for c in node.status.conditions if c.type == "Ready"))
        watching = asyncio.create_task(nodes.run())
        await nodes.synced.wait()
        runtime = FakeRuntime("n1", registry=[IMAGE])
        runtime.needs_pod_cidr = True
        kubelet = Kubelet(api, runtime, KubeletConfig(node_name="n1", lease_interval=0.2))
        try:
            await asyncio.wait_for(kubelet.start(port=10250), 10)
            assert runtime.network == "10.88.5.0/24"
            await eventually("the Node's status seen", lambda: asyncio.sleep(0, seen))
            assert set(seen) == {"True"}, seen
        finally:
            watching.cancel()
            await kubelet.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())
