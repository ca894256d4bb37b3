"""The one error a patch raises, carrying the HTTP code Kubernetes answers with.

* 400 BadRequest: the patch document itself is malformed (not JSON, not the shape its
  content type asks for, a directive Kubernetes does not know, a list item without its
  merge key). Kubernetes' apiserver answers these with ``errors.NewBadRequest``.
* 422 Invalid: the patch is well formed but does not apply, or what it yields is not an
  object of the kind (a failing JSON patch ``test``, a path that is not there, a changed
  kind). Kubernetes answers JSON patch failures with a generic 422 response.
* 413 RequestEntityTooLarge: a JSON patch of more than 10000 operations.
* 415 UnsupportedMediaType: a Content-Type that is no patch type.

The messages are Kubernetes' own (mergepatch/errors.go, evanphx/json-patch) where we know
them; maps and lists in them are printed the way Go's ``%v`` prints them."""

from __future__ import annotations

from typing import Any

BAD_REQUEST = 400
REQUEST_ENTITY_TOO_LARGE = 413
UNSUPPORTED_MEDIA_TYPE = 415
INVALID = 422


class PatchError(ValueError):
    """A patch that cannot be applied; ``code`` is the HTTP status to answer with."""

    def __init__(self, message: str, code: int = BAD_REQUEST) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def go_format(value: Any) -> str:
    """A JSON value as Go's fmt ``%v`` prints it (``map[a:1 b:[x y]]``), for messages."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    return str(value)


def go_type(value: Any) -> str:
    """The Go type encoding/json decodes a JSON value into, for "expected a ..." messages."""
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "<nil>"


# mergepatch/errors.go
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"
ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST = "invalid patch format of setElementOrder list"


def no_merge_key(item: dict[str, Any], merge_key: str) -> PatchError:
    return PatchError(f"map: {go_format(item)} does not contain declared merge key: {merge_key}")


def bad_arg_type(expected: Any, actual: Any) -> PatchError:
    return PatchError(f"expected a {go_type(expected)}, but received a {go_type(actual)}")


def bad_patch_type(directive: Any, item: dict[str, Any]) -> PatchError:
    return PatchError(f"unknown patch type: {go_format(directive)} in map: {go_format(item)}")
