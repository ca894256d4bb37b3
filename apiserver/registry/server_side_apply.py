"""Server-side apply (KEP-555), as Kubernetes' field manager does it with structured-merge-diff.

An apply sends a *configuration*: the fields a manager has an opinion about. The server

1. merges it into the live object (objects field by field, associative lists item by item,
   set lists as sets, everything else replaced: ``merge``);
2. takes the configuration's fields as the manager's Apply set (managed_fields.fields_of);
3. removes what the manager applied last time, no longer applies, and nobody else owns
   (``prune``): deleting a line from a manifest deletes the field;
4. refuses, with 409 Conflict, to change a field another manager owns, unless ``force``:
   then that manager loses it. A field applied with the value it already has is no
   conflict: both managers own it.

The result is written through the registry's update (or create) path: defaults,
validation, admission and compare-and-swap as any write; nothing is written on an error,
nor on a dry run. An apply to the main resource never touches status.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import Message

from apimachinery.convert import ConversionError, message_from_dict, to_dict
from apimachinery.kinds import KindInfo
from apimachinery.names import go_quote
from apiserver import errors
from apiserver.registry.apply import Apply
from apiserver.registry.core import object_key
from apiserver.registry.managed_fields import (APPLY, EMPTY, UPDATE, FieldSet, Managed, ManagerKey, Path,
                                               Shape, compare_dicts, fields_by_json_name, fields_of,
                                               key_element, owned_part, path_string, shape_of,
                                               sorted_paths, value_element)

_MISSING: Any = object()


# ----------------------------------------------------------------------- merge


def merge(live: dict[str, Any], applied: dict[str, Any], message: Any) -> dict[str, Any]:
    """The live object with the applied configuration merged in (structured-merge-diff's
    Merge): the configuration's values win; an explicit null clears a field."""
    out = dict(live)
    fields = fields_by_json_name(message)
    for key, value in applied.items():
        f = fields.get(key)
        merged = _merge_value(live.get(key, _MISSING), value, shape_of(message, f) if f is not None else _LEAF)
        if merged is None:
            out.pop(key, None)
        else:
            out[key] = merged
    return out


_LEAF = Shape("leaf")


def _merge_value(live: Any, applied: Any, shape: Shape) -> Any:
    if live is _MISSING or live is None or applied is None:
        return applied
    kind = shape.kind
    if kind == "struct" and isinstance(live, dict) and isinstance(applied, dict):
        return merge(live, applied, shape.message)
    if kind == "map" and isinstance(live, dict) and isinstance(applied, dict):
        item = Shape("struct", shape.message) if shape.message is not None else _LEAF
        out = dict(live)
        for key, value in applied.items():
            out[key] = _merge_value(live.get(key, _MISSING), value, item)
        return {k: v for k, v in out.items() if v is not None}
    if kind == "maplist" and isinstance(live, list) and isinstance(applied, list):
        return _merge_list(live, applied, lambda item: key_element(item, shape.keys),
                           lambda a, b: merge(a, b, shape.message) if isinstance(a, dict) and isinstance(b, dict) else b)
    if kind == "set" and isinstance(live, list) and isinstance(applied, list):
        return _merge_list(live, applied, value_element, lambda a, b: b)
    return applied


def _merge_list(live: list, applied: list, key: Any, merge_item: Any) -> list:
    """Merge two keyed lists as structured-merge-diff orders them: the items both hold come
    in the applied order, items only the live list holds stay where they were."""
    live_keys, applied_keys = [key(i) for i in live], [key(i) for i in applied]
    live_by, applied_by = dict(zip(live_keys, live)), dict(zip(applied_keys, applied))
    shared = [k for k in applied_keys if k in live_by]
    next_shared = 0
    done: set[str] = set()
    out: list = []
    li = ri = 0
    while li < len(live_keys) or ri < len(applied_keys):
        if li < len(live_keys) and ri < len(applied_keys):
            if live_keys[li] == applied_keys[ri]:
                k = live_keys[li]
                done.add(k)
                out.append(merge_item(live_by[k], applied[ri]))
                li, ri = li + 1, ri + 1
                if next_shared < len(shared) and shared[next_shared] == k:
                    next_shared += 1
                continue
            if (live_keys[li] in applied_by and next_shared < len(shared)
                    and shared[next_shared] != live_keys[li]):
                li += 1  # a shared item, but not the one due now: it comes with the applied order
                continue
        if li < len(live_keys):
            k = live_keys[li]
            if k not in applied_by:
                out.append(live[li])
                li += 1
                continue
            if k in done:
                li += 1
                continue
        if ri < len(applied_keys):
            k = applied_keys[ri]
            done.add(k)
            out.append(merge_item(live_by[k], applied[ri]) if k in live_by else applied[ri])
            ri += 1
            if next_shared < len(shared) and shared[next_shared] == k:
                next_shared += 1
        elif li < len(live_keys):
            li += 1  # already merged
    return out


