"""The resource verbs of the HTTP API: every kind of apimachinery/kinds.py at its Kubernetes URL.

    GET    /api/v1/namespaces/{ns}/pods/{name}     get
    GET    /api/v1/namespaces/{ns}/pods            list (``/api/v1/pods``: every namespace)
    GET    ...?watch=true                          watch (apiserver/rest/watch.py)
    POST   /api/v1/namespaces/{ns}/pods            create: 201 Created
    PUT    /api/v1/namespaces/{ns}/pods/{name}     update (compare-and-swap on metadata.resourceVersion)
    PATCH  /api/v1/namespaces/{ns}/pods/{name}     patch: json-patch, merge-patch, strategic-merge-patch,
                                                   apply-patch+yaml (server-side apply)
    DELETE /api/v1/namespaces/{ns}/pods/{name}     delete (DeleteOptions): the object
    DELETE /api/v1/namespaces/{ns}/pods            deletecollection (label/field selectors): the list

Subresources (status, scale, binding, eviction, log, exec) are in subresources.py.

Lists are ``<Kind>List`` with ``metadata.resourceVersion``, filtered by ``labelSelector`` and
``fieldSelector``, and chunked by ``limit``/``continue``. The continue token is opaque (base64
of the first page's resourceVersion and the last key served). A continued page is not a
snapshot: Kubernetes serves every page from the first page's revision in etcd, the watch
cache keeps only the current state, so a continued page reads the objects as they are now,
after the last key served (in namespace/name order). No object is served twice and none that
existed throughout is missed; objects created, changed or deleted between pages may show
their new state or be missed. Every page reports the first page's resourceVersion, so a
watch started from it sees every change since (some perhaps twice: harmless to informers).

Every verb runs the registry synchronously between two awaits, so a read-modify-write
(patch) is atomic with respect to other requests, as registry.py explains.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from aiohttp import web
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KINDS, KindInfo
from apimachinery.limits import MAX_REQUEST_BYTES, request_too_large
from apimachinery.patch import PatchError, apply_json_patch, merge_patch
from apimachinery.patch import apply_patch as patch_object
from apiserver import errors
from apiserver.registry.registry import Registry
from apiserver.rest import decode, status
from apiserver.rest.encoding import ObjectJSON, list_json
from apiserver.rest.table import to_table, wants_table
from apiserver.rest.requestinfo import RequestInfo, parse_bool
from apiserver.rest.watch import serve_watch
from apiserver.watchcache import WatchCache

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
# Kubernetes retries a patch that lost a compare-and-swap race this many times.
PATCH_RETRIES = 5
CONTINUE_VERSION = "meta.k8s.io/v1"


def group_of(info: KindInfo) -> str:
    return info.api_version.rpartition("/")[0]


# (group, version, plural) → kind: what a URL names.
RESOURCES: dict[tuple[str, str, str], KindInfo] = {
    (group_of(info), decode.version_of(info), info.plural): info for info in KINDS}


@dataclass
class API:
    """What the handlers serve from: the apiserver's registry, watch cache and kubelet proxy."""

    registry: Registry
    cache: WatchCache
    logs: Any = None  # apiserver.logs_proxy.LogsProxy (log, exec)
    bookmark_interval: float = 5.0
    max_request_bytes: int = MAX_REQUEST_BYTES
    clock: Callable[[], float] = time.time
    authorizer: Any = None  # what access reviews ask (the server's; RESTServer fills it in)
    encoded: ObjectJSON = field(init=False, repr=False)  # the stored objects' JSON, each made once

    def __post_init__(self) -> None:
        self.encoded = ObjectJSON(self.cache)


def kind_of(info: RequestInfo) -> KindInfo:
    """The kind a resource request's URL names; 404 as Kubernetes answers unknown resources."""
    kind = RESOURCES.get((info.api_group, info.api_version, info.resource))
    if kind is None or (info.namespace and not kind.namespaced and kind.kind != "Namespace"):
        raise status.not_found()
    return kind


def namespace_of(kind: KindInfo, info: RequestInfo) -> str:
    return info.namespace if kind.namespaced else ""


async def read_body(api: API, request: web.Request) -> bytes:
    """The request body, refused with 413 over the limit (before reading it when it says its length)."""
    limit = api.max_request_bytes
    if limit >= 0 and request.content_length is not None and request.content_length > limit:
        raise errors.TooLarge(request_too_large(limit))
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.TooLarge(request_too_large(limit)) from None


# ------------------------------------------------------------------ answers

def table_version(request: web.Request) -> str:
    """The meta.k8s.io Table version the client's Accept prefers (kubectl get: "meta.k8s.io/v1"),
    "" for none."""
    wanted, api_version = wants_table(request.headers.get("Accept", ""))
    return api_version if wanted else ""


