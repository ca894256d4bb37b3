"""Which handler answers a request: resource requests by verb and subresource (handlers.py,
subresources.py), non-resource paths (version, health, discovery, OpenAPI) here.

    /version                  Kubernetes' version.Info (apimachinery/version.py)
    /healthz /livez /readyz   "ok" (and their /<check> sub-paths)
    /api /apis /api/v1 ...    discovery.py
    /openapi/v3[/<gv>]        openapi.py; /openapi/v2 is not served (404)

Helpers written beside this one (watch.py, discovery.py, openapi.py, table.py, streams.py)
are imported when first used, so a missing one answers 404/501 rather than breaking the rest.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from apimachinery.version import version_info
from apiserver.rest import decode, handlers, status, subresources
from apiserver.rest.handlers import API
from apiserver.rest.requestinfo import RequestInfo

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


def version_dict() -> dict[str, str]:
    """Kubernetes' version.Info (``GET /version``)."""
    info = version_info()
    return {"major": info.major, "minor": info.minor, "gitVersion": info.git_version, "gitCommit": "",
            "gitTreeState": "clean", "buildDate": "", "goVersion": f"python{info.python_version}",
            "compiler": "cpython", "platform": info.platform}


def _discovery(request: web.Request) -> web.Response | None:
    """/api, /apis (aggregated when the client asks for it first, as kubectl does), /api/v1,
    /apis/<group>[/<version>] from discovery.py; None when unknown."""
    try:
        from apiserver.rest import discovery
    except ImportError:
        return None
    parts = request.path.strip("/").split("/")
    if parts in (["api"], ["apis"]) and discovery.wants_aggregated(request.headers.get("Accept", "")):
        return decode.json_response(discovery.aggregated(parts[0]), content_type=discovery.AGGREGATED_CONTENT_TYPE)
    body = None
    if parts == ["api"]:
        body = discovery.api_versions(request.host)
    elif parts == ["apis"]:
        body = discovery.api_group_list()
    elif parts[0] == "api" and len(parts) == 2:
        body = discovery.resource_list(parts[1])
    elif parts[0] == "apis" and len(parts) == 2:
        body = discovery.api_group(parts[1])
    elif parts[0] == "apis" and len(parts) == 3:
        body = discovery.resource_list(f"{parts[1]}/{parts[2]}")
    return None if body is None else decode.json_response(body)


def _openapi(path: str) -> Any:
    try:
        from apiserver.rest import openapi
    except ImportError:
        return None
    if path.rstrip("/") == "/openapi/v3":
        return openapi.index()
    return openapi.document(path[len("/openapi/v3/"):])


def serve_path(request: web.Request, info: RequestInfo) -> web.Response:
    """A non-resource request: version, health, discovery, OpenAPI; 404 for anything else."""
    path = request.path
    if request.method not in ("GET", "HEAD"):
        if path == "/version" or path.startswith(HEALTH_PATHS):
            raise status.method_not_allowed(request.method, path)
        raise status.not_found()
    if path == "/version":
        return decode.json_response(version_dict())
    if any(path == p or path.startswith(p + "/") for p in HEALTH_PATHS):
        return web.Response(text="ok", content_type="text/plain")
    answer: web.Response | None = None
    if path == "/api" or path.startswith(("/api/", "/apis")):
        answer = _discovery(request)
    elif path.startswith("/openapi/v3"):
        document = _openapi(path)
        answer = None if document is None else decode.json_response(document)
    if answer is None:
        raise status.not_found()
    return answer


# ------------------------------------------------------------------ resources

async def serve_resource(api: API, request: web.Request, info: RequestInfo) -> web.StreamResponse:
    """Answer a resource request (authenticated and authorized already)."""
    kind = handlers.kind_of(info)
    if info.subresource:
        return await subresources.serve(api, request, kind, info)
    verb = info.verb
    if verb == "get":
        return handlers.get(api, request, kind, info)
    if verb == "list":
        return handlers.list_objects(api, request, kind, info)
    if verb == "watch":
        return await handlers.watch(api, request, kind, info)
    if verb == "create" and not info.name:
        return await handlers.create(api, request, kind, info)
    if verb == "update" and info.name:
        return await handlers.update(api, request, kind, info)
    if verb == "patch" and info.name:
        return await handlers.patch(api, request, kind, info)
    if verb == "delete":
        return await handlers.delete(api, request, kind, info)
    if verb == "deletecollection":
        return await handlers.delete_collection(api, request, kind, info)
    raise status.method_not_allowed(request.method, info.path)
