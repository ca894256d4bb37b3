"""Field sets as Kubernetes' field manager (structured-merge-diff) computes them: the FieldsV1
form of an applied Deployment, path strings for conflict messages, set operations, and the
update manager's comparison (on protobuf messages and on JSON dicts, which must agree)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apimachinery.convert import from_dict, to_dict
from apiserver import errors
from apiserver.registry.field_diff import compare
from apiserver.registry.managed_fields import (APPLY, UPDATE, Managed, ManagerKey, compare_dicts, fields_of,
                                               from_fields_v1, owned_part, path_string, record_update,
                                               sorted_paths, to_fields_v1)
from apiserver.registry.server_side_apply import conflict_error, merge
from protos import apps_pb2, core_pb2, meta_pb2

WEB = 'k:{"name":"web"}'
PORT_80 = 'k:{"containerPort":80,"protocol":"TCP"}'


def deployment(**spec: Any) -> dict[str, Any]:
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                       "ports": [{"containerPort": 80}]}]}}},
    }
    manifest["spec"].update(spec)
    return manifest


DEPLOYMENT = apps_pb2.Deployment.DESCRIPTOR
POD = core_pb2.Pod.DESCRIPTOR


# ------------------------------------------------------------------ the Apply set


def test_an_applied_deployment_has_kubernetes_fields_v1() -> None:
    # What `kubectl apply --server-side` records for this manifest on a real cluster.
    assert to_fields_v1(fields_of(deployment(), DEPLOYMENT)) == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # a LabelSelector is an atomic struct
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {WEB: {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {PORT_80: {".": {}, "f:containerPort": {}}},  # protocol: the key's default
                }}},
            },
        },
    }


def test_identity_bookkeeping_and_status_are_nobodys() -> None:
    manifest = deployment()
    manifest["metadata"].update(uid="u", resourceVersion="5", generation=3, creationTimestamp="2024-01-01T00:00:00Z")
    manifest["status"] = {"replicas": 2}
    paths = fields_of(manifest, DEPLOYMENT)
    assert not any(p[0] in ("f:apiVersion", "f:kind", "f:status") for p in paths)
    assert {p for p in paths if p[0] == "f:metadata"} == {("f:metadata", "f:labels", "f:app")}
    assert fields_of(manifest, DEPLOYMENT, "status") == {("f:status", "f:replicas")}


def test_sets_atomic_lists_granular_maps_and_empty_objects() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "finalizers": ["example.com/a"], "annotations": {"note": "x"}},
           "spec": {"containers": [{"name": "web", "image": "i", "command": ["sleep", "1"],
                                    "env": [{"name": "A", "value": "1"}],
                                    "resources": {"limits": {"cpu": "1"}}}],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                    "securityContext": {}}}
    tree = to_fields_v1(fields_of(pod, POD))
    assert tree["f:metadata"] == {"f:finalizers": {'v:"example.com/a"': {}}, "f:annotations": {"f:note": {}}}
    container = tree["f:spec"]["f:containers"][WEB]
    assert container["f:command"] == {}  # an atomic list is a leaf
    assert container["f:env"] == {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}
    assert container["f:resources"] == {"f:limits": {"f:cpu": {}}}
    assert tree["f:spec"]["f:tolerations"] == {}
    assert tree["f:spec"]["f:securityContext"] == {}  # an empty object is a leaf


def test_fields_v1_round_trips() -> None:
    paths = fields_of(deployment(), DEPLOYMENT)
    assert from_fields_v1(to_fields_v1(paths)) == paths


# ------------------------------------------------------------------ paths and order


def test_path_strings_as_kubernetes_prints_them() -> None:
    assert path_string(("f:spec", "f:replicas")) == ".spec.replicas"
    assert path_string(("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image")) == \
        '.spec.template.spec.containers[name="web"].image'
    assert path_string(("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:ports", PORT_80)) == \
        '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]'
    assert path_string(("f:metadata", "f:finalizers", 'v:"example.com/a"')) == '.metadata.finalizers[="example.com/a"]'
    assert path_string(("f:metadata", "f:labels", "f:app.kubernetes.io/name")) == ".metadata.labels.app.kubernetes.io/name"


def test_members_come_before_children_as_in_a_kubernetes_set() -> None:
    paths = [("f:spec", "f:template", "f:x"), ("f:spec", "f:replicas"), ("f:metadata", "f:labels", "f:a"), ("f:spec",)]
    assert sorted_paths(paths) == [("f:spec",), ("f:metadata", "f:labels", "f:a"), ("f:spec", "f:replicas"),
                                   ("f:spec", "f:template", "f:x")]


# ---------------------------------------------------------------- the update manager


def test_a_create_compared_with_nothing_owns_what_it_set_and_marks_added_maps() -> None:
    created = from_dict(deployment())
    change = compare(None, created)
    tree = to_fields_v1(change.added)
    assert tree["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert tree["f:spec"]["f:template"]["f:spec"]["f:containers"][WEB]["f:ports"][PORT_80] == \
        {".": {}, "f:containerPort": {}}
    assert not change.modified and not change.removed


def test_compare_finds_modified_added_and_removed() -> None:
    old = from_dict(deployment())
    changed = deployment(replicas=3)
    changed["metadata"]["labels"] = {"tier": "fe"}
    changed["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    change = compare(old, from_dict(changed))
    assert change.modified == {("f:spec", "f:replicas")}
    assert ("f:metadata", "f:labels", "f:tier") in change.added
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"side"}') in change.added
    assert change.removed == {("f:metadata", "f:labels", "f:app")}


@pytest.mark.parametrize("edit", [
    lambda d: d["spec"].update(replicas=7),
    lambda d: d["metadata"]["labels"].update(x="y"),
    lambda d: d["metadata"].update(finalizers=["example.com/f"]),
    lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"].append({"containerPort": 81, "protocol": "UDP"}),
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(env=[{"name": "A", "value": "1"}]),
    lambda d: d["spec"]["template"]["spec"].update(containers=[{"name": "other", "image": "x"}]),
    lambda d: d["spec"].update(strategy={"type": "Recreate"}),
    lambda d: d["spec"].pop("template"),
])
def test_comparing_messages_agrees_with_comparing_json(edit: Any) -> None:
    before = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    after = copy.deepcopy(before)
    edit(after)
    old, new = from_dict(before), from_dict(after)
    on_messages = compare(old, new)
    on_json = compare_dicts(owned_part(to_dict(old)), owned_part(to_dict(new)), DEPLOYMENT)
    assert (on_messages.added, on_messages.modified, on_messages.removed) == \
        (on_json.added, on_json.modified, on_json.removed)
    assert on_messages.added or on_messages.modified or on_messages.removed


def test_record_update_takes_fields_from_others_and_drops_the_empty() -> None:
    applier, updater = ManagerKey("kubectl", APPLY, ""), ManagerKey("hpa", UPDATE, "apps/v1")
    managed = Managed({applier: frozenset({("f:spec", "f:replicas")})})
    record_update(managed, updater, compare(from_dict(deployment()), from_dict(deployment(replicas=5))))
    assert managed.sets[applier] == frozenset()
    assert managed.sets[updater] == {("f:spec", "f:replicas")}
    meta = meta_pb2.ObjectMeta()
    managed.write(meta, updater, "apps/v1", lambda ts: setattr(ts, "seconds", 1700000000))
    [entry] = meta.managed_fields
    assert (entry.manager, entry.operation, entry.api_version, entry.fields_type) == ("hpa", "Update", "apps/v1", "FieldsV1")
    assert entry.time.seconds == 1700000000
    assert Managed.of(meta).sets == {updater: {("f:spec", "f:replicas")}}


# ------------------------------------------------------------------ merge and conflicts


def test_merge_keeps_live_fields_and_merges_lists_by_key() -> None:
    live = deployment(paused=True)
    live["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    applied = deployment(replicas=4)
    applied["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    merged = merge(live, applied, DEPLOYMENT)
    assert merged["spec"]["replicas"] == 4 and merged["spec"]["paused"] is True
    assert [(c["name"], c["image"]) for c in merged["spec"]["template"]["spec"]["containers"]] == \
        [("web", "nginx:1.28"), ("side", "busybox")]


def test_merged_lists_take_the_applied_order_for_shared_items() -> None:
    def containers(*names: str) -> dict[str, Any]:
        return deployment(template={"spec": {"containers": [{"name": n, "image": "i"} for n in names]}})
    merged = merge(containers("a", "b", "c"), containers("c", "a"), DEPLOYMENT)
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["b", "c", "a"]


def test_conflict_messages_are_kubernetes() -> None:
    one = conflict_error({ManagerKey("kubectl-client-side-apply", UPDATE, "apps/v1"): frozenset({("f:spec", "f:replicas")})})
    assert isinstance(one, errors.Conflict)
    assert one.message == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
                           ".spec.replicas")
    image = ("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image")
    several = conflict_error({ManagerKey("x", UPDATE, "apps/v1"): frozenset({("f:spec", "f:replicas"), image}),
                              ManagerKey("a-applier", APPLY, ""): frozenset({("f:spec", "f:paused")})})
    assert several.message == ('Apply failed with 3 conflicts: conflicts with "a-applier":\n- .spec.paused\n'
                               'conflicts with "x" using apps/v1:\n- .spec.replicas\n'
                               '- .spec.template.spec.containers[name="web"].image')
    assert [(c.path, c.detail) for c in several.causes][0] == (".spec.paused", 'conflict with "a-applier"')
