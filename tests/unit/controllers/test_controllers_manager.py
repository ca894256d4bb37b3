"""The controller manager: flags, start-up order, a controller that cannot be built, and
the real `pykube-controller-manager` process (logs "running", stops on SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from test_controllers_manager_support import eventually, make_rs

from apimachinery.network import CLUSTER_CIDR, NODE_CIDR_MASK_SIZE
from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from controllers import main as cm_main
from controllers import manager as manager_module
from controllers.manager import ALL_CONTROLLERS, CONTROLLERS, ControllerEntry, ControllerManager, ManagerConfig
from controllers.node_ipam import NodeIPAMConfig
from controllers.node_lifecycle import NodeLifecycleController
from controllers.replicaset import ReplicaSetController

REPO = Path(__file__).resolve().parents[3]


def test_flags_and_defaults():
    _, config = cm_main.parse_args(["--server", "127.0.0.1:1"])
    assert config.controllers == ALL_CONTROLLERS
    assert (config.workers, config.node.monitor_period, config.node.grace_period,
            config.node.pod_eviction_timeout, config.node.terminating_pod_gc_delay) == (4, 1.0, 8.0, 0.0, 10.0)
    _, config = cm_main.parse_args(["--controllers", "replicaset,garbagecollector", "--workers", "2",
                                    "--node-monitor-grace-period", "20s", "--pod-eviction-timeout", "30",
                                    "--log-format", "console"])
    assert config.controllers == ("replicaset", "garbagecollector")
    assert (config.workers, config.node.grace_period, config.node.pod_eviction_timeout) == (2, 20.0, 30.0)
    assert {entry.component for entry in CONTROLLERS.values()} == {
        "deployment-controller", "replicaset-controller", "daemonset-controller", "statefulset-controller",
        "node-controller", "garbage-collector",
        "endpoint-slice-controller", "cidrAllocator", "job-controller", "cronjob-controller",
        "persistentvolume-controller", "pykube.io/local-path", "pvc-protection-controller"}
    assert config.local_path.helper_image == "docker.io/library/busybox:1.36"
    assert "endpointslice" in ALL_CONTROLLERS and "nodeipam" in ALL_CONTROLLERS


def test_endpointslice_and_node_ipam_flags():
    _, config = cm_main.parse_args([])
    assert (config.endpointslice.max_endpoints_per_slice, config.endpointslice.updates_batch_period) == (100, 0.0)
    assert (config.ipam.allocate_node_cidrs, config.ipam.cluster_cidr, config.ipam.node_cidr_mask_size) == (
        True, CLUSTER_CIDR, NODE_CIDR_MASK_SIZE)
    _, config = cm_main.parse_args(["--max-endpoints-per-slice", "50", "--endpointslice-updates-batch-period", "1s",
                                    "--allocate-node-cidrs=false", "--cluster-cidr", "10.244.0.0/16",
                                    "--node-cidr-mask-size", "25"])
    assert (config.endpointslice.max_endpoints_per_slice, config.endpointslice.updates_batch_period) == (50, 1.0)
    assert (config.ipam.allocate_node_cidrs, config.ipam.cluster_cidr, config.ipam.node_cidr_mask_size) == (
        False, "10.244.0.0/16", 25)
    assert cm_main.parse_args(["--allocate-node-cidrs"])[1].ipam.allocate_node_cidrs is True


def test_node_ipam_is_off_without_allocate_node_cidrs():
    async def scenario():
        api = AsyncAPI("127.0.0.1:1")
        try:
            manager = ControllerManager(api, ManagerConfig(ipam=NodeIPAMConfig(allocate_node_cidrs=False)))
            assert "nodeipam" not in manager.controllers and "nodeipam" not in manager.failed
            assert "endpointslice" in manager.controllers
        finally:
            await api.close()
    asyncio.run(scenario())


@pytest.mark.parametrize("argv", [["--controllers", "replicaset,bogus"], ["--workers", "0"],
                                  ["--node-monitor-grace-period", "-1"], ["--controllers", ","],
                                  ["--max-endpoints-per-slice", "0"], ["--allocate-node-cidrs=maybe"],
                                  ["--cluster-cidr", "10.88.0.0/16", "--node-cidr-mask-size", "8"],
                                  ["--cluster-cidr", "bogus"]])
def test_bad_flags_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cm_main.parse_args(argv)
    assert exit_info.value.code == 2


def test_runs_the_others_when_the_deployment_controller_cannot_be_built(monkeypatch):
    def failing(*args):
        raise ImportError("No module named 'controllers.deployment'")
    monkeypatch.setitem(manager_module.CONTROLLERS, "deployment", ControllerEntry("deployment-controller", failing))

    async def scenario():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        manager = ControllerManager(api, ManagerConfig(workers=2))
        try:
            assert "deployment" in manager.failed and "ImportError" in manager.failed["deployment"]
            assert set(manager.controllers) == {"replicaset", "nodelifecycle", "garbagecollector", "endpointslice",
                                                "nodeipam", "daemonset", "statefulset", "job", "cronjob",
                                                "persistentvolume-binder", "local-path-provisioner",
                                                "storage-protection"}
            assert isinstance(manager.controllers["replicaset"], ReplicaSetController)
            assert isinstance(manager.controllers["nodelifecycle"], NodeLifecycleController)
            # One informer per kind, shared by every controller.
            assert set(manager.informers.informers) == {"ReplicaSet", "Pod", "Node", "Lease", "Deployment", "Service",
                                                        "EndpointSlice", "DaemonSet", "StatefulSet", "Job",
                                                        "CronJob", "PersistentVolumeClaim", "PersistentVolume",
                                                        "StorageClass"}
            await asyncio.wait_for(manager.start(), 10)
            assert manager.running.is_set()
            await api.create(make_rs("web", 2))
            async def two_pods():
                items, _ = await api.list("Pod", "default")
                return len(items) == 2
            await eventually("the ReplicaSet controller creates Pods", two_pods)
            await api.delete("ReplicaSet", "web", "default")
            async def collected():
                items, _ = await api.list("Pod", "default")
                return not items
            await eventually("the garbage collector removes them", collected)
            events, _ = await api.list("Event", "default", field_selector="reason=SuccessfulCreate")
            assert {e.source.component for e in events} == {"replicaset-controller"}
        finally:
            await manager.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(scenario())


def test_unknown_controller_name_is_an_error():
    async def scenario():
        api = AsyncAPI("127.0.0.1:1")
        try:
            with pytest.raises(ValueError, match="unknown controller"):
                ControllerManager(api, ManagerConfig(controllers=("replicaset", "nope")))
        finally:
            await api.close()
    asyncio.run(scenario())


def test_the_process_logs_running_and_stops_cleanly_on_sigterm():
    async def scenario():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controllers.main", "--server", server.address,
            "--controllers", "replicaset,nodelifecycle,garbagecollector", cwd=str(REPO),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        lines: list[dict] = []
        try:
            async def until(event: str) -> dict:
                while True:
                    raw = await proc.stderr.readline()  # type: ignore[union-attr]
                    if not raw:
                        raise AssertionError(f"process ended before {event!r}: {lines}")
                    try:
                        entry = json.loads(raw)
                    except json.JSONDecodeError:
                        continue
                    lines.append(entry)
                    if entry.get("event") == event:
                        return entry
            running = await asyncio.wait_for(until("controller-manager running"), 20)
            assert running["controllers"] == ["garbagecollector", "nodelifecycle", "replicaset"]
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(until("controller-manager stopped"), 10)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await server.stop(0)
    asyncio.run(scenario())


def deployment(name: str = "web", replicas: int = 3):
    from protos import apps_pb2, meta_pb2
    d = apps_pb2.Deployment(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"))
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = name
    d.spec.template.metadata.labels["app"] = name
    d.spec.template.spec.containers.add(name="main", image="docker.io/library/web:1.0")
    return d


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_whole_manager_deployment_to_pods_and_cascading_delete(propagation):
    """All four controllers in one manager: Deployment → ReplicaSet → Pods, then a
    delete of the Deployment takes the ReplicaSet and its Pods along."""
    async def scenario():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        manager = ControllerManager(api, ManagerConfig(workers=2))
        try:
            assert manager.failed == {}
            await asyncio.wait_for(manager.start(), 10)
            await api.create(deployment("web", 3))
            async def pods_of_one_rs():
                rss, _ = await api.list("ReplicaSet", "default")
                pods, _ = await api.list("Pod", "default")
                if len(rss) != 1 or len(pods) != 3:
                    return None
                return rss[0], pods
            rs, pods = await eventually("a ReplicaSet with 3 Pods", pods_of_one_rs)
            assert rs.metadata.name.startswith("web-") and rs.metadata.owner_references[0].kind == "Deployment"
            assert all(p.metadata.name.startswith(rs.metadata.name + "-") for p in pods)
            await api.delete("Deployment", "web", "default", propagation_policy=propagation)
            async def all_gone():
                for kind in ("Deployment", "ReplicaSet", "Pod"):
                    items, _ = await api.list(kind, "default")
                    if items:
                        return False
                return True
            await eventually("Deployment, ReplicaSet and Pods gone", all_gone)
        finally:
            await manager.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(scenario())
