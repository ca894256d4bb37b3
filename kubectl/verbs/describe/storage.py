"""describe persistentvolume, persistentvolumeclaim and storageclass, as kubectl's
describePersistentVolume, describePersistentVolumeClaim and StorageClassDescriber."""

from __future__ import annotations

from typing import Sequence

from apimachinery.kinds import kind_info
from apimachinery.tables.cells import NONE, UNSET, age, format_labels
from apimachinery.storage_classes import DEFAULT_CLASS_ANNOTATION
from apimachinery.tables.storage import access_modes_text
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter
from kubectl.verbs.describe.common import LEVEL_0, LEVEL_1, LEVEL_2, annotations_multiline, describe_events, \
    labels_multiline
from kubectl.watching import Query, list_objects
from protos import core_pb2, storage_pb2


def _finalizers(meta) -> str:
    return f"[{' '.join(meta.finalizers)}]"  # Go's %v of a []string


def _status(ctx: Context, meta, phase: str) -> str:
    if meta.HasField("deletion_timestamp"):
        return f"Terminating (lasts {age(meta.deletion_timestamp, ctx.now())})"
    return phase


def _node_affinity(pv: core_pb2.PersistentVolume, w: PrefixWriter) -> None:
    w.write(LEVEL_0, "Node Affinity:\t")
    affinity = pv.spec.node_affinity
    if not pv.spec.HasField("node_affinity") or not affinity.HasField("required"):
        w.line(NONE)
        return
    w.line()
    w.write(LEVEL_1, "Required Terms:\t")
    terms = affinity.required.node_selector_terms
    if not terms:
        w.line(NONE)
        return
    w.line()
    for i, term in enumerate(terms):
        w.write(LEVEL_2, f"Term {i}:\t")
        if not term.match_expressions:
            w.line(NONE)
            continue
        for j, req in enumerate(term.match_expressions):
            if j:
                w.write(LEVEL_2, "\t")
            text = f"{req.key} {req.operator.lower()}"
            if req.values:
                text += f" [{', '.join(req.values)}]"
            w.write(LEVEL_0, text + "\n")


def _source(pv: core_pb2.PersistentVolume, w: PrefixWriter) -> None:
    w.write(LEVEL_0, "Source:\n")
    if pv.spec.HasField("host_path"):
        w.write(LEVEL_2, "Type:\tHostPath (bare host directory volume)\n"
                         f"    Path:\t{pv.spec.host_path.path}\n"
                         f"    HostPathType:\t{pv.spec.host_path.type or NONE}\n")
    elif pv.spec.HasField("local"):
        w.write(LEVEL_2, "Type:\tLocalVolume (a persistent volume backed by local storage on a node)\n"
                         f"    Path:\t{pv.spec.local.path}\n")


def describe_persistent_volume(ctx: Context, pv: core_pb2.PersistentVolume,
                               events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec = pv.metadata, pv.spec
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Finalizers:\t{_finalizers(meta)}\n")
    w.write(LEVEL_0, f"StorageClass:\t{spec.storage_class_name}\n")
    w.write(LEVEL_0, f"Status:\t{_status(ctx, meta, pv.status.phase)}\n")
    claim = f"{spec.claim_ref.namespace}/{spec.claim_ref.name}" if spec.HasField("claim_ref") else ""
    w.write(LEVEL_0, f"Claim:\t{claim}\n")
    w.write(LEVEL_0, f"Reclaim Policy:\t{spec.persistent_volume_reclaim_policy}\n")
    w.write(LEVEL_0, f"Access Modes:\t{access_modes_text(spec.access_modes)}\n")
    if spec.volume_mode:
        w.write(LEVEL_0, f"VolumeMode:\t{spec.volume_mode}\n")
    w.write(LEVEL_0, f"Capacity:\t{spec.capacity.get('storage', '0')}\n")
    _node_affinity(pv, w)
    w.write(LEVEL_0, f"Message:\t{pv.status.message}\n")
    _source(pv, w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def _users(ctx: Context, claim: core_pb2.PersistentVolumeClaim) -> list[str]:
    """The Pods of the claim's namespace with a volume of that claim (kubectl's getPodsForPVC)."""
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), claim.metadata.namespace))
    return sorted(pod.metadata.name for pod in pods
                  if any(v.HasField("persistent_volume_claim") and v.persistent_volume_claim.claim_name
                         == claim.metadata.name for v in pod.spec.volumes))


def describe_persistent_volume_claim(ctx: Context, claim: core_pb2.PersistentVolumeClaim,
                                     events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = claim.metadata, claim.spec, claim.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"StorageClass:\t{spec.storage_class_name}\n")
    w.write(LEVEL_0, f"Status:\t{_status(ctx, meta, status.phase)}\n")
    w.write(LEVEL_0, f"Volume:\t{spec.volume_name}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Finalizers:\t{_finalizers(meta)}\n")
    capacity, modes = "", ""
    if spec.volume_name:  # kubectl shows what the bound volume gave, nothing before
        capacity, modes = status.capacity.get("storage", "0"), access_modes_text(status.access_modes)
    w.write(LEVEL_0, f"Capacity:\t{capacity}\n")
    w.write(LEVEL_0, f"Access Modes:\t{modes}\n")
    if spec.volume_mode:
        w.write(LEVEL_0, f"VolumeMode:\t{spec.volume_mode}\n")
    users = _users(ctx, claim)
    w.write(LEVEL_0, "Used By:\t")
    if not users:
        w.line(NONE)
    for i, name in enumerate(users):
        w.write(LEVEL_0, ("\t" if i else "") + name + "\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def describe_storage_class(ctx: Context, sc: storage_pb2.StorageClass,
                           events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta = sc.metadata
    is_default = "Yes" if meta.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true" else "No"
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"IsDefaultClass:\t{is_default}\n")
    w.write(LEVEL_0, f"Annotations:\t{format_labels(meta.annotations)}\n")  # kubectl: labels.FormatLabels, all
    w.write(LEVEL_0, f"Provisioner:\t{sc.provisioner}\n")
    w.write(LEVEL_0, f"Parameters:\t{format_labels(sc.parameters)}\n")
    expansion = UNSET if not sc.HasField("allow_volume_expansion") else str(sc.allow_volume_expansion)
    w.write(LEVEL_0, f"AllowVolumeExpansion:\t{expansion}\n")
    w.write(LEVEL_0, f"MountOptions:\t{NONE}\n")  # pykube's StorageClass has no mountOptions
    if sc.reclaim_policy:
        w.write(LEVEL_0, f"ReclaimPolicy:\t{sc.reclaim_policy}\n")
    if sc.volume_binding_mode:
        w.write(LEVEL_0, f"VolumeBindingMode:\t{sc.volume_binding_mode}\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()
