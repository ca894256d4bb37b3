"""The three-way patch kubectl apply computes (CreateThreeWayMergePatch), and what it does
to the live object: a field removed from the manifest is removed, a field someone else set
is kept, an item someone else added to a merge list is kept and to an atomic list is not."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from apimachinery.patch.strategic import apply_strategic
from apimachinery.patch.three_way import three_way_patch, two_way_patch
from patch_samples import DEPLOYMENT, POD, c, spec

def apply(original: dict, modified: dict, current: dict, descriptor=POD) -> tuple[dict, dict]:
    before = json.dumps([original, modified, current])
    patch = three_way_patch(original, modified, current, descriptor)
    assert json.dumps([original, modified, current]) == before  # pure
    return patch, apply_strategic(current, patch, descriptor)


def test_label_removed_from_the_manifest_goes_and_one_set_by_someone_else_stays() -> None:
    patch, out = apply({"metadata": {"labels": {"app": "web", "tier": "fe"}}},
                       {"metadata": {"labels": {"app": "web"}}},
                       {"metadata": {"labels": {"app": "web", "tier": "fe", "owner": "x"}}})
    assert patch == {"metadata": {"labels": {"tier": None}}}
    assert out == {"metadata": {"labels": {"app": "web", "owner": "x"}}}


def test_container_added_by_someone_else_stays() -> None:
    patch, out = apply(spec(c("main", image="nginx:1.27")),
                       spec(c("main", image="nginx:1.28")),
                       spec(c("main", image="nginx:1.27", imagePullPolicy="IfNotPresent"), c("sidecar", image="b")))
    assert patch == {"spec": {"$setElementOrder/containers": [{"name": "main"}],
                              "containers": [{"name": "main", "image": "nginx:1.28"}]}}
    assert out == spec(c("main", image="nginx:1.28", imagePullPolicy="IfNotPresent"), c("sidecar", image="b"))


def test_container_removed_from_the_manifest_goes() -> None:
    patch, out = apply(spec(c("a"), c("b")), spec(c("a")), spec(c("a"), c("b"), c("x")))
    assert patch == {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                              "containers": [{"name": "b", "$patch": "delete"}]}}
    assert out == spec(c("a"), c("x"))


def test_env_var_removed_from_a_container_goes() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    patch, out = apply(spec(c("main", env=env)), spec(c("main", env=env[:1])),
                       spec(c("main", env=env, imagePullPolicy="Always")))
    assert patch == {"spec": {"$setElementOrder/containers": [{"name": "main"}], "containers": [
        {"name": "main", "$setElementOrder/env": [{"name": "A"}], "env": [{"name": "B", "$patch": "delete"}]}]}}
    assert out == spec(c("main", env=env[:1], imagePullPolicy="Always"))


def test_atomic_list_item_added_by_someone_else_goes() -> None:
    mine = {"key": "mine", "operator": "Exists"}
    theirs = {"key": "theirs", "operator": "Exists"}
    patch, out = apply(spec(c("a"), tolerations=[mine]), spec(c("a"), tolerations=[mine]),
                       spec(c("a"), tolerations=[mine, theirs]))
    assert patch == {"spec": {"tolerations": [mine]}}
    assert out == spec(c("a"), tolerations=[mine])


def test_switching_deployment_strategy_to_recreate_retains_only_type() -> None:
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    patch, out = apply({"spec": {"replicas": 1}},
                       {"spec": {"replicas": 1, "strategy": {"type": "Recreate"}}},
                       {"spec": {"replicas": 1, "strategy": rolling}}, DEPLOYMENT)
    assert patch == {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert out == {"spec": {"replicas": 1, "strategy": {"type": "Recreate"}}}


def test_finalizer_removed_from_the_manifest_goes() -> None:
    patch, out = apply({"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["a"]}},
                       {"metadata": {"finalizers": ["a", "b", "c"]}})
    assert patch == {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "$setElementOrder/finalizers": ["a"]}}
    assert out == {"metadata": {"finalizers": ["a", "c"]}}


def test_unchanged_manifest_gives_an_empty_patch() -> None:
    manifest = {"metadata": {"labels": {"app": "web"}}, **spec(c("a", image="x"))}
    live = {"metadata": {"labels": {"app": "web", "pod-template-hash": "1"}, "uid": "u"},
            **spec(c("a", image="x", imagePullPolicy="Always"), restartPolicy="Always")}
    assert three_way_patch(manifest, manifest, live, POD) == {}


def test_first_apply_without_last_applied_sets_what_the_manifest_gives() -> None:
    patch, out = apply({}, {"metadata": {"labels": {"app": "web"}}}, {"metadata": {"labels": {"other": "x"}}})
    assert out == {"metadata": {"labels": {"app": "web", "other": "x"}}}


def test_two_way_patch_reorders_with_set_element_order() -> None:
    patch = two_way_patch(spec(c("a"), c("b")), spec(c("b"), c("a")), POD)
    assert patch == {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    assert apply_strategic(spec(c("a"), c("b")), patch, POD) == spec(c("b"), c("a"))


# --- property: apply(current, three_way_patch(original, modified, current)) has modified's fields,
# lacks what original had and modified dropped, and keeps what only current has.

LABEL_KEYS = st.sampled_from(["a", "b", "c", "d"])
VALUES = st.sampled_from(["1", "2"])
labels = st.dictionaries(LABEL_KEYS, VALUES)
containers = st.lists(st.tuples(st.sampled_from(["x", "y", "z", "w"]), VALUES), unique_by=lambda t: t[0])


def pod(label_map: dict, items: list) -> dict:
    out: dict = {}
    if label_map:
        out["metadata"] = {"labels": label_map}
    if items:
        out["spec"] = {"containers": [c(n, image=i) for n, i in items]}
    return out


@settings(max_examples=300, deadline=None)
@given(labels, containers, labels.filter(bool), containers.filter(bool), labels, containers)
def test_three_way_apply_yields_the_manifest_and_keeps_the_rest(o_labels, o_items, m_labels, m_items, c_labels,
                                                                c_items) -> None:
    original, modified, current = pod(o_labels, o_items), pod(m_labels, m_items), pod(c_labels, c_items)
    out = apply_strategic(current, three_way_patch(original, modified, current, POD), POD)

    got_labels = out.get("metadata", {}).get("labels", {})
    for key in m_labels:
        assert got_labels[key] == m_labels[key]
    for key in set(o_labels) - set(m_labels):
        assert key not in got_labels
    for key in set(c_labels) - set(o_labels) - set(m_labels):
        assert got_labels[key] == c_labels[key]

    got = [(x["name"], x["image"]) for x in out["spec"]["containers"]]
    names = [n for n, _ in got]
    assert len(names) == len(set(names))
    assert [n for n in names if n in dict(m_items)] == [n for n, _ in m_items]  # the manifest's order
    for name, image in m_items:
        assert (name, image) in got
    for name in set(dict(o_items)) - set(dict(m_items)):
        assert name not in names
    for name in set(dict(c_items)) - set(dict(o_items)) - set(dict(m_items)):
        assert (name, dict(c_items)[name]) in got
