"""Request bodies and options of the HTTP API, read as Kubernetes reads them.

* Bodies: ``application/json`` (the default when no Content-Type is given, as Kubernetes
  takes its first serializer) or ``application/yaml``; protobuf for the few kinds kubectl's
  typed clients send that way (protobuf.py: Eviction, DeleteOptions, SelfSubjectAccessReview);
  anything else is 415 UnsupportedMediaType. A body that does not parse is 400 BadRequest.
* Objects: the body's ``apiVersion``/``kind`` must be the URL's (filled in when absent); a
  namespaced object's ``metadata.namespace`` must be the URL's (filled in when absent, 400
  when different, Kubernetes' words). Unknown fields follow ``fieldValidation``: Strict →
  400 ``strict decoding error: unknown field "spec.foo"``; Warn (the default since
  Kubernetes 1.27) → accepted without them, one ``Warning: 299 - "unknown field \\"spec.foo\\""``
  header each; Ignore → dropped silently.
* Options: ``dryRun=All``; DeleteOptions from the body or the query (gracePeriodSeconds,
  propagationPolicy, preconditions, dryRun, orphanDependents).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml
from aiohttp import web
from google.protobuf.message import Message

from apimachinery.convert import ConversionError, message_from_dict_dropping_unknown
from apimachinery.kinds import KindInfo
from apiserver import errors
from apiserver.rest import protobuf, status
from apiserver.rest.encoding import dumps

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
DEFAULT_FIELD_VALIDATION = "Warn"


@dataclass
class Decoded:
    """An object read from a body, and the warnings to send back with the answer."""

    obj: Message
    warnings: list[str] = field(default_factory=list)


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str) -> Any:
    """The body as a JSON value; 415 for a media type not served, 400 when it does not parse."""
    kind = media_type(content_type) or JSON
    if kind in (JSON, "text/json"):
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise errors.BadRequest(f"couldn't get version/kind; json parse error: {err}") from None
    if kind == PROTOBUF:
        try:
            return protobuf.decode(body)[1]
        except protobuf.KindNotReadable as err:
            raise status.unsupported_media_type(kind, [JSON, YAML],
                                                f"{err} is not read from protobuf here: send JSON") from None
    if kind in (YAML, "text/yaml", "application/x-yaml"):
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as err:
            raise errors.BadRequest(f"error converting YAML to JSON: {str(err).splitlines()[0]}") from None
    raise status.unsupported_media_type(kind, [JSON, YAML])


def dry_run(query: Mapping[str, str], body_options: Mapping[str, Any] | None = None) -> bool:
    """``dryRun=All`` (query or DeleteOptions body); any other value is 400, as Kubernetes answers."""
    if hasattr(query, "getall"):  # aiohttp's MultiDict: dryRun may repeat
        values = list(query.getall("dryRun", []))
    else:
        values = [query["dryRun"]] if "dryRun" in query else []
    if body_options and isinstance(body_options.get("dryRun"), list):
        values += body_options["dryRun"]
    for value in values:
        if value != "All":
            raise errors.BadRequest(f'Invalid dry run value: "{value}": only "All" is supported')
    return bool(values)


def field_validation(query: Mapping[str, str]) -> str:
    value = query.get("fieldValidation", "") or DEFAULT_FIELD_VALIDATION
    if value not in FIELD_VALIDATION:
        raise errors.BadRequest(f'fieldValidation: Unsupported value: "{value}": supported values: '
                                '"Ignore", "Strict", "Warn"')
    return value


def _unknown(path: str) -> str:
    return f'unknown field "{path}"'


def object_from_dict(data: Any, info: KindInfo, namespace: str, validation: str) -> Decoded:
    """An object of kind ``info`` for a request on ``namespace`` (see the module docstring)."""
    if not isinstance(data, dict):
        raise errors.BadRequest(f'{info.kind} in version "{version_of(info)}" cannot be handled as a {info.kind}: '
                                "the body must be an object")
    data = dict(data)
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if api_version and api_version != info.api_version:
        raise errors.BadRequest(f"the API version in the data ({api_version}) does not match the expected API "
                                f"version ({info.api_version})")
    if kind and kind != info.kind:
        raise errors.BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
    data["apiVersion"], data["kind"] = info.api_version, info.kind
    try:
        obj, dropped = message_from_dict_dropping_unknown(data, info.message, info.kind)
    except ConversionError as err:
        raise errors.BadRequest(f'{info.kind} in version "{version_of(info)}" cannot be handled as a '
                                f"{info.kind}: {err}") from None
    if dropped and validation == "Strict":
        raise errors.BadRequest("strict decoding error: " + ", ".join(_unknown(p) for p in dropped))
    warnings = [_unknown(p) for p in dropped] if validation == "Warn" else []
    meta = obj.metadata  # type: ignore[attr-defined]
    if info.namespaced:
        if meta.namespace and namespace and meta.namespace != namespace:
            raise errors.BadRequest("the namespace of the provided object does not match the namespace sent on "
                                    "the request")
        meta.namespace = meta.namespace or namespace
    return Decoded(obj, warnings)


def version_of(info: KindInfo) -> str:
    return info.api_version.rpartition("/")[2]


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise errors.BadRequest(f"{name}: must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.BadRequest(f'{name}: invalid value "{value}": must be an integer') from None


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str = ""
    uid: str = ""
    resource_version: str = ""
    dry_run: bool = False


def delete_options(body: Any, query: Mapping[str, str]) -> DeleteOptions:
    """meta/v1 DeleteOptions from the body (kubectl sends one) and the query (gracePeriodSeconds,
    propagationPolicy, orphanDependents, dryRun; the body wins); preconditions only in the body."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.BadRequest("DeleteOptions: the body must be an object")
    grace: Any = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
    policy = body.get("propagationPolicy") or query.get("propagationPolicy", "")
    orphan = body.get("orphanDependents", query.get("orphanDependents"))
    if isinstance(orphan, str):
        orphan = orphan in ("1", "t", "T", "true", "TRUE", "True")
    if orphan is not None and policy:
        raise errors.Invalid("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: "
                             f'"{policy}": orphanDependents and deletionPropagation cannot be both set')
    if orphan:
        policy = "Orphan"
    preconditions = body.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise errors.BadRequest("DeleteOptions: preconditions must be an object")
    return DeleteOptions(
        grace_period_seconds=None if grace is None else _int(grace, "gracePeriodSeconds"),
        propagation_policy=str(policy or ""),
        uid=str(preconditions.get("uid") or ""),
        resource_version=str(preconditions.get("resourceVersion") or ""),
        dry_run=dry_run(query, body))


# ------------------------------------------------------------------ answers

def json_response(data: Any, code: int = 200, warnings: list[str] | None = None,
                  headers: Mapping[str, str] | None = None, content_type: str = JSON) -> web.Response:
    return encoded_response(dumps(data), code, warnings, headers, content_type)


def encoded_response(body: bytes, code: int = 200, warnings: list[str] | None = None,
                     headers: Mapping[str, str] | None = None, content_type: str = JSON) -> web.Response:
    """A response of JSON already encoded (see encoding.py), with Kubernetes' Warning headers."""
    response = web.Response(body=body, status=code, headers={**(headers or {}), "Content-Type": content_type})
    for warning in warnings or ():
        response.headers.add("Warning", f"299 - {json.dumps(warning)}")
    return response
