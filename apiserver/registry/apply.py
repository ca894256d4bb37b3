"""Apply: kubectl's three-way merge, done on the server.

The object remembers the manifest it was last applied from, in the annotation
``kubectl.kubernetes.io/last-applied-configuration``. A new apply compares three
things: that last-applied manifest (original), the new manifest (modified) and the
live object (current). Fields in original but not in modified were removed by the
user and are removed from the object; fields in modified are set; everything else
in current (defaults, fields other clients set, status) is kept.

The merge is exactly kubectl's client-side apply: the strategic merge patch
strategicpatch.CreateThreeWayMergePatch computes (apimachinery/patch/three_way.py),
applied to the live object (apimachinery/patch/strategic.py). So merge lists merge
(a container someone else added to the live pod stays), atomic lists are replaced,
and unions marked retainKeys (a Deployment's strategy) drop the members the manifest
does not give.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from google.protobuf.message import Message

from apimachinery.convert import ConversionError, message_from_dict, to_dict
from apimachinery.kinds import KindInfo, info_of
from apimachinery.names import go_quote
from apimachinery.patch.errors import PatchError
from apimachinery.patch.strategic import apply_strategic
from apimachinery.patch.three_way import three_way_patch
from apiserver import errors
from apiserver.registry.core import Write, copy_message, group_resource, object_key
from apiserver.registry.writes import Writes
from protos import core_pb2

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied_json(manifest: dict[str, Any]) -> str:
    """The annotation value: the manifest as given, without status or the annotation itself."""
    clean = {k: v for k, v in manifest.items() if k != "status"}
    meta = dict(clean.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    clean["metadata"] = meta
    return json.dumps(clean, sort_keys=True, separators=(",", ":"))


class Apply(Writes):
    """The Apply verb (server-side kubectl apply of many objects, all checked before any is written)."""

    def apply(self, objects: Sequence[Message], dry_run: bool = False,
              field_manager: str = "") -> list[tuple[Message, str]]:
        """Create or update each object from its manifest; all are checked before any is written.
        ``field_manager`` (pykubectl's "kubectl") owns the fields it sets, as an Update, the way
        kubectl's client-side apply records "kubectl-client-side-apply"."""
        creating_namespaces = {o.metadata.name for o in objects if isinstance(o, core_pb2.Namespace)}
        planned: list[tuple[Write | None, Message, str]] = []
        try:
            self._plan_apply(objects, creating_namespaces, planned, field_manager or None)
        except BaseException:
            self._abandon([w for w, _, _ in planned])
            raise
        if dry_run:
            self._abandon([w for w, _, _ in planned])
            return [(obj, action) for _, obj, action in planned]
        # Namespaces are written first, so watchers never see an object before its namespace.
        writes = sorted((w for w, _, _ in planned if w is not None), key=lambda w: w.info.kind != "Namespace")
        stored = dict(zip((id(w) for w in writes), self._commit(writes))) if writes else {}
        return [(stored[id(w)] if w is not None else obj, action) for w, obj, action in planned]

    def _plan_apply(self, objects: Sequence[Message], creating_namespaces: set[str],
                    planned: list[tuple[Write | None, Message, str]], manager: str | None = None) -> None:
        """Plan each object's write into planned (so a refusal can abandon those before it)."""
        seen: set[str] = set()
        for obj in objects:
            info = info_of(obj)
            manifest = to_dict(obj)
            namespace = self._namespace_of(info, obj.metadata.namespace)  # type: ignore[attr-defined]
            key = object_key(info, namespace, obj.metadata.name)  # type: ignore[attr-defined]
            if not obj.metadata.name:  # type: ignore[attr-defined]
                raise self._invalid(info, "", ["metadata.name: Required value: name is required for apply"])
            if key in seen:
                raise errors.BadRequest(f"{group_resource(info)} {go_quote(obj.metadata.name)} "  # type: ignore[attr-defined]
                                        "appears twice in one apply")
            seen.add(key)
            annotated = copy_message(obj)
            annotated.metadata.annotations[LAST_APPLIED] = last_applied_json(manifest)  # type: ignore[attr-defined]
            old = self.cache.get(info.kind, key)
            if old is None:
                write = self._prepare_create(annotated, creating_namespaces, manager)
                planned.append((write, write.new, "created"))  # type: ignore[arg-type]
                continue
            self._check_revision(info, obj, old)
            merged = self._merge(info, old, manifest, annotated)
            write = self._prepare_update(merged, old, key, "patch", manager)
            planned.append((write, old if write is None else (write.new or old),
                            "unchanged" if write is None else "configured"))

    def _merge(self, info: KindInfo, current: Message, manifest: dict, annotated: Message) -> Message:
        """Three-way merge of last-applied, the new manifest and the live object."""
        original_text = current.metadata.annotations.get(LAST_APPLIED, "")  # type: ignore[attr-defined]
        original = json.loads(original_text) if original_text else {}
        modified = to_dict(annotated)
        live = to_dict(current)
        live.pop("status", None)
        try:
            merged = apply_strategic(live, three_way_patch(original, modified, live, info.message.DESCRIPTOR),
                                     info.message.DESCRIPTOR)
        except PatchError as err:
            raise self._invalid(info, current.metadata.name, [err.message]) from None  # type: ignore[attr-defined]
        try:
            return message_from_dict(merged, info.message, info.kind)
        except ConversionError as err:
            raise self._invalid(info, current.metadata.name, [str(err)]) from None  # type: ignore[attr-defined]
