"""What an HTTP request asks for, read off its method, path and query: Kubernetes'
RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), as a pure function.

Resource requests live under ``/api`` (the core group, no group in the path) and
``/apis/<group>``::

    /api/v1/namespaces/{namespace}/pods/{name}/log        get pods/log "name" in namespace
    /apis/apps/v1/deployments                            list deployments in every namespace
    /api/v1/watch/namespaces/{namespace}/pods            watch (the old path form)
    /api/v1/namespaces/{namespace}                       get namespaces "namespace"

Every other path (``/version``, ``/healthz``, ``/api``, ``/apis/apps``, ``/openapi/v3``) is a
non-resource request, whose verb is the method in lower case.

The verb of a resource request follows the method: POST create, GET/HEAD get, PUT update,
PATCH patch, DELETE delete; a GET without a name is a list, or a watch with ``?watch=true``;
a DELETE without a name is a deletecollection. As in Kubernetes, a list or watch whose field
selector requires ``metadata.name=x`` names the object, so RBAC's resourceNames can allow
watching one object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

API_PREFIXES = frozenset({"api", "apis"})
GROUPLESS_PREFIXES = frozenset({"api"})
# Verbs spelled in the path before the resource (/api/v1/watch/pods).
SPECIAL_VERBS = frozenset({"proxy", "watch"})
SPECIAL_VERBS_NO_SUBRESOURCES = frozenset({"proxy"})
# /api/v1/namespaces/{name}/status is the Namespace's own subresource, not a resource "status".
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
VERB_OF_METHOD = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                  "DELETE": "delete"}
# Go's strconv.ParseBool.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


class RequestInfoError(ValueError):
    """A path under /api or /apis that names no resource (Kubernetes answers it 404)."""


@dataclass(frozen=True)
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str                 # Kubernetes' verb; the lower-case method for non-resource requests
    api_prefix: str = ""      # "api" or "apis"
    api_group: str = ""       # "" for the core group
    api_version: str = ""
    namespace: str = ""
    resource: str = ""        # plural: "pods"
    subresource: str = ""     # "status", "scale", "log", ...
    name: str = ""
    parts: tuple[str, ...] = field(default=())  # resource/name/subresource/... as in the path

    @property
    def group_version(self) -> str:
        """``v1`` or ``apps/v1``, as apiVersion spells it."""
        return f"{self.api_group}/{self.api_version}" if self.api_group else self.api_version


def parse_bool(text: str | None) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (anything else: false)."""
    return text in _TRUE


def _split(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _name_from_field_selector(selector: str) -> str:
    """The name a ``metadata.name=x`` (or ``==``) term requires, if the selector has exactly such a term."""
    for term in selector.split(","):
        for op in ("==", "="):
            key, found, value = term.partition(op)
            if found and not key.endswith("!") and key.strip() == "metadata.name":
                value = value.strip()
                # path.IsValidPathSegmentName: a name that could stand in a path.
                return value if value not in (".", "..") and "/" not in value and "%" not in value else ""
    return ""


def request_info(method: str, path: str, query: Mapping[str, str] | None = None) -> RequestInfo:
    """RequestInfo of a request; RequestInfoError for a malformed resource path."""
    query = query or {}
    method = method.upper()
    non_resource = RequestInfo(False, path, method.lower())
    parts = _split(path)
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix not in GROUPLESS_PREFIXES:
        if len(parts) < 3:  # /apis/apps/v1 is discovery, not a resource
            return non_resource
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if not parts:
        return non_resource  # /api/v1/ with a trailing slash: still discovery
    if parts[0] in SPECIAL_VERBS:
        if len(parts) < 2:
            raise RequestInfoError(f"unable to determine kind and namespace from url {path}")
        verb, parts = parts[0], parts[1:]
    else:
        verb = VERB_OF_METHOD.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb not in SPECIAL_VERBS_NO_SUBRESOURCES else ""
    if not name and verb == "get":
        verb = "watch" if parse_bool(query.get("watch")) else "list"
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, path, verb, prefix, group, version, namespace, resource, subresource, name,
                       tuple(parts))
