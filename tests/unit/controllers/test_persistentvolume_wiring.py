"""The PV binder and the local-path provisioner against a real in-process apiserver (no
scheduler: the test sets the selected-node annotation the scheduler would; no kubelet: the
test settles the helper Pod's phase)."""

from __future__ import annotations

from sets_testlib import add_node, change
from test_controllers_manager_support import Cluster, eventually, in_cluster

from apimachinery.convert import from_dict
from client.api import is_not_found
from controllers.local_path import LocalPathProvisioner
from controllers.persistentvolume import PersistentVolumeController
from controllers.storage_protection import StorageProtectionController
from controllers.volume_binding import SELECTED_NODE


def claim(name: str = "data", **spec) -> object:
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": name, "namespace": "default"},
                      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                               **spec}})


def start(cluster: Cluster) -> None:
    cluster.add("pv", PersistentVolumeController, "persistentvolume-controller")
    cluster.add("local-path", LocalPathProvisioner, "pykube.io/local-path")
    cluster.add("protection", StorageProtectionController, "pvc-protection-controller")


async def gone(cluster: Cluster, kind: str, name: str, namespace: str = "") -> bool:
    try:
        await cluster.api.get(kind, name, namespace)
    except Exception as err:
        if is_not_found(err):
            return True
        raise
    return False


def test_local_path_claim_is_provisioned_on_the_selected_node_bound_then_deleted_with_its_directory():
    async def scenario(cluster: Cluster):
        start(cluster)
        await cluster.start()
        await eventually("the default class local-path", lambda: _exists(cluster, "StorageClass", "local-path"))
        await add_node(cluster, "n1")
        await change(cluster, "Node", "n1", "",
                     lambda n: n.metadata.annotations.update({"pykube.io/local-path-root": "/srv/n1/storage"}))
        created = await cluster.api.create(claim())
        assert created.spec.storage_class_name == "local-path"  # DefaultStorageClass admission
        await eventually("WaitForFirstConsumer event", lambda: cluster.events("WaitForFirstConsumer"))
        await change(cluster, "PersistentVolumeClaim", "data", "default",
                     lambda c: c.metadata.annotations.update({SELECTED_NODE: "n1"}))
        name = f"pvc-{created.metadata.uid}"

        async def bound():
            pvc = await cluster.api.get("PersistentVolumeClaim", "data", "default")
            return pvc if pvc.status.phase == "Bound" else None
        pvc = await eventually("the claim Bound", bound)
        assert pvc.spec.volume_name == name
        assert pvc.status.capacity["storage"] == "1Gi" and list(pvc.status.access_modes) == ["ReadWriteOnce"]
        pv = await cluster.api.get("PersistentVolume", name)
        assert pv.status.phase == "Bound" and pv.spec.claim_ref.uid == created.metadata.uid
        assert pv.spec.host_path.path == f"/srv/n1/storage/{name}_default_data"
        assert await cluster.events("ProvisioningSucceeded")
        # Deleting the claim releases the volume; reclaim Delete runs the helper Pod on n1.
        await cluster.api.delete("PersistentVolumeClaim", "data", "default")
        helper_name = f"helper-pod-delete-{name}"
        helper = await eventually("the helper Pod", lambda: _get(cluster, "Pod", helper_name, "kube-system"))
        assert helper.spec.node_name == "n1"
        assert list(helper.spec.containers[0].command) == ["rm", "-rf", f"/data/{name}_default_data"]
        assert (await cluster.api.get("PersistentVolume", name)).status.phase == "Released"
        helper.status.phase = "Succeeded"
        await cluster.api.update_status(helper)
        await eventually("the volume deleted", lambda: gone(cluster, "PersistentVolume", name))
        await eventually("the helper Pod deleted (no kubelet here to confirm: deleting is enough)",
                         lambda: _deleting(cluster, helper_name))
    in_cluster(scenario)


def test_static_volumes_bind_retain_and_unknown_class_is_reported_once():
    async def scenario(cluster: Cluster):
        start(cluster)
        await cluster.start()
        await cluster.api.create(from_dict({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "static"},
            "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                     "hostPath": {"path": "/srv/static"}}}))

        async def phase(kind, name, ns, want):
            obj = await cluster.api.get(kind, name, ns)
            return obj.status.phase == want
        await eventually("the volume Available", lambda: phase("PersistentVolume", "static", "", "Available"))
        await cluster.api.create(claim("mine", storageClassName=""))
        await eventually("the claim Bound", lambda: phase("PersistentVolumeClaim", "mine", "default", "Bound"))
        assert (await cluster.api.get("PersistentVolume", "static")).status.phase == "Bound"
        await cluster.api.delete("PersistentVolumeClaim", "mine", "default")
        await eventually("Released and kept (Retain)", lambda: phase("PersistentVolume", "static", "", "Released"))
        await cluster.api.create(claim("gold", storageClassName="gold"))
        await eventually("ProvisioningFailed", lambda: cluster.events("ProvisioningFailed"))
        # a resync of the claim (an unrelated change) records nothing more
        await change(cluster, "PersistentVolumeClaim", "gold", "default",
                     lambda c: c.metadata.labels.update({"touched": "yes"}))
        await cluster.settled("PersistentVolumeClaim")
        events = await cluster.events("ProvisioningFailed")
        assert len(events) == 1 and events[0].count <= 1
        assert events[0].message == 'storageclass.storage.k8s.io "gold" not found'
    in_cluster(scenario)


async def _get(cluster: Cluster, kind: str, name: str, namespace: str = ""):
    try:
        return await cluster.api.get(kind, name, namespace)
    except Exception as err:
        if is_not_found(err):
            return None
        raise


async def _deleting(cluster: Cluster, name: str) -> bool:
    pod = await _get(cluster, "Pod", name, "kube-system")
    return pod is None or pod.metadata.HasField("deletion_timestamp")


async def _exists(cluster: Cluster, kind: str, name: str) -> bool:
    return await _get(cluster, kind, name) is not None


def test_a_claim_in_use_is_deleted_only_once_its_pod_is_gone():
    async def scenario(cluster: Cluster):
        start(cluster)
        await cluster.start()
        created = await cluster.api.create(claim("used"))
        assert "kubernetes.io/pvc-protection" in created.metadata.finalizers
        pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user", "namespace": "default"},
                         "spec": {"containers": [{"name": "c", "image": "x"}],
                                  "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "used"}}]}})
        await cluster.api.create(pod)
        await cluster.api.delete("PersistentVolumeClaim", "used", "default")
        await cluster.settled("PersistentVolumeClaim")
        kept = await _get(cluster, "PersistentVolumeClaim", "used", "default")
        assert kept is not None and kept.metadata.HasField("deletion_timestamp")  # Terminating while used
        await cluster.api.delete("Pod", "user", "default")
        await eventually("the claim gone with its last Pod", lambda: gone(cluster, "PersistentVolumeClaim", "used",
                                                                          "default"))
    in_cluster(scenario)
