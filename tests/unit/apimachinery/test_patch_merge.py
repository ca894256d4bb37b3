"""JSON merge patch: RFC 7386's own examples (Appendix A), and apply_patch's merge-patch face."""

from __future__ import annotations

import json

import pytest

from apimachinery.kinds import BY_KIND
from apimachinery.patch import MERGE_PATCH, PatchError, apply_patch
from apimachinery.patch.merge import merge_patch

RFC_7386_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_APPENDIX_A)
def test_rfc_7386_examples(target, patch, result) -> None:
    before = json.dumps(target)
    assert merge_patch(target, patch) == result
    assert json.dumps(target) == before  # pure


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}},
       "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}


def test_merge_patch_replaces_lists_whole_and_null_deletes_a_label() -> None:
    patch = {"metadata": {"labels": {"tier": None}}, "spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}
    out = apply_patch(MERGE_PATCH, POD, json.dumps(patch).encode(), BY_KIND["Pod"])
    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["spec"]["containers"] == [{"name": "main", "image": "nginx:1.28"}]  # the log container is gone
    assert POD["metadata"]["labels"] == {"app": "web", "tier": "fe"}


def test_merge_patch_null_document_is_bad_request() -> None:
    with pytest.raises(PatchError) as err:
        apply_patch(MERGE_PATCH, POD, b"null", BY_KIND["Pod"])
    assert (err.value.code, err.value.message) == (400, "Invalid JSON Patch")


def test_merge_patch_with_a_list_yields_no_object() -> None:
    with pytest.raises(PatchError) as err:
        apply_patch(MERGE_PATCH, POD, b"[1]", BY_KIND["Pod"])
    assert err.value.code == 422
