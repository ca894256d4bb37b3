"""The pod-template-hash: FNV-1a 32 over the template, SafeEncodeString of the number."""

from __future__ import annotations

import re

from controllers.hashing import (
    ALPHANUMS,
    POD_TEMPLATE_HASH_LABEL,
    fnv1a_32,
    safe_encode_string,
    template_hash,
)
from protos import core_pb2


def template(image: str = "docker.io/library/multi-worker:1.0", **labels: str) -> core_pb2.PodTemplateSpec:
    t = core_pb2.PodTemplateSpec()
    for key, value in (labels or {"app": "multi-worker"}).items():
        t.metadata.labels[key] = value
    t.spec.containers.add(name="main", image=image)
    return t


def test_fnv1a_32_matches_the_reference_vectors():
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968
    # Hashing in pieces is hashing the concatenation (Go's Hash32.Write twice).
    assert fnv1a_32(b"bar", fnv1a_32(b"foo")) == fnv1a_32(b"foobar")


def test_safe_encode_string_maps_digits_like_kubernetes():
    assert ALPHANUMS == "bcdfghjklmnpqrstvwxz2456789"
    assert safe_encode_string("0123456789") == "456789bcdf"


def test_hash_is_stable_and_shaped_like_kubernetes_names():
    h = template_hash(template())
    assert h == template_hash(template())  # same template, same name: creation is idempotent
    assert h == "58d795b5dd"  # pinned: a change here renames every ReplicaSet of every cluster
    assert re.fullmatch(r"[456789bcdf]{1,10}", h)
    assert template_hash(template(image="docker.io/library/multi-worker:2.0")) != h


def test_hash_ignores_the_pod_template_hash_label_and_label_order():
    t = template()
    labelled = template()
    labelled.metadata.labels[POD_TEMPLATE_HASH_LABEL] = "58d795b5dd"
    assert template_hash(labelled) == template_hash(t)
    a = template(app="web", tier="front")
    b = core_pb2.PodTemplateSpec()
    b.metadata.labels["tier"] = "front"
    b.metadata.labels["app"] = "web"
    b.spec.containers.add(name="main", image="docker.io/library/multi-worker:1.0")
    assert template_hash(a) == template_hash(b)


def test_collision_count_changes_the_hash():
    t = template()
    hashes = {template_hash(t, None), template_hash(t, 0), template_hash(t, 1), template_hash(t, 2)}
    assert len(hashes) == 4
    assert template_hash(t, 1) == template_hash(t, 1)


def test_restarted_at_annotation_is_a_new_hash():
    t = template()
    restarted = template()
    restarted.metadata.annotations["kubectl.kubernetes.io/restartedAt"] = "2024-05-01T10:00:00Z"
    assert template_hash(restarted) != template_hash(t)
