"""Where the kubelet gets the ConfigMaps and Secrets a Pod's env and volumes refer to.

:class:`ConfigSource` is the interface the pod workers use; :class:`APIConfigSource` reads
through the client (``get`` by kind "ConfigMap" / "Secret"; the node authorizer lets a kubelet
read those of its Pods). Not found is None (the resolver turns it into Kubernetes' message);
other errors propagate and the pod worker retries its sync. ``fetch`` gathers what one Pod
needs into the dict kubelet.envvars.lookup_from takes."""

from __future__ import annotations

import asyncio
from typing import Iterable, Mapping, Protocol

from client.api import AsyncAPI, is_not_found
from kubelet.envvars import data_of


class ConfigSource(Protocol):
    async def data(self, kind: str, namespace: str, name: str) -> Mapping[str, bytes] | None:
        """The object's data as bytes by key, or None when it does not exist."""


class APIConfigSource:
    def __init__(self, api: AsyncAPI) -> None:
        self.api = api

    async def data(self, kind: str, namespace: str, name: str) -> Mapping[str, bytes] | None:
        try:
            obj = await self.api.get(kind, name, namespace)
        except Exception as err:
            if is_not_found(err):
                return None
            raise
        return data_of(obj)


class StaticConfigSource:
    """Objects given up front, by (kind, namespace, name): for tests and hollow nodes."""

    def __init__(self, objects: Mapping[tuple[str, str, str], Mapping[str, bytes]] | None = None) -> None:
        self.objects = dict(objects or {})

    async def data(self, kind: str, namespace: str, name: str) -> Mapping[str, bytes] | None:
        return self.objects.get((kind, namespace, name))


async def fetch(source: ConfigSource, namespace: str, refs: Iterable[tuple[str, str]]
                ) -> dict[tuple[str, str], Mapping[str, bytes] | None]:
    refs = sorted(set(refs))
    found = await asyncio.gather(*(source.data(kind, namespace, name) for kind, name in refs))
    return dict(zip(refs, found))
