"""The whole kubelet (informer, pod workers, PLEG, status manager, node status,
events) against a real in-process apiserver, with the fake runtime standing in
for Podman: the wiring, fast and without containers."""

from __future__ import annotations

import asyncio
import time

import grpc
from typing import Callable

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI, is_not_found
from client.informer import Informer
from kubelet.config import KubeletConfig
from kubelet.kubelet import Kubelet
from kubelet.runtime import DNSConfig
from kubelet.runtime.fake import FakeRuntime
from protos import core_pb2, meta_pb2

IMAGE = "docker.io/library/multi-worker:1.0"


def pod(name: str, image: str = IMAGE, node: str = "n1") -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                     spec=core_pb2.PodSpec(node_name=node, termination_grace_period_seconds=1))
    p.spec.containers.add(name="main", image=image)
    return p


async def eventually(what: str, check: Callable, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def in_cluster(scenario):
    """Run scenario(api, runtime, start_kubelet) with an apiserver; tear all down."""
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        runtime = FakeRuntime("n1", registry=[IMAGE, "docker.io/library/crash:1"])
        kubelets: list[Kubelet] = []

        async def start_kubelet() -> Kubelet:
            kubelet = Kubelet(api, runtime, KubeletConfig(node_name="n1", backoff_initial=0.2, backoff_max=1,
                                                          relist_interval=0.5, lease_interval=0.2))
            await kubelet.start(port=10250)
            kubelets.append(kubelet)
            return kubelet
        try:
            await asyncio.wait_for(scenario(api, runtime, start_kubelet), 30)
        finally:
            for kubelet in kubelets:
                await kubelet.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


def running_with(api: AsyncAPI, name: str, restarts: int):
    async def check():
        p = await api.get("Pod", name, "default")
        statuses = p.status.container_statuses
        ok = p.status.phase == "Running" and statuses and statuses[0].state.HasField("running") \
            and statuses[0].restart_count == restarts
        return p if ok else None
    return check


def test_node_registers_and_renews_its_lease():
    async def scenario(api, runtime, start_kubelet):
        await start_kubelet()
        node = await api.get("Node", "n1")
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
        assert node.status.capacity["pods"] == "110"
        assert node.status.daemon_endpoints.kubelet_endpoint.port == 10250
        first = (await eventually("lease", lambda: _lease(api))).spec.renew_time
        await eventually("a renewal", lambda: _renewed(api, first))
    in_cluster(scenario)


async def _lease(api):
    try:
        return await api.get("Lease", "n1", "kube-node-lease")
    except Exception as err:
        if is_not_found(err):
            return None
        raise


async def _renewed(api, first):
    lease = await _lease(api)
    return lease is not None and lease.spec.renew_time != first


def test_pod_bound_before_the_kubelet_starts_runs_and_a_kill_restarts_it():
    async def scenario(api, runtime, start_kubelet):
        await api.create(pod("early"))
        kubelet = await start_kubelet()
        p = await eventually("early Running", running_with(api, "early", 0))
        assert runtime.pulls[IMAGE] == 1
        cid = p.status.container_statuses[0].container_id.split("://")[1]
        runtime.kill(cid)
        p = await eventually("early restarted", running_with(api, "early", 1))
        assert p.status.container_statuses[0].last_state.terminated.exit_code == 137
        # A second Pod with the same image: no second pull.
        await api.create(pod("late"))
        await eventually("late Running", running_with(api, "late", 0))
        assert runtime.pulls[IMAGE] == 1
        await kubelet.events.flush()
        events, _ = await api.list("Event", "default", field_selector="involvedObject.name=late")
        assert [e.message for e in events if e.reason == "Pulled"] == [
            f'Container image "{IMAGE}" already present on machine']
    in_cluster(scenario)


def test_graceful_delete_is_confirmed_by_the_kubelet():
    async def scenario(api, runtime, start_kubelet):
        await start_kubelet()
        await api.create(pod("doomed"))
        await eventually("doomed Running", running_with(api, "doomed", 0))
        deleted = await api.delete("Pod", "doomed", "default")
        assert deleted.metadata.HasField("deletion_timestamp")  # bound: the kubelet must confirm

        async def gone():
            try:
                await api.get("Pod", "doomed", "default")
                return False
            except Exception as err:
                return is_not_found(err)
        await eventually("doomed removed", gone)
        assert not runtime.containers and not runtime.sandboxes
    in_cluster(scenario)


def test_crash_loop_is_reported_as_crash_loop_back_off():
    async def scenario(api, runtime, start_kubelet):
        runtime.behave("docker.io/library/crash:1", exit_after=0.0, exit_code=1)
        await start_kubelet()
        await api.create(pod("crash", image="docker.io/library/crash:1"))

        async def backing_off():
            p = await api.get("Pod", "crash", "default")
            statuses = p.status.container_statuses
            return statuses and statuses[0].state.waiting.reason == "CrashLoopBackOff" \
                and statuses[0].restart_count >= 1
        await eventually("CrashLoopBackOff", backing_off)
    in_cluster(scenario)


def test_pods_of_other_nodes_are_not_run():
    async def scenario(api, runtime, start_kubelet):
        await start_kubelet()
        await api.create(pod("elsewhere", node="n2"))
        await api.create(pod("here"))
        await eventually("here Running", running_with(api, "here", 0))
        assert {c.spec.pod_name for c in runtime.containers.values()} == {"here"}
    in_cluster(scenario)


def test_apiserver_away_and_back_keeps_containers_and_reconnects(tmp_path):
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0", data_dir=tmp_path))
        await server.start()
        address = server.address
        api = AsyncAPI(address)
        runtime = FakeRuntime("n1", registry=[IMAGE])
        periods = dict(lease_interval=0.2, relist_interval=0.5, resync_interval=0.5)
        kubelet = Kubelet(api, runtime, KubeletConfig(node_name="n1", **periods))
        await kubelet.start(port=10250)
        try:
            await api.create(pod("steady"))
            await eventually("steady Running", running_with(api, "steady", 0))
            await server.stop(0)
            # Away for longer than every periodic loop of the kubelet (Lease, relist, pod
            # worker resync): one that stopped containers without its apiserver has done so.
            await asyncio.sleep(2 * max(periods.values()))
            assert [c.state for c in runtime.containers.values()] == ["running"]  # nothing was stopped

            server = APIServer(ServerConfig(listen=address, data_dir=tmp_path))
            await server.start()
            user = AsyncAPI(address)

            async def create_after() -> bool:
                try:  # gRPC may still be backing off from the refused connections
                    await user.create(pod("after"))
                    return True
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    return False
            await eventually("the apiserver to answer again", create_after, timeout=15)
            # "after" runs only if the kubelet's own watch found its way back.
            await eventually("after Running", running_with(user, "after", 0), timeout=15)
            steady = await user.get("Pod", "steady", "default")
            await user.close()
            assert steady.status.container_statuses[0].restart_count == 0
        finally:
            await kubelet.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())

