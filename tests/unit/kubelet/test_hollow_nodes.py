"""Hollow nodes: many real kubelets on fake runtimes in one process, one channel; power cuts
through the stopped file (SIGHUP)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from kubelet.config import KubeletConfig
from kubelet.hollow import (
    HollowNodes,
    config_template,
    hollow_pod_cidr,
    node_names,
    parse_args,
    parse_exit_after,
    read_stopped_file,
)
import pytest

from kubelet.runtime import EXITED
from kubelet.runtime.fake import ImageBehavior
from protos import core_pb2, meta_pb2

REPO_ROOT = Path(__file__).resolve().parents[3]

IMAGE = "docker.io/library/multi-worker:1.0"


def bound_pod(name: str, node: str) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                     spec=core_pb2.PodSpec(node_name=node, termination_grace_period_seconds=1))
    p.spec.containers.add(name="main", image=IMAGE)
    return p


async def eventually(what, check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_node_names_and_args():
    assert node_names(3) == ["hollow-1", "hollow-2", "hollow-3"]
    assert node_names(2, "h-", first=5) == ["h-5", "h-6"]
    args = parse_args(["--nodes", "7", "--server", "127.0.0.1:1"])
    assert args.nodes == 7 and args.prefix == "hollow-" and args.stopped_file == ""
    # The kubelet's settings reach every hollow kubelet (pykube up --kubelet-arg=...).
    args = parse_args(["--nodes", "1", "--backoff-initial=1", "--lease-interval", "0.5", "--node-label", "a=b"])
    config = config_template(args)
    assert (config.backoff_initial, config.lease_interval, config.node_labels) == (1.0, 0.5, {"a": "b"})


def test_each_hollow_node_has_its_own_pod_subnet():
    import ipaddress
    subnets = [ipaddress.ip_network(hollow_pod_cidr(i)) for i in range(1, 10_001)]
    assert len(set(subnets)) == len(subnets)
    assert not any(s.overlaps(ipaddress.ip_network("10.88.0.0/16")) for s in subnets)  # real nodes'


def test_stopped_file_lists_names_one_a_line(tmp_path):
    path = tmp_path / "stopped"
    assert read_stopped_file(path) == set()  # missing: none stopped
    assert read_stopped_file("") == set()
    path.write_text("hollow-2\n\n# a comment\n  hollow-7  # the flaky one\n")
    assert read_stopped_file(path) == {"hollow-2", "hollow-7"}


def test_five_hollow_nodes_register_ready_and_run_bound_pods():
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)  # the one channel all hollow kubelets share
        names = node_names(5)
        hollow = HollowNodes(api, names, config_template=KubeletConfig(node_name="", lease_interval=0.3))
        try:
            await asyncio.wait_for(hollow.start(), 20)
            assert all(k.api is api for k in hollow.kubelets.values())

            async def ready_nodes():
                nodes = (await api.list("Node"))[0]
                ready = {n.metadata.name for n in nodes
                         if {c.type: c.status for c in n.status.conditions}.get("Ready") == "True"}
                return ready if ready == set(names) else None
            await eventually("5 Ready nodes", ready_nodes)

            async def leases():
                leases = (await api.list("Lease", namespace="kube-node-lease"))[0]
                return {lease.metadata.name for lease in leases} >= set(names)
            await eventually("a Lease per node", leases)

            for i, node in enumerate(names * 2):
                await api.create(bound_pod(f"p{i}", node))

            async def all_running():
                pods = (await api.list("Pod", namespace="default"))[0]
                running = [p for p in pods if p.status.phase == "Running"
                           and p.status.container_statuses and p.status.container_statuses[0].ready]
                return running if len(running) == 10 else None
            running = await eventually("10 Pods Running", all_running)
            assert {p.spec.node_name for p in running} == set(names)
            assert all(p.status.pod_ip and p.status.host_ip for p in running)
            # Each hollow node hands out IPs from its own subnet: unique cluster-wide.
            assert len({p.status.pod_ip for p in running}) == 10
            assert {p.status.pod_ip for p in running if p.spec.node_name == "hollow-3"} == {
                "10.128.3.2", "10.128.3.3"}
            # Each kubelet runs only its own node's Pods.
            for kubelet in hollow.kubelets.values():
                assert len(kubelet.runtime.sandboxes) == 2
        finally:
            await hollow.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


async def node_ready(api, name):
    node = await api.get("Node", name)
    return {c.type: c.status for c in node.status.conditions}.get("Ready") == "True"


async def renew_time(api, name):
    lease = await api.get("Lease", name, "kube-node-lease")
    return lease.spec.renew_time.ToNanoseconds()


def test_power_cut_stops_the_lease_and_kills_containers_and_boot_restarts_them():
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        hollow = HollowNodes(api, node_names(2), config_template=KubeletConfig(node_name="", lease_interval=0.1))
        try:
            await asyncio.wait_for(hollow.start(), 20)
            await api.create(bound_pod("web", "hollow-1"))

            async def web(restarts):
                pod = await api.get("Pod", "web", "default")
                statuses = pod.status.container_statuses
                return (pod.status.phase == "Running" and statuses and statuses[0].ready
                        and statuses[0].restart_count == restarts)
            await eventually("web Running", lambda: web(0))

            await hollow.set_stopped({"hollow-1", "no-such-node"})
            assert set(hollow.kubelets) == {"hollow-2"} and hollow.stopped == {"hollow-1"}
            runtime = hollow.runtimes["hollow-1"]
            assert runtime.containers and all(c.state == EXITED and c.exit_code == 137
                                              for c in runtime.containers.values())
            assert not any(s.ready for s in runtime.sandboxes.values())
            # No goodbye: the Node and the Pod stay as they were; only the Lease stops.
            assert await node_ready(api, "hollow-1")
            frozen, other = await renew_time(api, "hollow-1"), await renew_time(api, "hollow-2")
            # Two renewals of hollow-2 span a whole lease interval, in which a live hollow-1
            # would have renewed too.
            await eventually("hollow-2 renews its Lease", lambda: _later(api, "hollow-2", other))
            once = await renew_time(api, "hollow-2")
            await eventually("hollow-2 renews its Lease again", lambda: _later(api, "hollow-2", once))
            assert await renew_time(api, "hollow-1") == frozen

            await hollow.set_stopped(set())  # boot: the kubelet restarts the dead container
            assert set(hollow.kubelets) == {"hollow-1", "hollow-2"} and not hollow.stopped
            await eventually("web Running again after the reboot", lambda: web(1))
            await eventually("hollow-1 renews its Lease again", lambda: _later(api, "hollow-1", frozen))
        finally:
            await hollow.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


async def _later(api, name, than):
    return await renew_time(api, name) > than


def test_nodes_listed_as_stopped_do_not_start():
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        hollow = HollowNodes(api, node_names(3), stopped=["hollow-2"],
                             config_template=KubeletConfig(node_name="", lease_interval=0.3))
        try:
            await asyncio.wait_for(hollow.start(), 20)
            assert set(hollow.kubelets) == {"hollow-1", "hollow-3"}
            nodes = {n.metadata.name for n in (await api.list("Node"))[0]}
            assert nodes == {"hollow-1", "hollow-3"}
            await hollow.set_stopped(set())
            assert await node_ready(api, "hollow-2")
        finally:
            await hollow.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


def test_the_process_rereads_the_stopped_file_on_sighup(tmp_path):
    """The wiring `pykube stop-node` uses: write the file, SIGHUP, read the log line."""
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        stopped, log_path = tmp_path / "stopped", tmp_path / "hollow.log"
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kubelet.hollow", "--server", server.address, "--nodes", "2",
                "--stopped-file", str(stopped), "--lease-interval", "0.3",
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env, cwd=REPO_ROOT)

        def records(event):
            lines = log_path.read_text().splitlines()
            return [r for r in map(_json, lines) if r.get("event") == event]

        async def logged(event):
            return records(event)
        try:
            running = (await eventually("hollow nodes running", lambda: logged("hollow nodes running"), 30))[0]
            assert running["nodes"] == 2 and running["stopped"] == [] and running["rss_mib"] > 0
            stopped.write_text("hollow-2\n")
            proc.send_signal(signal.SIGHUP)
            done = await eventually("reconfigured", lambda: logged("hollow nodes reconfigured"))
            assert done[0]["stopped"] == ["hollow-2"] and done[0]["running"] == 1
            assert proc.returncode is None  # SIGHUP re-reads, never ends the process
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
            assert records("hollow nodes stopped")[0]["nodes"] == 2
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await server.stop(0)
    asyncio.run(main())


def _json(line):
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def test_exit_after_flag():
    assert parse_exit_after("busybox=0.5") == ("busybox", ImageBehavior(exit_after=0.5, exit_code=0))
    assert parse_exit_after("reg:5000/a:1=2:3") == ("reg:5000/a:1", ImageBehavior(exit_after=2.0, exit_code=3))
    for bad in ("busybox", "=1", "busybox=x", "busybox=-1", "busybox=1:256", "busybox=1:x"):
        with pytest.raises(ValueError, match="IMAGE=SECONDS"):
            parse_exit_after(bad)
    args = parse_args(["--nodes", "1", "--server", "127.0.0.1:1", "--exit-after", "busybox=0.2",
                       "--exit-after", "fails=0:1"])
    assert args.behaviors == {"busybox": ImageBehavior(exit_after=0.2), "fails": ImageBehavior(exit_after=0.0,
                                                                                                exit_code=1)}


def test_a_pod_whose_image_exits_succeeds_on_a_hollow_node():
    """--exit-after: a restartPolicy Never Pod's container exits 0 -> the Pod is Succeeded
    (what a Job's Pods need on hollow nodes); other images keep running."""
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        hollow = HollowNodes(api, ["hollow-1"], config_template=KubeletConfig(node_name="", lease_interval=0.3),
                             behaviors={"busybox": ImageBehavior(exit_after=0.1)})
        try:
            await asyncio.wait_for(hollow.start(), 20)
            done = bound_pod("done", "hollow-1")
            done.spec.restart_policy = "Never"
            done.spec.containers[0].image = "busybox"
            await api.create(done)
            await api.create(bound_pod("runs", "hollow-1"))

            async def phases():
                pods = (await api.list("Pod", namespace="default"))[0]
                got = {p.metadata.name: p.status.phase for p in pods}
                return got if got == {"done": "Succeeded", "runs": "Running"} else None
            await eventually("done Succeeded, runs Running", phases)
            finished = await api.get("Pod", "done", "default")
            terminated = finished.status.container_statuses[0].state.terminated
            assert (terminated.exit_code, terminated.reason) == (0, "Completed")
        finally:
            await hollow.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())
