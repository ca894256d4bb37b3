"""Strategic merge patch, ``application/strategic-merge-patch+json``, as
k8s.io/apimachinery/pkg/util/strategicpatch applies it (StrategicMergeMapPatch).

A strategic merge patch looks like the object, as a JSON merge patch does, but it knows
each field's patch strategy from the kind's schema (here: the proto descriptor, walked
field by JSON name alongside the dict, plus merge_keys.py for Kubernetes' struct tags):

* maps (objects, and map fields such as labels) merge key by key; ``null`` deletes a key;
* lists of objects with a merge key merge item by item: ``containers`` by ``name``,
  ``env`` by ``name``, ``ports`` by ``containerPort``; items the patch does not name stay;
* lists of scalars with strategy merge (``finalizers``) merge as sets;
* every other list, and every scalar, is replaced by the patch's value.

Directives, the keys that begin with ``$``:

* ``$patch: replace`` in a map: the map is the patch's, not merged; as a list item: the
  list is the patch's other items. ``$patch: delete`` in a map: the map empties; as a list
  item ``{"name": "x", "$patch": "delete"}``: the item with that merge key goes.
  (``$patch: merge`` is refused, as Kubernetes refuses it: "merging lists cannot yet be
  specified in the patch".)
* ``$setElementOrder/<list>``: the order the merged list's items take (kubectl sends it with
  every list it patches); items only the server has keep their place relative to them.
* ``$deleteFromPrimitiveList/<list>``: scalars to remove from a merging scalar list.
* ``$retainKeys``: in a map whose field has strategy retainKeys (a union such as a
  Deployment's ``strategy``), the keys that stay; all others are cleared.

Where this differs from Go: a value the patch brings that the object lacks is taken with
its nulls and directives stripped (Go strips the nulls, and leaves directives for the
decoder to refuse); ``$deleteFromPrimitiveList`` on a list without merge strategy deletes
(Go would replace the list with the deletion list).

three_way.py builds on this the patch ``kubectl apply`` computes (CreateThreeWayMergePatch)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor

from apimachinery.patch import errors
from apimachinery.patch.errors import PatchError, bad_arg_type, bad_patch_type, no_merge_key
from apimachinery.patch.merge_keys import is_set_list, map_list, retains_keys

DIRECTIVE = "$patch"
DELETE = "delete"
REPLACE = "replace"
MERGE = "merge"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

# Messages of the proto schema that are scalars in JSON (IntOrString is an int or a string,
# Timestamp a string): their dicts, if any, have no fields to walk.
_SCALAR_MESSAGES = ("pykube.v1.IntOrString",)


# ---------------------------------------------------------------------------------------
# The schema: LookupPatchMetadata over proto descriptors.

@dataclass(frozen=True)
class PatchMeta:
    """What the schema says about one field: its message (its items' message, for a
    list), its patch strategy ("merge" or none), its merge key, and retainKeys."""

    schema: Descriptor | None
    strategy: str = ""
    merge_key: str = ""
    retain_keys: bool = False


NO_META = PatchMeta(None)
_FIELDS: dict[str, dict[str, Any]] = {}


def _fields(schema: Descriptor) -> dict[str, Any]:
    fields = _FIELDS.get(schema.full_name)
    if fields is None:
        fields = _FIELDS[schema.full_name] = {f.json_name: f for f in schema.fields}
    return fields


def patch_meta(schema: Descriptor | None, key: str) -> PatchMeta:
    """The patch metadata of field ``key`` of ``schema`` (unknown fields and the entries of
    map fields have none: maps merge, lists replace)."""
    if schema is None:
        return NO_META
    field = _fields(schema).get(key)
    if field is None:
        return NO_META
    message = field.message_type
    is_map = message is not None and message.GetOptions().map_entry
    if message is not None and (is_map or message.full_name in _SCALAR_MESSAGES
                                or message.full_name.startswith("google.protobuf.")):
        message = None
    if field.is_repeated and not is_map:
        keyed = map_list(schema, field)
        if keyed is not None:
            return PatchMeta(message, MERGE, keyed.merge_key, retains_keys(schema, field))
        if is_set_list(schema, field):
            return PatchMeta(None, MERGE)
        return PatchMeta(message)
    return PatchMeta(message, retain_keys=retains_keys(schema, field))


# ---------------------------------------------------------------------------------------
# JSON values as Go's encoding/json sees them.

def kind_of(value: Any) -> str:
    """The Go kind a JSON value decodes to: all numbers are one (float64)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    raise PatchError(f"not a JSON value: {value!r}")


def same(a: Any, b: Any) -> bool:
    """Go's == on two decoded JSON scalars (True is not 1)."""
    return kind_of(a) == kind_of(b) and a == b


def element_kind(*lists: list[Any]) -> str | None:
    """sliceElementType: the one kind of all items (None when there are none)."""
    kind = None
    for items in lists:
        for item in items:
            k = kind_of(item)
            if kind is None:
                if k == "slice":
                    raise PatchError(errors.ERR_NO_LIST_OF_LISTS, errors.INVALID)
                kind = k
            elif k != kind:
                raise PatchError("list element types are not identical: "
                                 + errors.go_format(list(lists)))
    return kind


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise bad_arg_type([], value)
    return value