def _table(api: API, request: web.Request, kind: KindInfo, objects: list[Message],
           list_meta: dict[str, Any] | None = None, with_columns: bool = True) -> dict[str, Any] | None:
    """The Table of objects when the client asked for one; None: answer the objects themselves."""
    api_version = table_version(request)
    if not api_version:
        return None
    now = datetime.datetime.fromtimestamp(api.clock(), datetime.timezone.utc)
    return to_table(kind, objects, request.query.get("includeObject", ""), now, list_meta=list_meta,
                          api_version=api_version, with_columns=with_columns)


def answer_list(api: API, kind: KindInfo, items: list[Message], meta: dict[str, Any]) -> web.Response:
    """A ``<Kind>List`` of items, from their kept encodings."""
    return decode.encoded_response(list_json(kind, meta, [api.encoded.encode(kind, obj) for obj in items]))


def answer_object(api: API, request: web.Request, kind: KindInfo, obj: Message, code: int = 200,
                  warnings: list[str] | None = None) -> web.Response:
    table = _table(api, request, kind, [obj])
    if table is not None:
        return decode.json_response(table, code, warnings)
    return decode.encoded_response(api.encoded.encode(kind, obj), code, warnings)


# ------------------------------------------------------------------ list chunking (pure)

def encode_continue(revision: int, last_key: str) -> str:
    raw = json.dumps({"v": CONTINUE_VERSION, "rv": revision, "start": last_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(first page's revision, last key served); 400 BadRequest for a token this server did not make."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if raw.get("v") != CONTINUE_VERSION or not isinstance(raw.get("start"), str):
            raise ValueError("unknown token version")
        return int(raw["rv"]), raw["start"]
    except (ValueError, TypeError, AttributeError, binascii.Error, KeyError) as err:
        raise errors.BadRequest(f"continue key is not valid: {err}") from None


def item_key(obj: Message) -> str:
    meta = obj.metadata  # type: ignore[attr-defined]
    return f"{meta.namespace}/{meta.name}"


def page(items: list[Message], revision: int, limit: int, token: str) -> tuple[list[Message], dict[str, Any]]:
    """One page of a sorted list, and its ListMeta (resourceVersion, continue, remainingItemCount)."""
    if token:
        revision, start = decode_continue(token)
        items = [obj for obj in items if item_key(obj) > start]
    meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if 0 < limit < len(items):
        served = items[:limit]
        meta["continue"] = encode_continue(revision, item_key(served[-1]))
        meta["remainingItemCount"] = len(items) - limit
        return served, meta
    return items, meta


def parse_int(text: str, name: str) -> int:
    """A non-negative integer query parameter (limit, timeoutSeconds); "" is 0, negative is 0."""
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise errors.BadRequest(f'{name}: Invalid value: "{text}": must be an integer') from None
    return max(value, 0)


# ------------------------------------------------------------------ the verbs

def get(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    return answer_object(api, request, kind, api.registry.get(kind.kind, namespace_of(kind, info), info.name))


def list_objects(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    query = request.query
    items, revision = api.registry.list(kind.kind, namespace_of(kind, info), query.get("labelSelector", ""),
                                        query.get("fieldSelector", ""))
    served, meta = page(items, revision, parse_int(query.get("limit", ""), "limit"), query.get("continue", ""))
    table = _table(api, request, kind, served, meta)
    return decode.json_response(table) if table is not None else answer_list(api, kind, served, meta)


async def decode_object(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> decode.Decoded:
    body = await read_body(api, request)
    data = decode.parse_body(body, request.headers.get("Content-Type", ""))
    return decode.object_from_dict(data, kind, namespace_of(kind, info), decode.field_validation(request.query))


async def create(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    if kind.namespaced and not info.namespace:
        raise status.method_not_allowed("POST", f"{info.resource} in every namespace: name a namespace")
    dry_run = decode.dry_run(request.query)
    decoded = await decode_object(api, request, kind, info)
    try:
        created = api.registry.create(decoded.obj, dry_run)
    except errors.APIError as err:
        # Kubernetes' Status names the object a create was refused for (details.name: 'pods
        # "web" already exists'), a name the POST's URL does not carry.
        raise status.naming(err, decoded.obj.metadata.name) from None  # type: ignore[attr-defined]
    return answer_object(api, request, kind, created, 201, decoded.warnings)


def check_url_name(name: str, url_name: str) -> None:
    """A body naming an object (when it names one) must name the URL's."""
    if name and name != url_name:
        raise errors.BadRequest(f"the name of the object ({name}) does not match the name on the URL ({url_name})")


def check_name(obj: Message, info: RequestInfo) -> None:
    """The object's name is the URL's: filled in when absent, 400 when another."""
    meta = obj.metadata  # type: ignore[attr-defined]
    check_url_name(meta.name, info.name)
    meta.name = info.name


def body_metadata(body: dict[str, Any], url_name: str) -> dict[str, Any]:
    """The metadata of a body that is no stored kind (an apply patch, a Scale, a Binding, an
    Eviction), {} when it has none; its name checked against the URL's."""
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    check_url_name(str(meta.get("name") or ""), url_name)
    return meta


async def read_document(api: API, request: web.Request, what: str) -> dict[str, Any]:
    """A request body that must be a JSON (or YAML) object, as its Content-Type says: a Binding,
    an Eviction; ``what`` names it in the 400 ("a Binding")."""
    body = decode.parse_body(await read_body(api, request), request.headers.get("Content-Type", ""))
    if not isinstance(body, dict):
        raise errors.BadRequest(f"{what} must be an object")
    return body


async def update(api: API, request: web.Request, kind: KindInfo, info: RequestInfo,
                 write: Callable[[Message, bool], Message] | None = None) -> web.Response:
    """PUT; ``write`` is the registry call (update, or update_status for the status subresource)."""
    dry_run = decode.dry_run(request.query)
    decoded = await decode_object(api, request, kind, info)
    check_name(decoded.obj, info)
    updated = (write or api.registry.update)(decoded.obj, dry_run)
    return answer_object(api, request, kind, updated, 200, decoded.warnings)


# ------------------------------------------------------------------ patch

def _patch_status(err: PatchError) -> status.HTTPError:
    return status.HTTPError(err.code, {422: "Invalid", 415: "UnsupportedMediaType", 413: "RequestEntityTooLarge"}
                            .get(err.code, "BadRequest"), err.message)


def apply_untyped_patch(content_type: str, original: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A patch of a document that is no stored kind (an autoscaling/v1 Scale): a JSON patch, or
    a merge patch; a Scale has no lists, so its strategic merge patch is a merge patch too."""
    document = decode.parse_body(body, decode.JSON)
    if content_type == JSON_PATCH:
        try:
            return apply_json_patch(original, document)
        except PatchError as err:
            raise _patch_status(err) from None
    if not isinstance(document, dict):
        raise errors.BadRequest("json: cannot unmarshal into Go value of type map[string]interface {}")
    return merge_patch(original, document)


def apply_patch(content_type: str, original: dict[str, Any], body: bytes, kind: KindInfo) -> dict[str, Any]:
    """The patched object (as a dict): apimachinery.patch's apply_patch, its PatchError as a
    Status (400, 413, 415 or 422)."""
    try:
        return patch_object(content_type, original, body, kind)
    except PatchError as err:
        raise _patch_status(err) from None


def patched_object(api: API, request: web.Request, kind: KindInfo, info: RequestInfo, body: bytes,
                   current: Message) -> tuple[decode.Decoded, bool]:
    """The object a patch makes of current, and whether the patch itself named a resourceVersion
    (then it is a precondition: a conflict is the client's to see, not to retry)."""
    content_type = decode.media_type(request.headers.get("Content-Type", ""))
    original = json.loads(api.encoded.encode(kind, current))  # a fresh copy, from the kept JSON
    patched = apply_patch(content_type, original, body, kind)
    decoded = decode.object_from_dict(patched, kind, namespace_of(kind, info),
                                      decode.field_validation(request.query))
    check_name(decoded.obj, info)
    meta = decoded.obj.metadata  # type: ignore[attr-defined]
    precondition = bool(meta.resource_version) and meta.resource_version != current.metadata.resource_version  # type: ignore[attr-defined]
    if not meta.resource_version:
        meta.resource_version = current.metadata.resource_version  # type: ignore[attr-defined]
    return decoded, precondition


def check_patch_type(request: web.Request) -> str:
    content_type = decode.media_type(request.headers.get("Content-Type", ""))
    if content_type not in PATCH_TYPES:
        raise status.unsupported_media_type(content_type, PATCH_TYPES)
    return content_type


async def patch(api: API, request: web.Request, kind: KindInfo, info: RequestInfo,
                write: Callable[[Message, bool], Message] | None = None) -> web.Response:
    """PATCH: read, patch, update with the read resourceVersion (retried on Conflict as Kubernetes
    does); ``write`` is the registry call (update, or update_status for the status subresource)."""
    content_type = check_patch_type(request)
    dry_run = decode.dry_run(request.query)
    body = await read_body(api, request)
    namespace = namespace_of(kind, info)
    if content_type == APPLY_PATCH:
        return server_side_apply(api, request, kind, info, body, dry_run)
    write = write or api.registry.update
    for attempt in range(PATCH_RETRIES):
        current = api.registry.get(kind.kind, namespace, info.name)
        decoded, precondition = patched_object(api, request, kind, info, body, current)
        try:
            return answer_object(api, request, kind, write(decoded.obj, dry_run), 200, decoded.warnings)
        except errors.Conflict:
            if precondition or attempt == PATCH_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def field_manager(request: web.Request) -> str:
    """``?fieldManager=``, else the first token of the User-Agent (Kubernetes' default)."""
    return request.query.get("fieldManager") or request.headers.get("User-Agent", "").split("/", 1)[0].strip()


def server_side_apply(api: API, request: web.Request, kind: KindInfo, info: RequestInfo, body: bytes,
                      dry_run: bool) -> web.Response:
    apply = getattr(api.registry, "server_side_apply", None)
    if apply is None:
        raise status.unsupported_media_type(APPLY_PATCH, PATCH_TYPES[:3])
    manager = request.query.get("fieldManager", "")
    if not manager:
        raise errors.Invalid('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                             "is required for apply patch")
    data = decode.parse_body(body, decode.YAML)
    if not isinstance(data, dict):
        raise errors.BadRequest("an apply patch must be an object")
    body_metadata(data, info.name)
    obj, created = apply(kind.kind, namespace_of(kind, info), info.name, data, manager,
                         parse_bool(request.query.get("force")), dry_run)
    return answer_object(api, request, kind, obj, 201 if created else 200)


# ------------------------------------------------------------------ delete

async def delete_options(api: API, request: web.Request) -> decode.DeleteOptions:
    body = await read_body(api, request)
    data = decode.parse_body(body, request.headers.get("Content-Type", "")) if body.strip() else None
    return decode.delete_options(data, request.query)


def delete_object(api: API, kind: KindInfo, namespace: str, name: str, options: decode.DeleteOptions) -> Message:
    return api.registry.delete(kind.kind, namespace, name, uid=options.uid,
                               resource_version=options.resource_version,
                               grace_period_seconds=options.grace_period_seconds,
                               propagation_policy=options.propagation_policy, dry_run=options.dry_run)


async def delete(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    options = await delete_options(api, request)
    return answer_object(api, request, kind, delete_object(api, kind, namespace_of(kind, info), info.name, options))


async def delete_collection(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.Response:
    options = await delete_options(api, request)
    query = request.query
    items, revision = api.registry.list(kind.kind, namespace_of(kind, info), query.get("labelSelector", ""),
                                        query.get("fieldSelector", ""))
    deleted = []
    for obj in items:
        meta = obj.metadata  # type: ignore[attr-defined]
        try:
            deleted.append(delete_object(api, kind, meta.namespace, meta.name, options))
        except errors.NotFound:
            continue  # gone meanwhile (a namespace's contents)
    return answer_list(api, kind, deleted, {"resourceVersion": str(api.cache.revision)})


# ------------------------------------------------------------------ watch

async def watch(api: API, request: web.Request, kind: KindInfo, info: RequestInfo) -> web.StreamResponse:
    """Hand a watch to watch.py with its options from the query (Kubernetes' ListOptions)."""
    query = request.query
    field_selector = query.get("fieldSelector", "")
    if len(info.parts) >= 2:  # /watch/namespaces/ns/pods/name: one object
        field_selector = ",".join(s for s in (f"metadata.name={info.name}", field_selector) if s)
    timeout = query.get("timeoutSeconds", "")
    initial = query.get("sendInitialEvents")
    encode = None
    if table_version(request):
        first = [True]  # Kubernetes sends a watch's Table columns with its first row only

        def encode(event_type: str, obj: Message) -> dict[str, Any]:
            if event_type == "BOOKMARK":
                return to_dict(obj)
            table = _table(api, request, kind, [obj], with_columns=first[0])
            first[0] = False
            return table if table is not None else to_dict(obj)
    return await serve_watch(
        request, api.cache, kind, namespace_of(kind, info), label_selector=query.get("labelSelector", ""),
        field_selector=field_selector, resource_version=query.get("resourceVersion", ""),
        allow_bookmarks=parse_bool(query.get("allowWatchBookmarks")),
        timeout_seconds=float(parse_int(timeout, "timeoutSeconds")) if timeout else None,
        send_initial_events=None if initial is None else parse_bool(initial),
        bookmark_interval=api.bookmark_interval, encode=encode, encode_object=partial(api.encoded.encode, kind),
        resource_version_match=query.get("resourceVersionMatch", ""))
