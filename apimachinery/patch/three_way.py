"""The patch ``kubectl apply`` computes: strategicpatch.CreateThreeWayMergePatch.

Three documents: ``original``, the manifest last applied (the object's
``kubectl.kubernetes.io/last-applied-configuration`` annotation); ``modified``, the manifest
applied now; ``current``, the live object. The patch is

* the *deletions*: what original had and modified lacks (a field → null, a merge-list item
  → ``{"<key>": ..., "$patch": "delete"}``, a set-list scalar → ``$deleteFromPrimitiveList``),
  and nothing else: a field someone else set, which the manifests never named, stays;
* plus the *delta*: what differs from current to modified, without deletions: changed and
  added fields, changed merge-list items (an item someone else added to a merge list stays),
  whole atomic lists (an item someone else added to an atomic list goes);

with ``$setElementOrder`` for each merge list it touches and ``$retainKeys`` for the unions
(a Deployment's strategy). Applied to current with strategic.apply_strategic, it gives the
object kubectl's client-side apply gives; the apiserver's own apply uses it so that both
agree. (kubectl's ``--overwrite=false`` conflict check is not done: apply always overwrites.)"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.descriptor import Descriptor

from apimachinery.patch.errors import bad_arg_type, go_format, no_merge_key
from apimachinery.patch.strategic import (DELETE, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, MERGE, RETAIN_KEYS,
                                          SET_ELEMENT_ORDER, MergeOptions, PatchMeta, element_kind, kind_of,
                                          merge_map, normalize_element_order, patch_meta, same)


@dataclass(frozen=True)
class DiffOptions:
    set_element_order: bool = False
    ignore_changes_and_additions: bool = False
    ignore_deletions: bool = False
    build_retain_keys_directive: bool = False


def three_way_patch(original: dict[str, Any], modified: dict[str, Any], current: dict[str, Any],
                    descriptor: Descriptor | None) -> dict[str, Any]:
    """CreateThreeWayMergePatch(original, modified, current, overwrite=true)."""
    delta = diff_maps(current, modified, descriptor, DiffOptions(set_element_order=True, ignore_deletions=True))
    deletions = diff_maps(original or {}, modified, descriptor,
                          DiffOptions(set_element_order=True, ignore_changes_and_additions=True))
    # Two patches merged: the directive lists are carried, nulls kept.
    return merge_map(deletions, delta, descriptor, MergeOptions(merge_parallel_list=False,
                                                                ignore_unmatched_nulls=False))


def two_way_patch(original: dict[str, Any], modified: dict[str, Any], descriptor: Descriptor | None) -> dict[str, Any]:
    """CreateTwoWayMergePatch: the patch that turns original into modified."""
    return diff_maps(original, modified, descriptor, DiffOptions(set_element_order=True))


def diff_maps(original: dict[str, Any], modified: dict[str, Any], schema: Descriptor | None,
              options: DiffOptions) -> dict[str, Any]:
    """diffMaps: the (recursive) patch from original to modified."""
    patch: dict[str, Any] = {}
    retain: list[str] = []
    for key, new in modified.items():
        if options.build_retain_keys_directive and new is not None:
            retain.append(key)
        if key not in original:
            if not options.ignore_changes_and_additions:
                patch[key] = new
            continue
        old = original[key]
        if key == DIRECTIVE:
            if not isinstance(old, str) or not isinstance(new, str):
                raise bad_arg_type("", new if isinstance(old, str) else old)
            if old != new:
                patch[key] = new
            continue
        if kind_of(old) != kind_of(new):
            if not options.ignore_changes_and_additions:
                patch[key] = new
            continue
        if isinstance(old, dict):
            meta = patch_meta(schema, key)
            child = diff_maps(old, new, meta.schema, replace(options, build_retain_keys_directive=meta.retain_keys))
            if child:
                patch[key] = child
        elif isinstance(old, list):
            _diff_list_field(key, old, new, patch, patch_meta(schema, key), options)
        elif not options.ignore_changes_and_additions and not same(old, new):
            patch[key] = new
    if not options.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    if retain and (patch or any(v is not None and k not in modified for k, v in original.items())):
        patch[RETAIN_KEYS] = sorted(retain)
    return patch


def _diff_list_field(key: str, old: list[Any], new: list[Any], patch: dict[str, Any], meta: PatchMeta,
                     options: DiffOptions) -> None:
    """handleSliceDiff: merge lists diff item by item, atomic lists are replaced when they differ."""
    if meta.strategy != MERGE:
        if not options.ignore_changes_and_additions and old != new:
            patch[key] = new
        return
    item_options = replace(options, build_retain_keys_directive=meta.retain_keys)
    additions, deletions, order = diff_lists(old, new, meta, item_options)
    if additions:
        patch[key] = additions
    if deletions:
        patch[f"{DELETE_FROM_PRIMITIVE_LIST}/{key}"] = deletions
    if order:
        patch[f"{SET_ELEMENT_ORDER}/{key}"] = order


def diff_lists(original: list[Any], modified: list[Any], meta: PatchMeta,
               options: DiffOptions) -> tuple[list[Any], list[Any], list[Any]]:
    """diffLists: (the patch list, the scalars to delete, the $setElementOrder list)."""
    if not original:
        if not modified or options.ignore_changes_and_additions:
            return [], [], []
        return modified, [], []
    kind = element_kind(original, modified)
    key = meta.merge_key
    if kind == "map":
        changes, deletions = _diff_lists_of_maps(original, modified, meta, options)
        changes = normalize_element_order(changes, [], modified, [], key, True)
        same_order = len(original) == len(modified) and all(
            same(_merge_key_value(o, key), _merge_key_value(m, key)) for o, m in zip(original, modified))
        changes += deletions
        order: list[Any] = []
        if options.set_element_order and (
                (not options.ignore_changes_and_additions and (changes or not same_order))
                or (not options.ignore_deletions and changes)):
            order = [{key: m.get(key)} for m in modified]
        return changes, [], order
    additions = [] if options.ignore_changes_and_additions else [
        m for m in _unique(modified) if not any(same(m, o) for o in original)]
    deletions = [] if options.ignore_deletions else [
        o for o in _unique(original) if not any(same(o, m) for m in modified)]
    order = []
    if options.set_element_order and ((not options.ignore_deletions and deletions)
                                      or (not options.ignore_changes_and_additions and original != modified)):
        order = modified
    return additions, deletions, order


def _unique(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(same(item, seen) for seen in out):
            out.append(item)
    return out


def _merge_key_value(item: Any, key: str) -> Any:
    if not isinstance(item, dict):
        raise bad_arg_type({}, item)
    if key not in item:
        raise no_merge_key(item, key)
    return item[key]


def _diff_lists_of_maps(original: list[Any], modified: list[Any], meta: PatchMeta,
                        options: DiffOptions) -> tuple[list[Any], list[Any]]:
    """diffListsOfMaps: items matched by merge key (as Go prints it), in merge-key order."""
    key = meta.merge_key

    def sort_key(item: Any) -> str:
        return go_format(_merge_key_value(item, key))
    old_items = sorted(original, key=sort_key)
    new_items = sorted(modified, key=sort_key)
    changes: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(old_items) or j < len(new_items):
        old_key = sort_key(old_items[i]) if i < len(old_items) else None
        new_key = sort_key(new_items[j]) if j < len(new_items) else None
        if old_key is not None and new_key is not None and old_key == new_key:
            child = diff_maps(old_items[i], new_items[j], meta.schema, options)
            if child:
                child[key] = new_items[j][key]
                changes.append(child)
            i += 1
            j += 1
        elif old_key is None or (new_key is not None and old_key > new_key):
            if not options.ignore_changes_and_additions:
                changes.append(new_items[j])
            j += 1
        else:
            if not options.ignore_deletions:
                deletions.append({key: old_items[i][key], DIRECTIVE: DELETE})
            i += 1
    return changes, deletions