# ---------------------------------------------------------------------------------------
# Applying a patch: mergeMap and friends.

@dataclass(frozen=True)
class MergeOptions:
    """merge_parallel_list: apply the directive lists (on the server) rather than carry
    them (when merging two patches, as CreateThreeWayMergePatch does); ignore_unmatched_nulls:
    drop a null for a key the original lacks rather than keep it."""

    merge_parallel_list: bool = True
    ignore_unmatched_nulls: bool = True


SERVER = MergeOptions()


def apply_strategic(original: dict[str, Any], patch: dict[str, Any], schema: Descriptor | None) -> dict[str, Any]:
    """StrategicMergeMapPatch: the original with the patch applied; neither is changed."""
    if not isinstance(patch, dict):
        raise bad_arg_type({}, patch)
    return merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema, SERVER)


def strip(value: Any) -> Any:
    """A value the patch brings whole: without nulls and directives (nor items that are
    directives), as it is to be stored."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [strip(v) for v in value if not (isinstance(v, dict) and DIRECTIVE in v)]
    return value


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(errors.ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST if prefix == DELETE_FROM_PRIMITIVE_LIST
                         else errors.ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST)
    return rest


def merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Descriptor | None,
              options: MergeOptions) -> dict[str, Any]:
    """mergeMap: merge patch into original (both are changed)."""
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == REPLACE:
            del patch[DIRECTIVE]
            return strip(patch) if options.merge_parallel_list else patch
        if directive == DELETE:
            return {}
        raise bad_patch_type(directive, patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch, options)
    _merge_ordered_lists(original, patch, schema, options)
    for key, value in list(patch.items()):
        is_delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            if not options.merge_parallel_list:
                original[key] = value
                continue
            key = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST)
            is_delete_list = True
        if value is None:
            original.pop(key, None)
            if options.ignore_unmatched_nulls:
                continue
        if key not in original or kind_of(original[key]) != kind_of(value):
            if not is_delete_list:
                original[key] = strip(value) if options.merge_parallel_list else value
            continue
        meta = patch_meta(schema, key)
        if isinstance(value, dict):
            original[key] = merge_map(original[key], value, meta.schema, options)
        elif isinstance(value, list):
            original[key] = _merge_list_field(original[key], value, meta, is_delete_list, options)
        else:
            original[key] = value
    return original


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], options: MergeOptions) -> None:
    """applyRetainKeysDirective: clear the keys of original the directive does not name."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not options.merge_parallel_list:
        if RETAIN_KEYS in original and original[RETAIN_KEYS] != retain:
            raise PatchError(f"{errors.go_format(original[RETAIN_KEYS])} and {errors.go_format(retain)} are not "
                             "deep equal: this may happen when calculating the 3-way diff patch")
        original.setdefault(RETAIN_KEYS, retain)
        return
    if not isinstance(retain, list):
        raise PatchError(errors.ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retain:
            raise PatchError(errors.ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS)
    for key in list(original):
        if key not in retain:
            del original[key]


def _merge_list_field(original: list[Any], patch: list[Any], meta: PatchMeta, is_delete_list: bool,
                      options: MergeOptions) -> list[Any]:
    """mergeSliceHandler: lists with strategy merge merge, others are replaced."""
    if meta.strategy == MERGE or (is_delete_list and options.merge_parallel_list):
        return merge_slice(original, patch, meta, options, is_delete_list)
    return strip(patch) if options.merge_parallel_list else patch


def merge_slice(original: list[Any], patch: list[Any], meta: PatchMeta, options: MergeOptions,
                is_delete_list: bool = False) -> list[Any]:
    """mergeSlice: scalars as a set, objects item by item by the merge key; then the order."""
    if not original and not patch:
        return original
    kind = element_kind(original, patch)
    key = meta.merge_key
    if kind != "map":
        if options.merge_parallel_list and is_delete_list:
            return [v for v in original if not any(same(v, d) for d in patch)]
        merged = _deduplicate(original + patch)
    else:
        if not key:
            raise PatchError("cannot merge lists without merge key for type map")
        original, patch = _special_elements(original, patch, key)
        merged = _merge_items(original, patch, key, meta.schema, options)
    patch_items, server_only = _partition(merged, patch, key)
    return normalize_element_order(patch_items, server_only, patch, original, key, kind == "map")


def _deduplicate(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(same(item, seen) for seen in out):
            out.append(item)
    return out


def _special_elements(original: list[Any], patch: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """mergeSliceWithSpecialElements: apply the ``$patch`` items; the patch without them."""
    plain = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == DELETE:
            if key not in item:
                raise no_merge_key(item, key)
            original = [o for o in original if not (key in o and same(o[key], item[key]))]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise bad_patch_type(directive, item)
    if replace:
        return plain, []
    return original, plain


def _find(items: list[Any], key: str, value: Any) -> int:
    """findMapInSliceBasedOnKeyValue: the index of the item whose merge key is value, or -1."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map.")
        if key in item and same(item[key], value):
            return i
    return -1


def _merge_items(original: list[Any], patch: list[Any], key: str, schema: Descriptor | None,
                 options: MergeOptions) -> list[Any]:
    """mergeSliceWithoutSpecialElements: merge the items both have, append the patch's new ones."""
    merged = list(original)
    for item in patch:
        if key not in item:
            raise no_merge_key(item, key)
        i = _find(merged, key, item[key])
        if i >= 0:
            merged[i] = merge_map(merged[i], item, schema, options)
        else:
            merged.append(strip(item) if options.merge_parallel_list else item)
    return merged


def _partition(items: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """partition{Maps,Primitives}ByPresentInList: (items present in by, the others)."""
    present, others = [], []
    for item in items:
        if key:
            if not isinstance(item, dict):
                raise bad_arg_type({}, item)
            if key not in item:
                raise no_merge_key(item, key)
            found = _find(by, key, item[key]) >= 0
        else:
            found = any(same(item, b) for b in by)
        (present if found else others).append(item)
    return present, others


def _index(items: list[Any], value: Any, key: str, is_map: bool) -> int:
    def val(item: Any) -> Any:
        return item.get(key) if is_map and isinstance(item, dict) else item
    target = val(value)
    for i, item in enumerate(items):
        if same(val(item), target):
            return i
    return -1


def _normalize_slice_order(items: list[Any], order: list[Any], key: str, is_map: bool) -> list[Any]:
    """normalizeSliceOrder: items sorted by their place in order; deletions last."""
    to_delete: list[Any] = []
    if is_map:
        for item in items + order:
            if not isinstance(item, dict):
                raise bad_arg_type({}, item)
            if key not in item:
                raise no_merge_key(item, key)
        to_delete = [i for i in items if i.get(DIRECTIVE) == DELETE]
        items = [i for i in items if i.get(DIRECTIVE) != DELETE]

    def place(item: Any) -> int:
        i = _index(order, item, key, is_map)
        return i if i >= 0 else len(order)
    return sorted(items, key=place) + to_delete


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], key: str, is_map: bool) -> list[Any]:
    """mergeSortedSlice: interleave server-only items (left) with the patch's (right),
    each keeping its own order, a left item going first when the live order says so."""
    out = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], key, is_map)
            ri = _index(server_order, right[j], key, is_map)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def normalize_element_order(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
                            server_order: list[Any], key: str, is_map: bool) -> list[Any]:
    """normalizeElementOrder: the patch's items in the patch's order, the server-only ones
    in the live order, merged."""
    patch_items = _normalize_slice_order(patch_items, patch_order, key, is_map)
    server_only = _normalize_slice_order(server_only, server_order, key, is_map)
    return _merge_sorted(server_only, patch_items, server_order, key, is_map)