# ----------------------------------------------------------------------- prune


def prune(obj: dict[str, Any], removed: FieldSet, kept: FieldSet) -> dict[str, Any]:
    """obj without the fields at the removed paths, except what a kept path lies under (an
    item stays while someone owns a field in it). Paths under a removed one go with it."""
    for path in sorted(removed, key=len):
        if any(k[:len(path)] == path for k in kept):
            continue
        _remove(obj, path)
    return obj


def _remove(node: Any, path: Path) -> None:
    for i, element in enumerate(path):
        last = i == len(path) - 1
        if element.startswith("f:") and isinstance(node, dict):
            name = element[2:]
            if name not in node:
                return
            if last:
                del node[name]
                return
            node = node[name]
        elif isinstance(node, list):
            index = _find(node, element)
            if index is None:
                return
            if last:
                del node[index]
                return
            node = node[index]
        else:
            return


def _find(items: list, element: str) -> int | None:
    if element.startswith("v:"):
        return next((i for i, v in enumerate(items) if value_element(v) == element), None)
    if element.startswith("k:"):
        keys = tuple(json.loads(element[2:]))
        return next((i for i, v in enumerate(items) if key_element(v, keys) == element), None)
    return None


# ------------------------------------------------------------------- conflicts


def manager_name(key: ManagerKey) -> str:
    """How Kubernetes names a manager in a conflict: ``"kubectl"`` for an applier,
    ``"kube-controller-manager" using apps/v1`` for an updater."""
    text = go_quote(key.manager)
    if key.subresource:
        text += f" with subresource {go_quote(key.subresource)}"
    if key.operation == UPDATE:
        text += f" using {key.api_version}"
    return text


def conflict_error(conflicts: dict[ManagerKey, FieldSet]) -> errors.ApplyConflict:
    """Kubernetes' message: ``Apply failed with 1 conflict: conflict with "m" using apps/v1:
    .spec.replicas``, or several, a line each, grouped by manager."""
    listed = [(key, path) for key in sorted(conflicts) for path in sorted_paths(conflicts[key])]
    causes = [errors.FieldManagerConflict(path_string(p), f"conflict with {manager_name(k)}") for k, p in listed]
    if len(listed) == 1:
        key, path = listed[0]
        return errors.ApplyConflict(
            f"Apply failed with 1 conflict: conflict with {manager_name(key)}: {path_string(path)}", causes)
    lines = []
    for key in sorted(conflicts):
        lines.append(f"conflicts with {manager_name(key)}:")
        lines.extend(f"- {path_string(p)}" for p in sorted_paths(conflicts[key]))
    return errors.ApplyConflict(f"Apply failed with {len(listed)} conflicts: " + "\n".join(lines), causes)


# ------------------------------------------------------------------- the verb


def _live(old: Message | None) -> dict[str, Any]:
    """The live object as a dict, without status and managedFields ({} when there is none)."""
    if old is None:
        return {}
    live = to_dict(old)
    live.pop("status", None)
    live.get("metadata", {}).pop("managedFields", None)
    return live


