"""Strategic merge patch, table-driven after Kubernetes' strategicpatch fixtures (patch_test.go):
merge by key, $patch delete/replace, $setElementOrder, $retainKeys, $deleteFromPrimitiveList,
null deleting a map key; and the malformed patches it refuses."""

from __future__ import annotations

import json

import pytest

from apimachinery.kinds import BY_KIND
from apimachinery.patch import STRATEGIC_MERGE_PATCH, PatchError, apply_patch
from apimachinery.patch.strategic import apply_strategic
from patch_samples import DEPLOYMENT, POD, c, spec

CASES = [
    ("null deletes a label, others merge",
     {"metadata": {"labels": {"app": "web", "tier": "fe"}}},
     {"metadata": {"labels": {"tier": None, "v": "2"}}},
     {"metadata": {"labels": {"app": "web", "v": "2"}}}),
    ("a null for a key the object lacks is dropped",
     {"metadata": {"name": "web"}},
     {"metadata": {"labels": None, "annotations": {"a": None, "b": "x"}}},
     {"metadata": {"name": "web", "annotations": {"b": "x"}}}),
    ("containers merge by name: changed item merges, new item appended",
     spec(c("a", image="x", workingDir="/a")),
     spec(c("a", image="y"), c("b", image="z")),
     spec(c("a", image="y", workingDir="/a"), c("b", image="z"))),
    # Without $setElementOrder, mergeSortedSlice puts an item the live list lacks before the
    # server-only items it cannot compare with (kubectl always sends $setElementOrder).
    ("ports merge by containerPort, env by name; a new item goes first",
     spec(c("a", ports=[{"containerPort": 80, "name": "http"}], env=[{"name": "A", "value": "1"},
                                                                      {"name": "B", "value": "2"}])),
     spec(c("a", ports=[{"containerPort": 443}], env=[{"name": "B", "value": "3"}])),
     spec(c("a", ports=[{"containerPort": 443}, {"containerPort": 80, "name": "http"}],
            env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]))),
    ("$patch: delete removes the container with that name",
     spec(c("a", image="x"), c("b", image="y")),
     spec({"name": "a", "$patch": "delete"}),
     spec(c("b", image="y"))),
    ("$patch: replace in a list: the list is the patch's other items",
     spec(c("a", image="x"), c("b", image="y")),
     spec({"$patch": "replace"}, c("c", image="z")),
     spec(c("c", image="z"))),
    ("lists of lists are refused",
     {"metadata": {"finalizers": []}},
     {"metadata": {"finalizers": [["a"]]}},
     None),
    ("$patch: replace in a map: the map is the patch's",
     {"metadata": {"labels": {"app": "web", "tier": "fe"}}},
     {"metadata": {"labels": {"$patch": "replace", "v": "2"}}},
     {"metadata": {"labels": {"v": "2"}}}),
    ("$patch: delete in a map empties it",
     {"spec": {"nodeSelector": {"disk": "ssd"}, "restartPolicy": "Always"}},
     {"spec": {"nodeSelector": {"$patch": "delete"}}},
     {"spec": {"nodeSelector": {}, "restartPolicy": "Always"}}),
    ("atomic lists (tolerations, command) are replaced",
     spec(c("a", command=["sh", "-c"]), tolerations=[{"key": "x", "operator": "Exists"}]),
     spec(c("a", command=["true"]), tolerations=[{"key": "y", "operator": "Exists"}]),
     spec(c("a", command=["true"]), tolerations=[{"key": "y", "operator": "Exists"}])),
    ("$setElementOrder reorders the list",
     spec(c("a", image="x"), c("b", image="y")),
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
     spec(c("b", image="y"), c("a", image="x"))),
    ("$setElementOrder places a new item; a $patch: delete item goes",
     spec(c("a", image="x"), c("b", image="y")),
     {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
               "containers": [c("c", image="z"), {"name": "b", "$patch": "delete"}]}},
     spec(c("c", image="z"), c("a", image="x"))),
    # mergeSortedSlice: a server-only item keeps its place relative to the live order.
    ("$setElementOrder with a server-only item",
     spec(c("a"), c("b"), c("c")),
     {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}], "containers": [c("c", image="z")]}},
     spec(c("b"), c("c", image="z"), c("a"))),
    ("$deleteFromPrimitiveList removes finalizers; finalizers merge as a set",
     {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["c", "d"]}},
     {"metadata": {"finalizers": ["a", "c", "d"]}}),
    ("$setElementOrder on a primitive list",
     {"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}},
     {"metadata": {"finalizers": ["c", "b", "a"]}}),
    ("$deleteFromPrimitiveList of a list the object lacks does nothing",
     {"metadata": {"name": "web"}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"name": "web"}}),
    ("ownerReferences merge by uid",
     {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-1"}]}},
     {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-2"}]}},
     {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-2"}, {"uid": "1", "name": "rs-1"}]}}),
    ("a field the object lacks is taken whole, without nulls and directives",
     {"spec": {"restartPolicy": "Always"}},
     {"spec": {"containers": [c("a", image="x", workingDir=None), {"name": "b", "$patch": "delete"}]}},
     {"spec": {"restartPolicy": "Always", "containers": [c("a", image="x")]}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_pod_patches(original, patch, result) -> None:
    before = json.dumps([original, patch])
    if result is None:
        with pytest.raises(PatchError) as err:
            apply_strategic(original, patch, POD)
        assert (err.value.code, err.value.message) == (422, "lists of lists are not supported")
        return
    assert apply_strategic(original, patch, POD) == result
    assert json.dumps([original, patch]) == before  # pure


ROLLING = {"spec": {"strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "replicas": 2}}


def test_retain_keys_switching_the_strategy_to_recreate_drops_rolling_update() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert apply_strategic(ROLLING, patch, DEPLOYMENT) == {"spec": {"strategy": {"type": "Recreate"}, "replicas": 2}}


def test_without_retain_keys_the_strategy_merges() -> None:
    patch = {"spec": {"strategy": {"type": "Recreate"}}}
    assert apply_strategic(ROLLING, patch, DEPLOYMENT)["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%", "maxUnavailable": "25%"}


def test_deployment_template_containers_and_selector_match_labels_merge() -> None:
    original = {"spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [c("main", image="nginx:1.27"), c("log", image="b")]}}}}
    patch = {"spec": {"selector": {"matchLabels": {"tier": "fe"}},
                      "template": {"spec": {"containers": [c("main", image="nginx:1.28")]}}}}
    out = apply_strategic(original, patch, DEPLOYMENT)
    assert out["spec"]["selector"]["matchLabels"] == {"app": "web", "tier": "fe"}
    assert out["spec"]["template"]["spec"]["containers"] == [c("main", image="nginx:1.28"), c("log", image="b")]


@pytest.mark.parametrize(("patch", "code", "message"), [
    ({"spec": {"containers": [{"image": "x"}]}}, 400, "map: map[image:x] does not contain declared merge key: name"),
    ({"metadata": {"labels": {"$patch": "frobnicate"}}}, 400,
     "unknown patch type: frobnicate in map: map[$patch:frobnicate]"),
    ({"spec": {"containers": [{"$patch": "merge"}]}}, 400, "merging lists cannot yet be specified in the patch"),
    ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, 400, "invalid patch format of retainKeys"),
    ({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [c("b")]}}, 400,
     "The order in patch list:\n[map[name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n"),
    ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, 400, "invalid patch format of primitive list"),
    ({"metadata": {"finalizers": [["a"]]}}, 400, "list element types are not identical: [[x] [[a]]]"),
])
def test_malformed_strategic_patches(patch, code, message) -> None:
    original = {"metadata": {"finalizers": ["x"], "labels": {"a": "b"}},
                "spec": {"containers": [c("a")], "strategy": {"type": "Recreate"}}}
    descriptor = DEPLOYMENT if "strategy" in patch.get("spec", {}) else POD
    with pytest.raises(PatchError) as err:
        apply_strategic(original, patch, descriptor)
    assert (err.value.code, err.value.message) == (code, message)


def test_apply_patch_strategic_body_must_be_an_object() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}
    with pytest.raises(PatchError) as err:
        apply_patch(STRATEGIC_MERGE_PATCH, pod, b"[]", BY_KIND["Pod"])
    assert err.value.code == 400
    assert err.value.message == "json: cannot unmarshal array into Go value of type map[string]interface {}"
    with pytest.raises(PatchError) as err:
        apply_patch(STRATEGIC_MERGE_PATCH, pod, b"{not json", BY_KIND["Pod"])
    assert err.value.code == 400 and err.value.message.startswith("error decoding patch: ")
    out = apply_patch(STRATEGIC_MERGE_PATCH, pod, b'{"metadata": {"labels": {"a": "b"}}}', BY_KIND["Pod"])
    assert out == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"a": "b"}}}
