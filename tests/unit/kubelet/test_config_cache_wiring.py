"""The whole kubelet (fake runtime) against an in-process apiserver: a changed ConfigMap
reaches the Pod's configMap volume at once (the cache's watch wakes the pod worker; no
periodic resync involved), the container's env stays as it started, and the watch ends with
the Pod."""

from __future__ import annotations

import asyncio
import os

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from kubelet.config import KubeletConfig
from kubelet.kubelet import Kubelet
from kubelet.runtime.fake import FakeRuntime
from protos import core_pb2, meta_pb2
from tests.unit.kubelet.test_kubelet_with_fake_runtime import IMAGE, eventually


def app_pod() -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name="web", namespace="default"),
                     spec=core_pb2.PodSpec(node_name="n1", termination_grace_period_seconds=0))
    c = p.spec.containers.add(name="main", image=IMAGE)
    ref = c.env.add(name="MODE").value_from.config_map_key_ref
    ref.name, ref.key = "app", "mode"
    p.spec.volumes.add(name="cfg").config_map.name = "app"
    c.volume_mounts.add(name="cfg", mount_path="/etc/app")
    return p


def test_config_map_change_reaches_the_volume_without_a_resync(tmp_path):
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        runtime = FakeRuntime("n1", registry=[IMAGE])
        kubelet = Kubelet(api, runtime, KubeletConfig(node_name="n1", resync_interval=600, relist_interval=600,
                                                      lease_interval=0.2, root_dir=str(tmp_path)))
        try:
            await kubelet.start(port=10250)
            await api.create(core_pb2.ConfigMap(metadata=meta_pb2.ObjectMeta(name="app", namespace="default"),
                                                data={"mode": "fast"}))
            created = await api.create(app_pod())
            uid = created.metadata.uid
            path = os.path.join(str(tmp_path), "pods", uid, "volumes", "kubernetes.io~configmap", "cfg", "mode")

            async def reads(value: str):
                return os.path.exists(path) and open(path).read() == value
            await eventually("the volume written", lambda: reads("fast"))
            assert kubelet.configs.watched() == {("ConfigMap", "default", "app")}

            cm = await api.get("ConfigMap", "app", "default")
            cm.data["mode"] = "slow"
            await api.update(cm)
            await eventually("the change in the volume", lambda: reads("slow"), timeout=3)
            starts = [args[1] for name, args in runtime.calls if name == "create_container"]
            assert [s.env["MODE"] for s in starts] == ["fast"]  # env is not updated (as Kubernetes)

            await api.delete("Pod", "web", "default", grace_period_seconds=0)

            async def unwatched():
                return kubelet.configs.watched() == set()
            await eventually("the watch stopped", unwatched)
        finally:
            await kubelet.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(asyncio.wait_for(main(), 30))
