"""What a Pod's containers need before they can be created: the ConfigMaps and Secrets their
env and volumes refer to, the volumes set up on the node, and per container the resolved
environment and the bind mounts.

The pod worker calls :func:`prepare` once per sync that starts containers (and on every sync
of a Pod whose volumes the kubelet writes, so a changed ConfigMap reaches them), then
:func:`container_config` per container to start. A VolumeError leaves the Pod's containers
waiting (ContainerCreating, event FailedMount); a ConfigError leaves that container waiting
with reason CreateContainerConfigError; both are tried again on a later sync. A
persistentVolumeClaim volume waits the same way until its claim is bound (kubelet.claims)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Mapping

from apimachinery.pod_references import config_references
from kubelet import envvars, volumes
from kubelet.claims import ClaimNotReady, ClaimSource
from kubelet.config_source import ConfigSource, fetch
from kubelet.envvars import Lookup, lookup_from
from kubelet.runtime import Mount
from kubelet.volumes import VolumeError
from protos import core_pb2


@dataclass
class PodConfig:
    lookup: Lookup
    volume_paths: dict[str, str] = field(default_factory=dict)
    volume_error: VolumeError | None = None


def writes_volumes(pod: core_pb2.Pod) -> bool:
    """The Pod has volumes whose contents the kubelet writes (and keeps current)."""
    return any(volumes.source_of(v) in volumes.READ_ONLY_SOURCES for v in pod.spec.volumes)


async def prepare(pod: core_pb2.Pod, source: ConfigSource | None, root_dir: str, *, pod_ip: str = "",
                  host_ip: str = "", claims: ClaimSource | None = None,
                  node_allocatable: Mapping[str, str] | None = None) -> PodConfig:
    refs = config_references(pod.spec)
    fetched: Mapping[tuple[str, str], Mapping[str, bytes] | None] = {}
    if refs and source is not None:
        fetched = await fetch(source, pod.metadata.namespace, refs)
    config = PodConfig(lookup_from(fetched))
    if not pod.spec.volumes:
        return config
    if not root_dir:
        config.volume_error = VolumeError(pod.spec.volumes[0].name, "the kubelet has no root directory for volumes")
        return config
    bound: dict[tuple[str, str], str] = {}
    for volume in pod.spec.volumes:
        if volume.HasField("persistent_volume_claim"):
            claim = volume.persistent_volume_claim.claim_name
            if claims is None:
                config.volume_error = VolumeError(volume.name, f'persistentvolumeclaim "{claim}" not found')
                return config
            try:
                bound[(pod.metadata.namespace, claim)] = await claims.resolve(pod.metadata.namespace, claim)
            except ClaimNotReady as err:
                config.volume_error = VolumeError(volume.name, str(err))
                return config

    def claim_paths(namespace: str, claim: str) -> str | None:
        return bound.get((namespace, claim))
    try:
        config.volume_paths = await asyncio.to_thread(
            volumes.set_up, root_dir, pod, config.lookup, pod_ip=pod_ip, host_ip=host_ip,
            node_allocatable=node_allocatable, claim_paths=claim_paths)
    except VolumeError as err:
        config.volume_error = err
    except OSError as err:
        config.volume_error = VolumeError("", str(err))
    return config


def container_config(pod: core_pb2.Pod, container: core_pb2.Container, config: PodConfig, *,
                     pod_ip: str = "", host_ip: str = "", node_allocatable: Mapping[str, str] | None = None
                     ) -> tuple[dict[str, str], list[Mount]]:
    """The container's env and mounts. Raises envvars.ConfigError or VolumeError."""
    env = envvars.container_env(pod, container, config.lookup, pod_ip=pod_ip, host_ip=host_ip,
                                node_allocatable=node_allocatable)
    mounts = volumes.container_mounts(pod, container, config.volume_paths) if container.volume_mounts else []
    return env, mounts
