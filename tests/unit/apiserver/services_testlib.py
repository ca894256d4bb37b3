"""A Registry over a real SQLite store (re-openable, to test an apiserver restart) and
Service / EndpointSlice builders from manifest-shaped dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apimachinery.convert import message_from_dict
from apimachinery.kinds import kind_info
from apiserver import errors
from apiserver.registry.registry import Registry
from apiserver.storage.sqlite import SQLiteStore
from apiserver.watchcache import WatchCache


def open_registry(data_dir: Path) -> Registry:
    return Registry(SQLiteStore.open_in(data_dir), WatchCache())


def service(name: str = "web", namespace: str = "default", **spec: Any) -> Any:
    spec.setdefault("selector", {"app": name})
    spec.setdefault("ports", [{"port": 80}])
    return message_from_dict({"apiVersion": "v1", "kind": "Service",
                              "metadata": {"name": name, "namespace": namespace}, "spec": spec},
                             kind_info("Service").message, "Service")


def endpoint_slice(name: str = "web-abcde", **fields: Any) -> Any:
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "default"}, **fields}
    return message_from_dict(body, kind_info("EndpointSlice").message, "EndpointSlice")


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(errors.Invalid) as err:
        call(*args, **kwargs)
    return err.value.message