class ServerSideApply(Apply):
    """Server-side apply of one object (PATCH with application/apply-patch+yaml)."""

    def server_side_apply(self, kind: str, namespace: str, name: str, applied: dict, manager: str,
                          force: bool = False, dry_run: bool = False) -> tuple[Message, bool]:
        """Apply manager's configuration to the object (creating it when absent); returns the
        object as written (or as it would be, for a dry run) and whether it was created."""
        info = self._info(kind)
        namespace = self._namespace_of(info, namespace)
        self._check_request_name(info, namespace, name)
        if not manager:
            raise errors.Invalid('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                                 "is required for apply patch")
        config = self._configuration(info, namespace, name, applied)
        key = object_key(info, namespace, name)
        old = self.cache.get(info.kind, key)
        live = _live(old)
        descriptor = info.message.DESCRIPTOR
        merged = merge(live, config, descriptor)

        managed = Managed.of(old.metadata) if old is not None else Managed({}, {})  # type: ignore[attr-defined]
        mine = ManagerKey(manager, APPLY, "")
        last = managed.sets.get(mine, EMPTY)
        managed.sets[mine] = fields_of(config, descriptor)
        owned = frozenset().union(*managed.sets.values())
        merged = prune(merged, last - owned, owned)

        change = compare_dicts(owned_part(live), owned_part(merged), descriptor)
        changed, removed = change.changed(), frozenset(change.removed)
        conflicts = {k: fields & changed for k, fields in managed.sets.items() if k != mine and fields & changed}
        if conflicts and not force:
            raise conflict_error(conflicts)
        for k in list(managed.sets):
            if k != mine:
                managed.sets[k] = managed.sets[k] - changed - removed

        obj = self._object(info, merged, name)
        meta = obj.metadata  # type: ignore[attr-defined]
        if old is not None:
            meta.managed_fields.extend(old.metadata.managed_fields)  # type: ignore[attr-defined]
        touched = mine if (changed or removed or managed.sets[mine] != last) else None
        managed.write(meta, touched, info.api_version, self._stamp)
        if old is None:
            write = self._prepare_create(obj, manager="")
        else:
            self._check_revision(info, obj, old)  # a resourceVersion in the configuration is a precondition
            write = self._prepare_update(obj, old, key, "patch", manager="")
        if write is None:
            return old, False  # type: ignore[return-value]
        if dry_run:
            self._abandon([write])
            return write.new, old is None  # type: ignore[return-value]
        return self._commit([write])[0], old is None

    def _configuration(self, info: KindInfo, namespace: str, name: str, applied: Any) -> dict[str, Any]:
        """The applied configuration, checked (its kind, its name and namespace against the
        URL's, its fields against the schema), without status."""
        if not isinstance(applied, dict):
            raise errors.BadRequest("an apply patch must be an object")
        if applied.get("apiVersion") != info.api_version or applied.get("kind") != info.kind:
            raise errors.BadRequest(
                f"invalid object type: {applied.get('apiVersion') or '/'}, Kind={applied.get('kind') or ''}: "
                f"the body of an apply to {info.plural} must have apiVersion {go_quote(info.api_version)} "
                f"and kind {go_quote(info.kind)}")
        meta = applied.get("metadata", {})
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata: expected a mapping")
        if meta.get("name", name) != name:
            raise errors.BadRequest(f"the name of the object ({meta['name']}) does not match the name on the "
                                    f"URL ({name})")
        if info.namespaced and meta.get("namespace", namespace) != namespace:
            raise errors.BadRequest("the namespace of the provided object does not match the namespace sent "
                                    "on the request")
        if meta.get("managedFields") is not None:
            raise errors.BadRequest("metadata.managedFields must be nil")
        config = {k: v for k, v in applied.items() if k != "status"}
        config["metadata"] = {**meta, "name": name, **({"namespace": namespace} if info.namespaced else {})}
        self._object(info, config, name)  # refuse what the schema does not hold, before anything else
        return config

    def _object(self, info: KindInfo, data: dict[str, Any], name: str) -> Message:
        try:
            return message_from_dict(data, info.message, info.kind)
        except ConversionError as err:
            raise errors.BadRequest(f"{info.kind} in version {go_quote(info.api_version.rpartition('/')[2])} "
                                    f"cannot be handled as a {info.kind}: {err}") from None
