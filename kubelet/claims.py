"""Where a Pod's persistentVolumeClaim volumes are on this node: claim -> bound
PersistentVolume -> its hostPath (or local) path, read through the API (the node authorizer
lets a kubelet get the claims of its Pods and the volumes bound to them, nothing else).

``ClaimSource`` is what the pod workers use (``kubelet.pod_config.prepare`` resolves every
claim of a Pod before setting its volumes up); ``resolve`` answers the host directory, or
raises ``ClaimNotReady`` with Kubernetes' words while the claim is missing or not bound yet
(the Pod's containers wait, FailedMount is recorded, the sync is retried). A hostPath of type
DirectoryOrCreate (the local-path provisioner's) is created here, 0777 as k3s' helper does."""

from __future__ import annotations

import asyncio
import os
from typing import Protocol

from client.api import AsyncAPI, is_not_found
from protos import core_pb2


class ClaimNotReady(Exception):
    """The claim cannot be used yet (missing, not bound, its volume gone)."""


class ClaimSource(Protocol):
    async def resolve(self, namespace: str, claim: str) -> str:
        """The host directory of the claim's bound volume; raises ClaimNotReady."""


def volume_path(volume: core_pb2.PersistentVolume) -> tuple[str, bool]:
    """(host path, create it when missing) of a PersistentVolume."""
    if volume.spec.HasField("host_path"):
        return volume.spec.host_path.path, volume.spec.host_path.type == "DirectoryOrCreate"
    if volume.spec.HasField("local"):
        return volume.spec.local.path, False
    return "", False


def check_bound(namespace: str, name: str, claim: core_pb2.PersistentVolumeClaim | None) -> str:
    """The bound volume's name, or ClaimNotReady with Kubernetes' message."""
    if claim is None:
        raise ClaimNotReady(f'persistentvolumeclaim "{name}" not found')
    if claim.metadata.HasField("deletion_timestamp"):
        raise ClaimNotReady(f'persistentvolumeclaim "{name}" is being deleted')
    if claim.status.phase != "Bound" or not claim.spec.volume_name:
        raise ClaimNotReady(f"error processing PVC {namespace}/{name}: PVC is not bound")
    return claim.spec.volume_name


class APIClaimSource:
    def __init__(self, api: AsyncAPI) -> None:
        self.api = api

    async def _get(self, kind: str, name: str, namespace: str = ""):
        try:
            return await self.api.get(kind, name, namespace)
        except Exception as err:
            if is_not_found(err):
                return None
            raise

    async def resolve(self, namespace: str, claim: str) -> str:
        pvc = await self._get("PersistentVolumeClaim", claim, namespace)
        volume_name = check_bound(namespace, claim, pvc)  # type: ignore[arg-type]
        pv: core_pb2.PersistentVolume | None = await self._get("PersistentVolume", volume_name)  # type: ignore[assignment]
        if pv is None:
            raise ClaimNotReady(f'persistentvolume "{volume_name}" not found')
        path, create = volume_path(pv)
        if not path:
            raise ClaimNotReady(f'persistentvolume "{volume_name}" has no hostPath or local path')
        if create:
            await asyncio.to_thread(_make_dir, path)
        elif not os.path.isdir(path):
            raise ClaimNotReady(f'path "{path}" of persistentvolume "{volume_name}" does not exist')
        return path


def _make_dir(path: str) -> None:
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)


class StaticClaimSource:
    """Claims given up front, (namespace, claim) -> path: for tests and hollow nodes."""

    def __init__(self, paths: dict[tuple[str, str], str] | None = None) -> None:
        self.paths = dict(paths or {})

    async def resolve(self, namespace: str, claim: str) -> str:
        path = self.paths.get((namespace, claim))
        if path is None:
            raise ClaimNotReady(f'persistentvolumeclaim "{claim}" not found')
        return path
