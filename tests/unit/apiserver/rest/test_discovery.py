"""Kubernetes' discovery documents (apiserver/rest/discovery.py): their shapes, every kind
once, the entries kubectl relies on (drain's pods/eviction, scale's Scale, get all's
category); the real kubectl reads them in tests/integration/test_rest_api.py."""

from __future__ import annotations

from typing import Any

import pytest

from apimachinery.kinds import KINDS, kind_info
from apiserver import served
from apiserver.rest import discovery

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def resources(group_version: str) -> dict[str, dict[str, Any]]:
    listed = discovery.resource_list(group_version)
    assert listed is not None
    return {entry["name"]: entry for entry in listed["resources"]}


def all_group_versions() -> list[str]:
    return ["v1"] + [v["groupVersion"] for g in discovery.api_group_list()["groups"] for v in g["versions"]]


# ------------------------------------------------------------------ /api, /apis, /apis/<group>


def test_api_lists_v1_and_the_server_address() -> None:
    assert discovery.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}


def test_apis_lists_every_named_group_of_a_served_kind() -> None:
    listed = discovery.api_group_list()
    assert (listed["kind"], listed["apiVersion"]) == ("APIGroupList", "v1")
    names = [group["name"] for group in listed["groups"]]
    assert names == ["apps", "batch", "rbac.authorization.k8s.io", "storage.k8s.io",
                     "coordination.k8s.io", "discovery.k8s.io"]
    assert set(names) == {info.group for info in KINDS} - {""}
    apps = listed["groups"][0]
    assert apps == {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}


def test_one_group() -> None:
    assert discovery.api_group("apps") == {"kind": "APIGroup", "apiVersion": "v1",
                                           **discovery.api_group_list()["groups"][0]}
    assert discovery.api_group("autoscaling") is None


# ------------------------------------------------------------------ resource lists


def test_every_kind_appears_once_in_its_group_version() -> None:
    seen = []
    for group_version in all_group_versions():
        listed = discovery.resource_list(group_version)
        assert listed is not None
        assert (listed["kind"], listed["apiVersion"], listed["groupVersion"]) == ("APIResourceList", "v1",
                                                                                 group_version)
        names = [entry["name"] for entry in listed["resources"]]
        assert names == sorted(names)
        seen += [(group_version, entry["kind"]) for entry in listed["resources"] if "/" not in entry["name"]]
    assert sorted(seen) == sorted((info.api_version, info.kind) for info in KINDS)
    assert discovery.resource_list("autoscaling/v1") is None
    assert discovery.resource_list("apps/v2") is None


def test_a_resource_entry_names_it_as_kubectl_does() -> None:
    core, apps = resources("v1"), resources("apps/v1")
    assert core["pods"] == {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                            "verbs": VERBS, "shortNames": ["po"], "categories": ["all"]}
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert core["nodes"]["namespaced"] is False
    assert "deletecollection" not in core["namespaces"]["verbs"]  # as Kubernetes
    assert "categories" not in core["nodes"] and "shortNames" not in resources("coordination.k8s.io/v1")["leases"]
    assert resources("discovery.k8s.io/v1")["endpointslices"]["singularName"] == "endpointslice"


def test_get_all_is_pods_services_and_the_workloads() -> None:
    in_all = {entry["name"] for gv in all_group_versions() for entry in discovery.resource_list(gv)["resources"]
              if "all" in entry.get("categories", [])}
    assert in_all == {"pods", "services", "deployments", "replicasets", "daemonsets", "statefulsets", "jobs",
                      "cronjobs"}


def test_drain_finds_the_eviction_subresource_in_v1() -> None:
    """kubectl's CheckEvictionSupport: a "pods/eviction" entry of kind Eviction with a group and version."""
    eviction = resources("v1")["pods/eviction"]
    assert eviction == {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
                        "version": "v1", "kind": "Eviction", "verbs": ["create"]}
    # Not policy/v1 itself: an empty resource list breaks kubectl's discovery (see the module).
    assert discovery.resource_list("policy/v1") is None


def test_pod_subresources() -> None:
    core = resources("v1")
    assert {name: (entry["kind"], entry["verbs"]) for name, entry in core.items() if name.startswith("pods/")} == {
        "pods/binding": ("Binding", ["create"]),
        "pods/eviction": ("Eviction", ["create"]),
        "pods/exec": ("PodExecOptions", ["create", "get"]),
        "pods/log": ("Pod", ["get"]),
        "pods/status": ("Pod", ["get", "patch", "update"]),
    }


def test_scale_is_an_autoscaling_v1_scale() -> None:
    scaled = {name for name in resources("apps/v1") if name.endswith("/scale")}
    assert scaled == {"deployments/scale", "replicasets/scale", "statefulsets/scale"}  # kubectl scale's kinds
    for name in scaled:
        entry = resources("apps/v1")[name]
        assert (entry["group"], entry["version"], entry["kind"], entry["verbs"]) == \
            ("autoscaling", "v1", "Scale", ["get", "patch", "update"])


def test_status_for_exactly_the_kinds_with_a_status() -> None:
    for info in KINDS:
        entry = resources(info.api_version).get(f"{info.plural}/status")
        assert (entry is not None) == info.has_status, info.kind
        if entry:
            assert (entry["kind"], entry["verbs"]) == (info.kind, ["get", "patch", "update"])
            assert "group" not in entry
    assert kind_info("Node").has_status and kind_info("Service").has_status and not kind_info("Lease").has_status


def test_the_grpc_face_announces_the_same_kinds_without_http_only_verbs() -> None:
    for info in KINDS:
        http = served.verbs(info)
        assert "patch" in http
        assert served.verbs(info, http=False) == tuple(v for v in http if v not in ("patch", "deletecollection"))


# ------------------------------------------------------------------ aggregated discovery


def test_aggregated_core_group() -> None:
    doc = discovery.aggregated("api")
    assert (doc["kind"], doc["apiVersion"], doc["metadata"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2", {})
    (core,) = doc["items"]
    assert core["metadata"] == {"creationTimestamp": None}
    (v1,) = core["versions"]
    assert (v1["version"], v1["freshness"]) == ("v1", "Current")
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert {k: v for k, v in pods.items() if k != "subresources"} == {
        "resource": "pods", "responseKind": {"group": "", "version": "v1", "kind": "Pod"}, "scope": "Namespaced",
        "singularResource": "pod", "verbs": VERBS, "shortNames": ["po"], "categories": ["all"]}
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["eviction"] == {"subresource": "eviction",
                                "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
                                "verbs": ["create"]}
    nodes = next(r for r in v1["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"


def test_aggregated_named_groups_match_the_classic_documents() -> None:
    doc = discovery.aggregated("apis")
    assert [item["metadata"]["name"] for item in doc["items"]] == \
        [group["name"] for group in discovery.api_group_list()["groups"]]
    for item in doc["items"]:
        for version in item["versions"]:
            classic = resources(f"{item['metadata']['name']}/{version['version']}")
            for resource in version["resources"]:
                assert classic[resource["resource"]]["verbs"] == resource["verbs"]
                for sub in resource.get("subresources", []):
                    assert classic[f"{resource['resource']}/{sub['subresource']}"]["verbs"] == sub["verbs"]
    with pytest.raises(ValueError):
        discovery.aggregated("openapi")


@pytest.mark.parametrize("accept, wanted", [
    (KUBECTL_ACCEPT, True),
    ("application/json", False),
    ("", False),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
    ("application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", False),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", True),
])
def test_wants_aggregated(accept: str, wanted: bool) -> None:
    assert discovery.wants_aggregated(accept) is wanted
