"""Hostile objects for the property-based tests: valid manifests of every kind (the repo's
examples plus one of each other kind), and hypothesis strategies that mutate them as a careless
or hostile user would: a field deleted, a value of the wrong type, huge and negative numbers,
names with ``/``, ``..``, unicode and control characters, unknown fields, duplicated items.

Hypothesis runs derandomized (the same examples every run, on CI too) with bounded example
counts, so the suites stay fast and deterministic on a 2-core machine.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

# Deterministic and bounded: CI sees the same examples as a laptop, in seconds.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

OTHER_KINDS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"},
                                                     "annotations": {"note": "x"}},
     "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80, "name": "http"}],
                              "env": [{"name": "MODE", "value": "fast"}],
                              "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                              "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5}}],
              "restartPolicy": "Always", "terminationGracePeriodSeconds": 30}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"team": "a"}}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
     "spec": {"podCIDR": "10.244.1.0/24", "unschedulable": False,
              "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
     "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}},
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1", "namespace": "kube-node-lease"},
     "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}},
    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
     "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"}, "reason": "Started",
     "message": "Started container web", "type": "Normal", "count": 1},
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
     "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}}],
     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
]


def example_manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(EXAMPLES.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def example_namespaces() -> list[dict[str, Any]]:
    """The Namespaces the examples live in (other than default), created before them."""
    named = sorted({m["metadata"].get("namespace") for m in example_manifests()} - {None, "default"})
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in named]


SEEDS: list[dict[str, Any]] = [*example_namespaces(), *example_manifests(), *OTHER_KINDS]

ODD_STRINGS = ["", " ", "/", "..", ".", "a/b", "../../etc/passwd", "%2e%2e", "UPPER", "-lead", "trail-",
               "a" * 64, "a" * 254, "x" * 5000, "é", "名前", "💥", "a\x00b", "a\nb", "line\n", "\t", "\u202e",
               "web", "default", "kube-system", "1", "-1", "1e999999", "250m", "8Ei", "0x10", "true", "null"]
ODD_NUMBERS = [0, -1, 1, 65535, 65536, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63,
               2**64, -2**63 - 1, 10**30, 1.5, -0.0, 1e300, float("inf"), float("-inf"), float("nan")]

odd_scalars = st.one_of(st.sampled_from(ODD_STRINGS), st.sampled_from(ODD_NUMBERS), st.booleans(), st.none(),
                        st.text(max_size=20), st.integers())
odd_values = st.one_of(odd_scalars, st.lists(odd_scalars, max_size=3),
                       st.dictionaries(st.sampled_from(ODD_STRINGS + ["name", "port", "value"]), odd_scalars,
                                       max_size=3))


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every place in a manifest: the root, each key of each mapping, each item of each list."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def _parent(doc: Any, path: tuple) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


MUTATIONS = ("replace", "delete", "unknown-field", "duplicate", "odd-name", "odd-namespace")


def mutate(draw: Callable[[st.SearchStrategy], Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of manifest with one to three mutations (``draw``: hypothesis' draw, or data.draw)."""
    doc = copy.deepcopy(manifest)
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in paths(doc) if p]
        how = draw(st.sampled_from(MUTATIONS))
        if how in ("odd-name", "odd-namespace"):
            if not isinstance(doc.get("metadata"), dict):
                doc["metadata"] = {}
            doc["metadata"][how.removeprefix("odd-")] = draw(st.sampled_from(ODD_STRINGS))
            continue
        path = draw(st.sampled_from(places))
        parent = _parent(doc, path)
        if how == "replace":
            parent[path[-1]] = draw(odd_values)
        elif how == "delete" and path[-1] not in ("apiVersion", "kind"):
            del parent[path[-1]]
        elif how == "unknown-field" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(["colour", "x", "Name"]))] = draw(odd_scalars)
        elif how == "duplicate" and isinstance(parent[path[-1]], list) and parent[path[-1]]:
            parent[path[-1]].append(copy.deepcopy(parent[path[-1]][0]))
    return doc


def mutated_manifests() -> st.SearchStrategy[dict[str, Any]]:
    """A seed manifest, mutated."""
    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        return mutate(draw, draw(st.sampled_from(SEEDS)))
    return build()
