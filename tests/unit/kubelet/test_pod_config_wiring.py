"""A pod worker with env from ConfigMaps/Secrets and volumes: CreateContainerConfigError until
the ConfigMap exists, then the container starts with the env and the bind mounts."""

from __future__ import annotations

import asyncio
import dataclasses
import os

from kubelet import atomic_writer
from kubelet.config_source import StaticConfigSource
from kubelet.runtime import RUNNING, Mount
from tests.unit.kubelet.test_pod_workers import UID, Node, pod


def node_with(tmp_path, objects):
    node = Node()
    node.source = StaticConfigSource(objects)
    node.parts = dataclasses.replace(node.parts, configs=node.source, root_dir=str(tmp_path))
    node.worker.parts = node.parts
    return node


def test_missing_config_map_waits_with_create_container_config_error_then_starts(tmp_path):
    async def scenario():
        node = node_with(tmp_path, {})
        p = pod()
        env = p.spec.containers[0].env.add(name="MODE")
        env.value_from.config_map_key_ref.name = "app"
        env.value_from.config_map_key_ref.key = "mode"
        p.spec.containers[0].env.add(name="NAME").value_from.field_ref.field_path = "metadata.name"
        node.host.pods[UID] = p
        await node.worker.sync()
        waiting = node.statuses[UID].container_statuses[0].state.waiting
        assert (waiting.reason, waiting.message) == ("CreateContainerConfigError", 'configmap "app" not found')
        assert ("Failed", 'Error: configmap "app" not found') in node.events
        assert node.runtime.calls_to("create_container") == []
        assert node.worker.retry_at is not None

        node.source.objects[("ConfigMap", "default", "app")] = {"mode": b"fast"}
        await node.worker.sync()
        spec = node.runtime.calls_to("create_container")[0][1]
        assert spec.env == {"MODE": "fast", "NAME": "web"}
        assert [c.state for c in node.cache.observation(UID).containers] == [RUNNING]
    asyncio.run(scenario())


def test_volumes_are_written_and_mounted_then_removed(tmp_path):
    async def scenario():
        node = node_with(tmp_path, {("ConfigMap", "default", "app"): {"app.conf": b"x=1"}})
        p = pod()
        p.spec.volumes.add(name="cfg").config_map.name = "app"
        p.spec.volumes.add(name="scratch").empty_dir.SetInParent()
        p.spec.containers[0].volume_mounts.add(name="cfg", mount_path="/etc/app")
        p.spec.containers[0].volume_mounts.add(name="scratch", mount_path="/scratch")
        node.host.pods[UID] = p
        await node.worker.sync()
        cfg = os.path.join(str(tmp_path), "pods", UID, "volumes", "kubernetes.io~configmap", "cfg")
        scratch = os.path.join(str(tmp_path), "pods", UID, "volumes", "kubernetes.io~empty-dir", "scratch")
        spec = node.runtime.calls_to("create_container")[0][1]
        assert spec.mounts == [Mount(os.path.realpath(cfg), "/etc/app", True),
                               Mount(os.path.realpath(scratch), "/scratch", False)]
        assert atomic_writer.read(cfg) == {"app.conf": b"x=1"}

        node.source.objects[("ConfigMap", "default", "app")] = {"app.conf": b"x=2"}
        await node.worker.sync()  # a running Pod's configMap volume follows the ConfigMap
        assert atomic_writer.read(cfg) == {"app.conf": b"x=2"}

        deleting = node.host.pods[UID]
        deleting.metadata.deletion_timestamp.GetCurrentTime()
        deleting.metadata.deletion_grace_period_seconds = 0
        await node.worker.sync()
        assert not os.path.exists(os.path.join(str(tmp_path), "pods", UID))
    asyncio.run(scenario())


def test_a_missing_volume_source_is_failed_mount(tmp_path):
    async def scenario():
        node = node_with(tmp_path, {})
        p = pod()
        p.spec.volumes.add(name="creds").secret.secret_name = "db"
        p.spec.containers[0].volume_mounts.add(name="creds", mount_path="/creds")
        node.host.pods[UID] = p
        await node.worker.sync()
        waiting = node.statuses[UID].container_statuses[0].state.waiting
        assert waiting.reason == "ContainerCreating"
        assert ("FailedMount", 'MountVolume.SetUp failed for volume "creds" : secret "db" not found') in node.events
        assert node.runtime.calls_to("create_container") == []
    asyncio.run(scenario())


def test_resource_field_ref_without_a_limit_is_the_node_allocatable(tmp_path):
    async def scenario():
        node = node_with(tmp_path, {})
        node.parts.allocatable.update(cpu="4", memory="1Gi")
        p = pod()
        ref = p.spec.containers[0].env.add(name="MEM_MI").value_from.resource_field_ref
        ref.resource, ref.divisor = "limits.memory", "1Mi"
        node.host.pods[UID] = p
        await node.worker.sync()
        assert node.runtime.calls_to("create_container")[0][1].env == {"MEM_MI": "1024"}
    asyncio.run(scenario())


def test_a_host_path_of_the_wrong_type_is_failed_mount_and_no_container(tmp_path):
    """Bad input of issue 14: a hostPath whose type does not match what is on the node. The
    Pod waits in ContainerCreating with Kubernetes' FailedMount event; nothing is started."""
    async def scenario():
        node = node_with(tmp_path, {})
        not_a_dir = tmp_path / "plain-file"
        not_a_dir.write_text("")
        p = pod()
        host = p.spec.volumes.add(name="h").host_path
        host.path, host.type = str(not_a_dir), "Directory"
        p.spec.containers[0].volume_mounts.add(name="h", mount_path="/h")
        node.host.pods[UID] = p
        await node.worker.sync()
        assert node.statuses[UID].container_statuses[0].state.waiting.reason == "ContainerCreating"
        assert ("FailedMount", f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: '
                               f'{not_a_dir} is not a directory') in node.events
        assert node.runtime.calls_to("create_container") == []
        assert not_a_dir.is_file()  # the node's file is left as it was
    asyncio.run(scenario())
