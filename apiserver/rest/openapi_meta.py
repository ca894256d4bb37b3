"""The pieces of the OpenAPI documents that no proto message of pykube's describes.

Kubernetes' documents name a few types of apimachinery that pykube's protos model
differently or not at all: Time (a protobuf Timestamp here), IntOrString (a oneof
message here, a bare number or string on the wire), Quantity (a string in a map here),
ListMeta, Status, DeleteOptions and Patch (the HTTP API's own envelopes). Their schemas are
written here, shaped as Kubernetes publishes them, with the operations' parameters and
responses that apiserver/rest/openapi.py puts on every path."""

from __future__ import annotations

from typing import Any

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
TIME = f"{META}.Time"
LIST_META = f"{META}.ListMeta"
STATUS = f"{META}.Status"
DELETE_OPTIONS = f"{META}.DeleteOptions"
PATCH = f"{META}.Patch"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


def _integer(description: str, fmt: str = "int64") -> dict[str, str]:
    return {"type": "integer", "format": fmt, "description": description}


SCHEMAS: dict[str, dict[str, Any]] = {
    TIME: {
        "type": "string",
        "format": "date-time",
        "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
                       "JSON: RFC 3339, in UTC (\"2024-05-01T12:00:00Z\").",
    },
    # OpenAPI 3 says "one of" where Kubernetes' v2 documents said type string: kubectl explain
    # then names the type (<IntOrString>) instead of calling it a string.
    INT_OR_STRING: {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
        "description": "IntOrString is a type that can hold an int32 or a string. When used in JSON or "
                       "YAML marshalling and unmarshalling, it produces or consumes the inner type.",
    },
    QUANTITY: {
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "description": "Quantity is a fixed-point representation of a number: \"250m\" or 1 (CPUs), "
                       "\"64Mi\" or \"1G\" (bytes). Written as a string; a plain number is accepted.",
    },
    LIST_META: {
        "type": "object",
        "description": "ListMeta describes metadata that synthetic resources must have, including lists.",
        "properties": {
            "resourceVersion": _string("The store revision the list was read at; a watch may start from it."),
            "continue": _string("Set when the list was cut at ?limit=: pass it as ?continue= for the rest."),
            "remainingItemCount": _integer("How many items the rest of a limited list holds."),
        },
    },
    f"{META}.StatusCause": {
        "type": "object",
        "description": "StatusCause provides more information about an api.Status failure.",
        "properties": {
            "field": _string("The field of the resource that caused the error (\"spec.replicas\")."),
            "message": _string("A human-readable description of the cause."),
            "reason": _string("A machine-readable description of the cause (FieldValueInvalid, ...)."),
        },
    },
    f"{META}.StatusDetails": {
        "type": "object",
        "description": "StatusDetails is a set of additional properties that MAY be set by the server.",
        "properties": {
            "name": _string("The name of the object the status is about."),
            "group": _string("Its API group."),
            "kind": _string("Its kind (or resource)."),
            "uid": _string("Its UID."),
            "causes": {"type": "array", "items": ref(f"{META}.StatusCause"),
                       "x-kubernetes-list-type": "atomic", "description": "The causes, field by field."},
            "retryAfterSeconds": _integer("When to try again, for a 429 or a 500.", "int32"),
        },
    },
    STATUS: {
        "type": "object",
        "description": "Status is a return value for calls that don't return other objects.",
        "properties": {
            "apiVersion": _string("v1."),
            "kind": _string("Status."),
            "metadata": {"allOf": [ref(LIST_META)], "description": "Standard list metadata."},
            "status": _string("Success or Failure."),
            "message": _string("A human-readable description of the status of this operation."),
            "reason": _string("A machine-readable reason: NotFound, AlreadyExists, Conflict, Invalid, ..."),
            "details": {"allOf": [ref(f"{META}.StatusDetails")], "description": "More about the reason."},
            "code": _integer("The HTTP status code.", "int32"),
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
    },
    f"{META}.Preconditions": {
        "type": "object",
        "description": "Preconditions must be fulfilled before an operation (update, delete, etc.) is "
                       "carried out.",
        "properties": {
            "resourceVersion": _string("The object's resourceVersion must be this one."),
            "uid": _string("The object's UID must be this one."),
        },
    },
    DELETE_OPTIONS: {
        "type": "object",
        "description": "DeleteOptions may be provided when deleting an API object.",
        "properties": {
            "apiVersion": _string("v1."),
            "kind": _string("DeleteOptions."),
            "gracePeriodSeconds": _integer("The seconds the object gets to end gracefully; 0: at once."),
            "preconditions": {"allOf": [ref(f"{META}.Preconditions")],
                              "description": "Must hold, or the delete fails with 409 Conflict."},
            "propagationPolicy": _string("Orphan, Background or Foreground: what becomes of the dependents."),
            "orphanDependents": {"type": "boolean", "description": "Deprecated: propagationPolicy Orphan."},
            "dryRun": {"type": "array", "items": {"type": "string"}, "description": "All: change nothing."},
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}],
    },
    PATCH: {
        "type": "object",
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
                       "request body.",
    },
}

