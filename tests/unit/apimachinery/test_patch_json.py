"""JSON patch (RFC 6902) through apply_patch: the six operations, and failures with
Kubernetes' codes and (evanphx/json-patch's) words."""

from __future__ import annotations

import json

import pytest

from apimachinery.kinds import BY_KIND
from apimachinery.patch import JSON_PATCH, PatchError, apply_patch

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
       "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}


def patched(*ops: dict) -> dict:
    return apply_patch(JSON_PATCH, POD, json.dumps(list(ops)).encode(), BY_KIND["Pod"])


def test_operations() -> None:
    out = patched(
        {"op": "test", "path": "/metadata/labels/app", "value": "web"},
        {"op": "add", "path": "/metadata/labels/tier", "value": "fe"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "log", "image": "busybox"}},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
        {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/moved"},
    )
    assert out["metadata"]["labels"] == {"app": "web", "copied": "web", "moved": "fe"}
    assert out["metadata"]["finalizers"] == ["b"]
    assert out["spec"]["containers"] == [{"name": "main", "image": "nginx:1.28"}, {"name": "log", "image": "busybox"}]
    assert POD["spec"]["containers"] == [{"name": "main", "image": "nginx:1.27"}]  # pure


@pytest.mark.parametrize(("op", "message"), [
    ({"op": "test", "path": "/metadata/labels/app", "value": "api"},
     "testing value /metadata/labels/app failed: test failed"),
    ({"op": "replace", "path": "/spec/nodeName", "value": "n1"},
     "replace operation does not apply: doc is missing path: /spec/nodeName: missing value"),
    ({"op": "remove", "path": "/metadata/annotations"},
     "remove operation does not apply: doc is missing path: /metadata/annotations: missing value"),
    ({"op": "add", "path": "/metadata/annotations/a", "value": "x"},
     "add operation does not apply: doc is missing path: /metadata/annotations/a: missing value"),
    ({"op": "move", "from": "/spec/nodeName", "path": "/spec/hostname"},
     "move operation does not apply: doc is missing from path: /spec/nodeName: missing value"),
    ({"op": "add", "path": "/spec/containers/5", "value": {}},
     "add operation does not apply: /spec/containers/5: invalid index referenced"),
])
def test_an_operation_that_does_not_apply_is_invalid(op, message) -> None:
    with pytest.raises(PatchError) as err:
        patched({"op": "add", "path": "/metadata/labels/x", "value": "1"}, op)
    assert (err.value.code, err.value.message) == (422, message)


@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"op": "add"}', "must be a list of operations"),
    (b'[{"op": "frobnicate", "path": "/a"}]', "Unexpected kind: frobnicate"),
    (b'[{"op": "add", "value": 1}]', "missing path field"),
    (b'[{"op": "add", "path": "/a"}]', "missing value field"),
    (b'[{"op": "copy", "path": "/a"}]', "missing from field"),
    (b'["add"]', "expected an object"),
    (b"[{", "error decoding patch: "),
])
def test_a_malformed_patch_is_bad_request(body, fragment) -> None:
    with pytest.raises(PatchError) as err:
        apply_patch(JSON_PATCH, POD, body, BY_KIND["Pod"])
    assert err.value.code == 400
    assert fragment in err.value.message


def test_too_many_operations() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * 10001
    with pytest.raises(PatchError) as err:
        patched(*ops)
    assert err.value.code == 413
    assert err.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"


def test_changing_kind_is_invalid_and_removing_it_restores_it() -> None:
    with pytest.raises(PatchError) as err:
        patched({"op": "replace", "path": "/kind", "value": "Node"})
    assert err.value.code == 422
    assert "kind" in err.value.message
    assert patched({"op": "remove", "path": "/apiVersion"})["apiVersion"] == "v1"


def test_other_content_types_are_unsupported() -> None:
    with pytest.raises(PatchError) as err:
        apply_patch("application/json", POD, b"{}", BY_KIND["Pod"])
    assert err.value.code == 415
    assert apply_patch("application/json-patch+json; charset=utf-8", POD, b"[]", BY_KIND["Pod"]) == POD
