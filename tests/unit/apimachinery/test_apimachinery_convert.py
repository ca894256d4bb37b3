"""Manifests ⇄ API objects (apimachinery.convert) and the served kinds' names (kinds)."""

from __future__ import annotations

import pytest

from apimachinery.convert import ConversionError, from_dict, kind_of_manifest, to_dict
from apimachinery.kinds import UnknownKindError, info_of, kind_info, resolve_resource, unwrap, wrap
from protos import apps_pb2, core_pb2

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx",
                                                   "resources": {"limits": {"cpu": 1, "memory": "64Mi"}}}]}}},
}


def test_a_manifest_round_trips_with_int_or_string_and_numeric_quantities() -> None:
    obj = from_dict(DEPLOYMENT)
    assert isinstance(obj, apps_pb2.Deployment)
    assert obj.spec.template.spec.containers[0].resources.limits["cpu"] == "1"
    back = to_dict(obj)
    assert list(back)[:2] == ["apiVersion", "kind"]
    assert back["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 1}
    assert back["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1",
                                                                                         "memory": "64Mi"}


@pytest.mark.parametrize("manifest, words", [
    ([], "a manifest must be a mapping, got list"),
    ({"apiVersion": "v1"}, "Object 'Kind' is missing"),
    ({"kind": "Pod"}, "apiVersion is missing in Pod"),
    ({"apiVersion": "v1", "kind": "Gadget"}, 'no matches for kind "Gadget" in version "v1"'),
    ({"apiVersion": "v1", "kind": "Deployment"}, 'it is served as "apps/v1"'),
])
def test_bad_manifests_name_the_problem(manifest: object, words: str) -> None:
    with pytest.raises(ConversionError, match=words.replace("(", r"\(")):
        kind_of_manifest(manifest)


def test_unknown_and_mistyped_fields_are_named() -> None:
    with pytest.raises(ConversionError, match='unknown field "colour"'):
        from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "colour": "red"})
    with pytest.raises(ConversionError, match="replicas"):
        from_dict({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": "two"}})


@pytest.mark.parametrize("typed, kind", [("po", "Pod"), ("pods", "Pod"), ("Pod", "Pod"), ("deploy", "Deployment"),
                                         ("rs", "ReplicaSet"), ("ns", "Namespace"),
                                         ("deployments.apps", "Deployment"), ("leases", "Lease")])
def test_resources_resolve_like_kubectl(typed: str, kind: str) -> None:
    assert resolve_resource(typed).kind == kind


def test_unknown_resources_and_kinds_are_refused() -> None:
    with pytest.raises(UnknownKindError, match='the server doesn\'t have a resource type "gadgets"'):
        resolve_resource("gadgets")
    with pytest.raises(UnknownKindError, match='no kind "pods" is served'):
        kind_info("pods")


def test_wrap_and_unwrap_carry_the_kind() -> None:
    pod = core_pb2.Pod()
    pod.metadata.name = "web"
    wrapped = wrap(pod)
    assert info_of(wrapped).kind == "Pod" and unwrap(wrapped) == pod
    with pytest.raises(UnknownKindError, match="not an API object: PodSpec"):
        wrap(core_pb2.PodSpec())