# Well-known protobuf types that stand for free-form JSON (ObjectMeta.managedFields' fieldsV1 is a
# Struct): written inline, as Kubernetes writes such fields, not as schemas of their own.
INLINE_MESSAGES: dict[str, dict[str, Any]] = {
    "google.protobuf.Struct": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "google.protobuf.Value": {"x-kubernetes-preserve-unknown-fields": True},
    "google.protobuf.ListValue": {"type": "array", "items": {"x-kubernetes-preserve-unknown-fields": True}},
    "google.protobuf.Duration": {"type": "string"},
}

VERB_DESCRIPTIONS = {
    "list": "list or watch objects of kind",
    "create": "create a",
    "read": "read the specified",
    "replace": "replace the specified",
    "patch": "partially update the specified",
    "delete": "delete a",
}

_QUERY_PARAMETERS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. Valid "
                         "values are: - All: all dry run stages will be processed"),
    "fieldManager": ("string", "fieldManager is a name associated with the actor or entity that is "
                               "making these changes."),
    "fieldValidation": ("string", "fieldValidation instructs the server on how to handle objects in the "
                                  "request containing unknown or duplicate fields: Ignore, Warn or Strict."),
    "force": ("boolean", "Force is going to \"force\" Apply requests: re-acquire conflicting fields "
                         "owned by other people."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their labels."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their fields."),
    "limit": ("integer", "The most objects to return; the rest comes with ?continue=."),
    "continue": ("string", "The continue token of a previous limited list."),
    "resourceVersion": ("string", "Which resource versions the request may be served from."),
    "resourceVersionMatch": ("string", "How resourceVersion is applied to list calls."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a stream of "
                         "add, update, and remove notifications."),
    "allowWatchBookmarks": ("boolean", "Ask for BOOKMARK watch events."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be deleted."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed: Orphan, "
                                    "Background or Foreground."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy."),
}

LIST_PARAMS = ("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
               "resourceVersionMatch", "watch", "allowWatchBookmarks", "timeoutSeconds")
DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "propagationPolicy", "orphanDependents")


def query_parameter(name: str) -> dict[str, Any]:
    kind, description = _QUERY_PARAMETERS[name]
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": kind, "uniqueItems": True}}


def path_parameter(name: str, kind: str = "") -> dict[str, Any]:
    description = (f"name of the {kind}" if name == "name"
                   else "object name and auth scope, such as for teams and projects")
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "uniqueItems": True}}


def response(schema_name: str) -> dict[str, Any]:
    schema = ref(schema_name)
    return {"description": "OK",
            "content": {"application/json": {"schema": schema}, "application/yaml": {"schema": schema}}}


SECURITY_SCHEMES = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                    "description": "Bearer Token authentication"}}
