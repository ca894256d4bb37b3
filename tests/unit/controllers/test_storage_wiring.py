"""Storage end to end in one process: apiserver, scheduler (VolumeBinding), PV controller,
local-path provisioner and a kubelet on the fake runtime. A Pod of a local-path claim is
scheduled, its claim gets the selected node, a volume is made there and bound, the kubelet
mounts it; the next Pod of the claim goes to the same node; deleting the claim runs the
helper Pod and removes the volume. When the volume's node is lost, a Pod of the claim stays
Pending."""

from __future__ import annotations

import os
import shutil

from test_controllers_manager_support import IMAGE, Cluster, eventually, in_cluster
from test_persistentvolume_wiring import claim, gone

from apimachinery.convert import from_dict
from controllers.local_path import LocalPathProvisioner
from controllers.persistentvolume import PersistentVolumeController
from controllers.storage_protection import StorageProtectionController
from scheduler.framework import SchedulerConfig
from scheduler.scheduler import Scheduler

BUSYBOX = "docker.io/library/busybox:1.36"


def pod(name: str = "db") -> object:
    return from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                      "spec": {"terminationGracePeriodSeconds": 0,
                               "containers": [{"name": "main", "image": IMAGE,
                                               "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                               "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})


def test_a_pod_with_a_local_path_claim_runs_and_its_successor_lands_on_the_same_node():
    made: list[str] = []

    async def scenario(cluster: Cluster):
        cluster.add("pv", PersistentVolumeController, "persistentvolume-controller")
        cluster.add("local-path", LocalPathProvisioner, "pykube.io/local-path")
        cluster.add("protection", StorageProtectionController, "pvc-protection-controller")
        scheduler = Scheduler(cluster.api, SchedulerConfig(initial_backoff=0.1, max_backoff=0.5),
                              informers=cluster.informers)
        await cluster.start()
        for node in ("n1", "n2"):
            await cluster.start_kubelet(node)
            cluster.runtimes[node].add_image(BUSYBOX)
            cluster.runtimes[node].behave(BUSYBOX, exit_after=0.0, exit_code=0)  # the helper Pod's rm -rf
        await scheduler.start()
        try:
            # A missing claim: the Pod waits, unschedulable.
            await cluster.api.create(pod())

            async def failed_scheduling():
                events = await cluster.events("FailedScheduling")
                return [e for e in events if 'persistentvolumeclaim "data" not found' in e.message]
            await eventually("FailedScheduling for the missing claim", failed_scheduling)
            await cluster.api.create(claim())

            async def running():
                p = await cluster.api.get("Pod", "db", "default")
                return p if p.status.phase == "Running" else None
            first = await eventually("db Running", running, timeout=20)
            node = first.spec.node_name
            pvc = await cluster.api.get("PersistentVolumeClaim", "data", "default")
            assert pvc.metadata.annotations["volume.kubernetes.io/selected-node"] == node
            assert pvc.status.phase == "Bound"
            pv = await cluster.api.get("PersistentVolume", pvc.spec.volume_name)
            made.append(pv.spec.host_path.path)
            assert os.path.isdir(pv.spec.host_path.path)  # the kubelet made the directory
            assert pv.spec.host_path.path.startswith(
                (await cluster.api.get("Node", node)).metadata.annotations["pykube.io/local-path-root"])

            await cluster.api.delete("Pod", "db", "default")
            await eventually("db gone", lambda: gone(cluster, "Pod", "db", "default"))
            for name in ("db", "db2", "db3"):  # every later Pod of the claim: the volume's node
                await cluster.api.create(pod(name))

                async def placed(name=name):
                    p = await cluster.api.get("Pod", name, "default")
                    return p.spec.node_name or None
                assert await eventually(f"{name} scheduled", placed) == node
            for name in ("db", "db2", "db3"):
                await cluster.api.delete("Pod", name, "default")
                await eventually(f"{name} gone", lambda name=name: gone(cluster, "Pod", name, "default"))

            # The volume's node is lost (the node lifecycle controller taints it unreachable):
            # the next Pod of the claim fits nowhere and stays Pending, as in Kubernetes.
            lost = await cluster.api.get("Node", node)
            lost.spec.taints.add(key="node.kubernetes.io/unreachable", effect="NoSchedule")
            await cluster.api.update(lost)
            await cluster.api.create(pod("db4"))

            async def conflict():
                events = await cluster.events("FailedScheduling")
                return [e for e in events if e.involved_object.name == "db4"
                        and "volume node affinity conflict" in e.message]
            await eventually("db4 unschedulable: its volume's node is lost", conflict)
            assert not (await cluster.api.get("Pod", "db4", "default")).spec.node_name
            await cluster.api.delete("Pod", "db4", "default")
            await eventually("db4 gone", lambda: gone(cluster, "Pod", "db4", "default"))

            await cluster.api.delete("PersistentVolumeClaim", "data", "default")
            await eventually("the volume deleted after the helper Pod ran",
                             lambda: gone(cluster, "PersistentVolume", pv.metadata.name), timeout=20)
            await eventually("the helper Pod removed", lambda: gone(
                cluster, "Pod", f"helper-pod-delete-{pv.metadata.name}", "kube-system"), timeout=20)
        finally:
            await scheduler.stop(grace=0.5)
    try:
        in_cluster(scenario, timeout=60)
    finally:
        for path in made:  # the fake runtime's helper Pod does not really run rm -rf
            shutil.rmtree(path, ignore_errors=True)