# ------------------------------------------------------------------ the Pod network and DNS
# A real node waits for its podCIDR (NotReady with Kubernetes' "network not ready" words), then
# has the runtime create the network and runs Pods; the fake runtime (hollow nodes) needs none.
# Pods' resolv.conf follows dnsPolicy.


def ready_condition(node: core_pb2.Node) -> core_pb2.NodeCondition:
    return next(c for c in node.status.conditions if c.type == "Ready")


def with_pod_network(scenario, needs_pod_cidr: bool, tmp_path) -> None:
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


def dns_pod(name: str, dns_policy: str = "") -> core_pb2.Pod:
    p = pod(name)
    p.spec.dns_policy = dns_policy
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
        await api.create(dns_pod("web"))  # bound before the network exists: it waits
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
    with_pod_network(scenario, needs_pod_cidr=True, tmp_path=tmp_path)


def test_a_hollow_node_needs_no_pod_cidr_and_pods_get_their_resolv_conf(tmp_path):
    async def scenario(api: AsyncAPI, runtime: FakeRuntime, starting: asyncio.Task):
        await asyncio.wait_for(starting, 10)
        node = await api.get("Node", "n1")
        assert ready_condition(node).status == "True" and not node.spec.pod_cidr
        assert runtime.network == ""
        for name, policy in (("first", ""), ("own", "Default"), ("bare", "None")):
            await api.create(dns_pod(name, policy))

        async def sandboxes():
            specs = {s.spec.pod_name: s.spec for s in runtime.sandboxes.values()}
            return specs if len(specs) == 3 else None
        specs = await eventually("three sandboxes", sandboxes)
        assert specs["first"].dns == DNSConfig(
            servers=["10.96.0.10"], searches=["default.svc.cluster.local", "svc.cluster.local", "cluster.local"],
            options=["ndots:5"])
        assert specs["own"].dns == DNSConfig(servers=["192.0.2.53"], searches=["lab.example"])
        assert specs["bare"].dns == DNSConfig()
    with_pod_network(scenario, needs_pod_cidr=False, tmp_path=tmp_path)


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
