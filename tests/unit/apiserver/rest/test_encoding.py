"""The kept JSON of stored objects (apiserver/rest/encoding.py): the same bytes as encoding
each object afresh, kept only for the watch cache's current objects, dropped on a change,
and bounded."""

from __future__ import annotations

import json

from apimachinery.convert import to_dict
from apimachinery.kinds import BY_KIND
from apiserver.registry.core import copy_message
from apiserver.registry.registry import Registry
from apiserver.rest.encoding import ObjectJSON, dumps, list_json, watch_line
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache
from protos import core_pb2, meta_pb2

POD = BY_KIND["Pod"]


def make_pod(index: int) -> core_pb2.Pod:
    return core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=f"web-{index}", namespace="default", labels={"app": "web"}),
                        spec=core_pb2.PodSpec(containers=[core_pb2.Container(name="c", image="nginx")]))


def registry() -> tuple[Registry, ObjectJSON]:
    cache = WatchCache()
    return Registry(MemoryStore(), cache), ObjectJSON(cache)


def test_the_bytes_are_the_object_encoded_and_kept_for_the_stored_object() -> None:
    reg, encoded = registry()
    pod = reg.create(make_pod(1))
    data = encoded.encode(POD, pod)
    assert data == json.dumps(to_dict(pod), separators=(",", ":")).encode()
    assert encoded.encode(POD, reg.get("Pod", "default", pod.metadata.name)) is data
    assert (len(encoded), encoded.size) == (1, len(data))


def test_what_is_not_the_stored_object_is_encoded_but_not_kept() -> None:
    reg, encoded = registry()
    stored = reg.create(make_pod(1))
    dry = copy_message(stored)
    dry.metadata.labels["dry"] = "run"  # the same resourceVersion, other content: a dry run's answer
    assert b'"dry":"run"' in encoded.encode(POD, dry)
    assert len(encoded) == 0
    assert b'"dry"' not in encoded.encode(POD, stored)


def test_a_change_drops_the_kept_bytes() -> None:
    reg, encoded = registry()
    pod = reg.create(make_pod(1))
    encoded.encode(POD, pod)
    changed = copy_message(pod)
    changed.metadata.labels["v"] = "2"
    updated = reg.update(changed)
    assert len(encoded) == 0
    assert b'"v":"2"' in encoded.encode(POD, updated)
    reg.delete("Pod", "default", pod.metadata.name, grace_period_seconds=0)
    assert (len(encoded), encoded.size) == (0, 0)


def test_the_least_recently_used_go_first_over_the_bound() -> None:
    reg, encoded = registry()
    pods = [reg.create(make_pod(i)) for i in range(3)]
    one = len(encoded.encode(POD, pods[0]))
    encoded.max_bytes = 2 * one + 10
    encoded.encode(POD, pods[1])
    encoded.encode(POD, pods[0])  # used again: pods[1] is now the oldest
    encoded.encode(POD, pods[2])
    assert len(encoded) == 2 and encoded.size <= encoded.max_bytes
    assert encoded.encode(POD, pods[0]) is encoded.encode(POD, pods[0])


def test_a_list_and_a_watch_line_are_the_bytes_of_the_whole() -> None:
    reg, encoded = registry()
    pods = [reg.create(make_pod(i)) for i in range(3)]
    meta = {"resourceVersion": "7", "continue": "x"}
    whole = {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": [to_dict(p) for p in pods]}
    assert list_json(POD, meta, [encoded.encode(POD, p) for p in pods]) == dumps(whole)
    assert list_json(POD, meta, []) == dumps({**whole, "items": []})
    line = dumps({"type": "ADDED", "object": to_dict(pods[0])}) + b"\n"
    assert watch_line("ADDED", encoded.encode(POD, pods[0])) == line
