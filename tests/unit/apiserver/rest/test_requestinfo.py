"""requestinfo.request_info: URLs read as Kubernetes' RequestInfoFactory reads them."""

from __future__ import annotations

import pytest

from apiserver.rest.requestinfo import RequestInfo, RequestInfoError, parse_bool, request_info


def info(method: str, path: str, **query: str) -> RequestInfo:
    return request_info(method, path, query)


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/api/v1/namespaces/dev/pods/web", {}, ("get", "", "v1", "dev", "pods", "", "web")),
    ("GET", "/api/v1/namespaces/dev/pods", {}, ("list", "", "v1", "dev", "pods", "", "")),
    ("GET", "/api/v1/pods", {}, ("list", "", "v1", "", "pods", "", "")),
    ("GET", "/api/v1/pods", {"watch": "true"}, ("watch", "", "v1", "", "pods", "", "")),
    ("GET", "/api/v1/pods", {"watch": "1"}, ("watch", "", "v1", "", "pods", "", "")),
    ("GET", "/api/v1/pods", {"watch": "false"}, ("list", "", "v1", "", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/dev/pods", {}, ("watch", "", "v1", "dev", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/dev/pods/web", {}, ("watch", "", "v1", "dev", "pods", "", "web")),
    ("POST", "/api/v1/namespaces/dev/pods", {}, ("create", "", "v1", "dev", "pods", "", "")),
    ("PUT", "/api/v1/namespaces/dev/pods/web", {}, ("update", "", "v1", "dev", "pods", "", "web")),
    ("PATCH", "/apis/apps/v1/namespaces/dev/deployments/web", {},
     ("patch", "apps", "v1", "dev", "deployments", "", "web")),
    ("DELETE", "/api/v1/namespaces/dev/pods/web", {}, ("delete", "", "v1", "dev", "pods", "", "web")),
    ("DELETE", "/api/v1/namespaces/dev/pods", {}, ("deletecollection", "", "v1", "dev", "pods", "", "")),
    ("GET", "/api/v1/namespaces/dev/pods/web/log", {}, ("get", "", "v1", "dev", "pods", "log", "web")),
    ("POST", "/api/v1/namespaces/dev/pods/web/binding", {},
     ("create", "", "v1", "dev", "pods", "binding", "web")),
    ("PUT", "/apis/apps/v1/namespaces/dev/deployments/web/scale", {},
     ("update", "apps", "v1", "dev", "deployments", "scale", "web")),
    ("GET", "/api/v1/nodes/n1", {}, ("get", "", "v1", "", "nodes", "", "n1")),
    ("PUT", "/api/v1/nodes/n1/status", {}, ("update", "", "v1", "", "nodes", "status", "n1")),
    # A Namespace is named by the namespace segment itself; its status is its own subresource.
    ("GET", "/api/v1/namespaces/dev", {}, ("get", "", "v1", "dev", "namespaces", "", "dev")),
    ("PUT", "/api/v1/namespaces/dev/status", {}, ("update", "", "v1", "dev", "namespaces", "status", "dev")),
    ("POST", "/api/v1/namespaces", {}, ("create", "", "v1", "", "namespaces", "", "")),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {},
     ("list", "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "")),
])
def test_resource_requests(method, path, query, expected) -> None:
    got = request_info(method, path, query)
    assert got.is_resource_request
    assert (got.verb, got.api_group, got.api_version, got.namespace, got.resource, got.subresource,
            got.name) == expected


def test_a_name_required_by_the_field_selector_names_the_object() -> None:
    got = info("GET", "/api/v1/namespaces/dev/pods", watch="true", fieldSelector="metadata.name=web")
    assert (got.verb, got.name) == ("watch", "web")
    assert info("GET", "/api/v1/pods", fieldSelector="metadata.name!=web").name == ""
    assert info("GET", "/api/v1/pods", fieldSelector="spec.nodeName=n1").name == ""
    assert info("GET", "/api/v1/pods", fieldSelector="metadata.name=a/b").name == ""


@pytest.mark.parametrize("path", ["/version", "/healthz", "/api", "/apis", "/api/v1", "/apis/apps",
                                  "/apis/apps/v1", "/openapi/v3/api/v1", "/"])
def test_non_resource_paths(path: str) -> None:
    got = info("GET", path)
    assert not got.is_resource_request
    assert (got.verb, got.path) == ("get", path)
    assert info("POST", path).verb == "post"


def test_group_version() -> None:
    assert info("GET", "/apis/apps/v1/deployments").group_version == "apps/v1"
    assert info("GET", "/api/v1/pods").group_version == "v1"


def test_a_special_verb_without_a_resource_is_an_error() -> None:
    with pytest.raises(RequestInfoError):
        info("GET", "/api/v1/watch")


def test_parse_bool_as_go() -> None:
    assert all(parse_bool(t) for t in ("1", "t", "T", "true", "TRUE", "True"))
    assert not any(parse_bool(t) for t in ("", "yes", "on", None, "0", "false"))