def _validate_with_order(patch_list: list[Any], order: list[Any], key: str) -> None:
    """validatePatchWithSetOrderList: the patch's items appear in the order list, in its order."""
    if not order or not patch_list:
        return
    items = [i for i in patch_list if not (key and isinstance(i, dict) and i.get(DIRECTIVE) == DELETE)]
    p = o = 0
    while p < len(items) and o < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if key:
            for item in (items[p], order[o]):
                if not isinstance(item, dict):
                    raise bad_arg_type({}, item)
                if key not in item:
                    raise no_merge_key(item, key)
            equal = same(items[p][key], order[o][key])
        else:
            equal = same(items[p], order[o])
        if equal:
            p += 1
        o += 1
    if p < len(items):
        raise PatchError(f"The order in patch list:\n{errors.go_format(patch_list)}\n doesn't match "
                         f"{SET_ELEMENT_ORDER} list:\n{errors.go_format(order)}\n")


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], schema: Descriptor | None,
                         options: MergeOptions) -> None:
    """mergePatchIntoOriginal: each ``$setElementOrder/<list>`` with its list, merged and ordered
    ($setElementOrder first, then the patch's order, then the live order)."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not options.merge_parallel_list:
            if directive in original and original[directive] != order:
                raise PatchError(errors.ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST)
            original.setdefault(directive, order)
        order = _as_list(order)
        key = _extract_key(directive, SET_ELEMENT_ORDER)
        in_original, in_patch = key in original, key in patch
        original_list = _as_list(original[key]) if in_original else []
        patch_list = _as_list(patch[key]) if in_patch else []
        meta = patch_meta(schema, key)
        _validate_with_order(patch_list, order, meta.merge_key)
        if not in_original and not in_patch:
            continue
        if not in_patch:
            merged = original_list
        elif not in_original:
            merged = strip(patch_list) if options.merge_parallel_list else patch_list
        else:
            merged = _merge_list_field(original_list, patch_list, meta, False, options)
        patch_items, server_only = _partition(merged, order, meta.merge_key)
        kind = element_kind(original_list, patch_list)
        original[key] = merged if kind is None else normalize_element_order(
            patch_items, server_only, order, original_list, meta.merge_key, kind == "map")
        patch.pop(key, None)
