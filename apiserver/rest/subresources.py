"""Subresources of the HTTP API: what ``/<resource>/<name>/<subresource>`` serves.

==========  ===================  ===================================================================
status      GET, PUT, PATCH      the object; writes go through registry.update_status (only status)
scale       GET, PUT, PATCH      deployments, replicasets and statefulsets as an autoscaling/v1 Scale (spec.replicas,
                                 status.replicas, status.selector as a string); ``kubectl scale``
                                 PATCHes it with a merge patch
binding     POST                 pods: a v1 Binding → registry.bind; 201 Status Success
eviction    POST                 pods: a policy/v1 Eviction (optional deleteOptions) → a graceful
                                 delete; 201 Status Success (there are no PodDisruptionBudgets)
log         GET                  pods: streams.serve_log
exec        GET (upgrade), POST  pods: streams.serve_exec (WebSocket v5.channel.k8s.io)
==========  ===================  ===================================================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo
from apimachinery.selectors import LabelSelector
from apiserver import errors
from apiserver.registry.core import copy_message
from apiserver.rest import decode, handlers, status, streams
from apiserver.rest.handlers import API, namespace_of
from apiserver.rest.requestinfo import RequestInfo

SCALABLE = frozenset({"Deployment", "ReplicaSet", "StatefulSet"})


def _allow(request: web.Request, info: RequestInfo, *methods: str) -> None:
    if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
        raise status.method_not_allowed(request.method, info.path)


# ------------------------------------------------------------------ status

async def serve_status(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    _allow(request, info, "GET", "PUT", "PATCH")
    if not api.registry.strategies[kind.kind].has_status:  # a kind without status has no /status
        raise status.not_found()
    if request.method == "GET" or request.method == "HEAD":
        return handlers.get(api, request, kind, info)
    if request.method == "PATCH":
        return await handlers.patch(api, request, kind, info, api.registry.update_status)
    return await handlers.update(api, request, kind, info, api.registry.update_status)


# ------------------------------------------------------------------ scale

def scale_of(obj: Message) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a Deployment, ReplicaSet or StatefulSet."""
    meta = to_dict(obj).get("metadata", {})
    spec, status_ = obj.spec, obj.status  # type: ignore[attr-defined]
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.replicas},
        "status": {"replicas": status_.replicas, "selector": str(LabelSelector.from_proto(spec.selector))},
    }


def scaled(obj: Message, scale: Any, name: str) -> Message:
    """obj with the replicas a Scale asks for; its resourceVersion, when given, is a precondition."""
    if not isinstance(scale, dict):
        raise errors.BadRequest("a Scale must be an object")
    meta = handlers.body_metadata(scale, name)
    spec = scale.get("spec") if isinstance(scale.get("spec"), dict) else {}
    replicas = spec.get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise errors.BadRequest(f"Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: "
                                f"expected an integer, got {replicas!r}")
    if replicas < 0:
        raise errors.Invalid(f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                             "must be greater than or equal to 0")
    new = copy_message(obj)
    new.spec.replicas = replicas  # type: ignore[attr-defined]
    new.metadata.resource_version = str(meta.get("resourceVersion") or obj.metadata.resource_version)  # type: ignore[attr-defined]
    return new


async def serve_scale(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    _allow(request, info, "GET", "PUT", "PATCH")
    if kind.kind not in SCALABLE:
        raise status.not_found()
    namespace = namespace_of(kind, info)
    if request.method in ("GET", "HEAD"):
        return decode.json_response(scale_of(api.registry.get(kind.kind, namespace, info.name)))
    content_type = handlers.check_patch_type(request) if request.method == "PATCH" else ""
    if content_type == handlers.APPLY_PATCH:
        raise status.unsupported_media_type(content_type, handlers.PATCH_TYPES[:3])
    dry_run = decode.dry_run(request.query)
    body = await handlers.read_body(api, request)
    current = api.registry.get(kind.kind, namespace, info.name)
    if request.method == "PATCH":
        scale = handlers.apply_untyped_patch(content_type, scale_of(current), body)
    else:
        scale = decode.parse_body(body, request.headers.get("Content-Type", ""))
    updated = api.registry.update(scaled(current, scale, info.name), dry_run)
    return decode.json_response(scale_of(updated))


# ------------------------------------------------------------------ pods: binding, eviction, log, exec

async def serve_binding(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    _allow(request, info, "POST")
    body = await handlers.read_document(api, request, "a Binding")
    target = body.get("target") if isinstance(body.get("target"), dict) else {}
    meta = handlers.body_metadata(body, info.name)
    api.registry.bind(info.namespace, info.name, str(target.get("name") or ""), str(meta.get("uid") or ""))
    return decode.json_response(status.success(code=201), 201)


async def serve_eviction(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    _allow(request, info, "POST")
    body = await handlers.read_document(api, request, "an Eviction")
    handlers.body_metadata(body, info.name)
    options = decode.delete_options(body.get("deleteOptions"), request.query)
    handlers.delete_object(api, kind, info.namespace, info.name, options)
    return decode.json_response(status.success(code=201), 201)


async def serve_stream(api: API, request: web.Request, info: RequestInfo) -> web.StreamResponse:
    if info.subresource == "log":
        _allow(request, info, "GET")
        return await streams.serve_log(request, api.logs, info.namespace, info.name)
    if info.subresource == "exec":
        _allow(request, info, "GET", "POST")
        return await streams.serve_exec(request, api.logs, info.namespace, info.name)
    serve = getattr(streams, "serve_port_forward", None)
    if serve is None:
        raise status.not_found()
    _allow(request, info, "GET", "POST")
    return await serve(request, api.logs, info.namespace, info.name)


POD_SUBRESOURCES = {"binding": serve_binding, "eviction": serve_eviction}
STREAMS = frozenset({"log", "exec", "portforward"})


async def serve(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.StreamResponse:
    if not info.name or len(info.parts) > 3:
        raise status.not_found()
    if info.subresource == "status":
        return await serve_status(api, request, kind, info)
    if info.subresource == "scale":
        return await serve_scale(api, request, kind, info)
    if kind.kind == "Pod" and info.subresource in POD_SUBRESOURCES:
        return await POD_SUBRESOURCES[info.subresource](api, request, kind, info)
    if kind.kind == "Pod" and info.subresource in STREAMS:
        return await serve_stream(api, request, info)
    raise status.not_found()
