"""Errors as Kubernetes' HTTP API answers them: a ``Status`` object (meta/v1) and its HTTP code.

    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
     "message": "pods \\"x\\" not found", "reason": "NotFound",
     "details": {"name": "x", "kind": "pods"}, "code": 404}

The registry raises ``apiserver.errors.APIError`` subclasses (shared with the gRPC face);
``status_of`` maps each class to Kubernetes' code and reason (StatusReason in
k8s.io/apimachinery/pkg/apis/meta/v1/types.go). ``details.kind`` is the resource (Kubernetes
fills it from the GroupResource, so it reads "pods", not "Pod"); an Invalid error lists its
field errors as ``details.causes``.
"""

from __future__ import annotations

from typing import Any

from apiserver import errors

# Kubernetes' message for a path or kind it does not serve.
NOT_FOUND_MESSAGE = "the server could not find the requested resource"

# (HTTP code, reason) of each error class; the first match in this order wins.
_BY_CLASS: tuple[tuple[type[errors.APIError], int, str], ...] = (
    (errors.NotFound, 404, "NotFound"),
    (errors.AlreadyExists, 409, "AlreadyExists"),
    (errors.Conflict, 409, "Conflict"),
    (errors.Invalid, 422, "Invalid"),
    (errors.BadRequest, 400, "BadRequest"),
    (errors.Forbidden, 403, "Forbidden"),
    (errors.PermissionDenied, 403, "Forbidden"),
    (errors.TooOld, 410, "Expired"),
    (errors.TooLarge, 413, "RequestEntityTooLarge"),
    (errors.Unauthorized, 401, "Unauthorized"),
    (errors.TooManyRequests, 429, "TooManyRequests"),
)

# validation.FieldError.kind → metav1.CauseType (field.ErrorType's String()).
CAUSE_TYPES = {
    "Invalid value": "FieldValueInvalid",
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Duplicate value": "FieldValueDuplicate",
    "Forbidden": "FieldValueForbidden",
    "Too many": "FieldValueTooMany",
    "Too long": "FieldValueTooLong",
    "Not found": "FieldValueNotFound",
    "FieldManagerConflict": "FieldManagerConflict",  # errors.FieldManagerConflict: an apply's conflicts
}


class HTTPError(errors.APIError):
    """An error only the HTTP face has (its own code and reason): 405, 415, 406, 501..."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.http_code, self.reason = code, reason


def status_of(err: errors.APIError) -> tuple[int, str]:
    """(HTTP code, StatusReason) of an API error; 500 InternalError for one not mapped."""
    if isinstance(err, HTTPError):
        return err.http_code, err.reason
    for cls, code, reason in _BY_CLASS:
        if isinstance(err, cls):
            return code, reason
    return 500, "InternalError"


def cause(field_error: Any) -> dict[str, str]:
    """One StatusCause of a validation.FieldError (path, kind, value, detail)."""
    text = str(field_error)
    prefix = f"{field_error.path}: "
    return {"reason": CAUSE_TYPES.get(field_error.kind, "FieldValueInvalid"),
            "message": text[len(prefix):] if text.startswith(prefix) else text,
            "field": field_error.path}


def failure(code: int, reason: str, message: str, *, name: str = "", group: str = "", kind: str = "",
            causes: list[dict[str, str]] | None = None, retry_after: int | None = None) -> dict[str, Any]:
    """A Failure Status (details only with what is known, as Kubernetes omits empty fields)."""
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    if causes:
        details["causes"] = causes
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message}
    if reason:
        status["reason"] = reason
    if details:
        status["details"] = details
    status["code"] = code
    return status


def naming(err: errors.APIError, name: str) -> errors.APIError:
    """``err`` marked with the name of the object it is about, for details.name when the
    request's URL names none (a create)."""
    err.object_name = name  # type: ignore[attr-defined]
    return err


def error_status(err: errors.APIError, *, name: str = "", group: str = "", resource: str = "") -> dict[str, Any]:
    """The Status of an APIError for a request on (group, resource, name)."""
    code, reason = status_of(err)
    causes = [cause(e) for e in getattr(err, "causes", ())] or None
    retry = 1 if code == 429 else None
    return failure(code, reason, err.message, name=name, group=group, kind=resource, causes=causes,
                   retry_after=retry)


def success(*, name: str = "", group: str = "", kind: str = "", uid: str = "", code: int = 200) -> dict[str, Any]:
    """A Success Status (a binding's or an eviction's answer)."""
    details: dict[str, Any] = {}
    for key, value in (("name", name), ("group", group), ("kind", kind), ("uid", uid)):
        if value:
            details[key] = value
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        status["details"] = details
    status["code"] = code
    return status


# Errors only the HTTP face raises, worded as Kubernetes words them.

def not_found() -> HTTPError:
    return HTTPError(404, "NotFound", NOT_FOUND_MESSAGE)


def method_not_allowed(method: str, what: str) -> HTTPError:
    return HTTPError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource"
                     f" ({method} {what})")


def unsupported_media_type(content_type: str, supported: list[str], why: str = "") -> HTTPError:
    got = f'got "{content_type}"' if content_type else ""
    note = "; ".join(x for x in (got, why) if x)
    return HTTPError(415, "UnsupportedMediaType",
                     f'the body of the request was in an unknown format - accepted media types include: '
                     f'{", ".join(supported)}' + (f" ({note})" if note else ""))


def not_implemented(message: str) -> HTTPError:
    return HTTPError(501, "NotImplemented", message)
