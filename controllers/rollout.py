"""The Deployment controller's decisions, as pure functions over (Deployment,
its ReplicaSets, their Pods, now): no API, no informers, no clock of its own.

This is Kubernetes' pkg/controller/deployment (sync.go, rolling.go, recreate.go,
progress.go) and its util package, kept close to the original in structure and
names so the two can be read side by side. The Go code writes to the API as it
decides (create the new ReplicaSet, then scale it, then update the status); here
the same walk happens on working copies, and every write is recorded in a Plan
that DeploymentController executes afterwards, in order. A sync makes at most a
handful of writes, and a failed one simply ends the sync: the next one decides
again from the (by then newer) cache, which is what Kubernetes does too.

The vocabulary:
- the *new* ReplicaSet is the one whose Pod template equals the Deployment's
  (ignoring the pod-template-hash label); every other owned ReplicaSet is *old*;
- an *active* ReplicaSet has spec.replicas > 0;
- maxSurge / maxUnavailable resolve against spec.replicas (surge rounded up,
  unavailable down; if both come to 0, unavailable is 1), so a rolling update
  keeps total Pods ≤ replicas + maxSurge and available Pods ≥ replicas − maxUnavailable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.objects import controller_ref, is_deleting
from apimachinery.selectors import LabelSelector
from controllers.hashing import POD_TEMPLATE_HASH_LABEL, template_hash
from protos import apps_pb2, core_pb2, meta_pb2

# ------------------------------------------------------------------ names

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

# Deployment annotations that are not copied onto its ReplicaSets (they are the
# controller's own bookkeeping, or kubectl's).
ANNOTATIONS_TO_SKIP = frozenset({LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
                                 DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, ROLLBACK_TO_ANNOTATION})
# Kubernetes caps the revision-history annotation at this many characters.
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
# Progressing reasons
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
# Available reasons
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"

SCALING_REPLICA_SET = "ScalingReplicaSet"
ROLLING_UPDATE, RECREATE = "RollingUpdate", "Recreate"
MAX_INT32 = 2**31 - 1

M = TypeVar("M", bound=Message)


def copy(msg: M) -> M:
    out = type(msg)()
    out.CopyFrom(msg)
    return out


# ------------------------------------------------------------- small helpers


def deployment_replicas(d: apps_pb2.Deployment) -> int:
    """spec.replicas; the apiserver defaults it to 1 when absent."""
    return d.spec.replicas if d.spec.HasField("replicas") else 1


def rs_replicas(rs: apps_pb2.ReplicaSet | None) -> int:
    if rs is None:
        return 0
    return rs.spec.replicas if rs.spec.HasField("replicas") else 1


def is_rolling_update(d: apps_pb2.Deployment) -> bool:
    return d.spec.strategy.type in ("", ROLLING_UPDATE)


def has_progress_deadline(d: apps_pb2.Deployment) -> bool:
    return d.spec.HasField("progress_deadline_seconds") and d.spec.progress_deadline_seconds != MAX_INT32


def has_revision_history_limit(d: apps_pb2.Deployment) -> bool:
    return d.spec.HasField("revision_history_limit") and d.spec.revision_history_limit != MAX_INT32


def new_controller_ref(d: apps_pb2.Deployment) -> meta_pb2.OwnerReference:
    return meta_pb2.OwnerReference(api_version="apps/v1", kind="Deployment", name=d.metadata.name,
                                   uid=d.metadata.uid, controller=True, block_owner_deletion=True)


def creation_key(rs: apps_pb2.ReplicaSet) -> tuple[int, int, str]:
    """ReplicaSetsByCreationTimestamp: oldest first, ties broken by name."""
    ts = rs.metadata.creation_timestamp
    return (ts.seconds, ts.nanos, rs.metadata.name)


def by_creation(rss: Iterable[apps_pb2.ReplicaSet]) -> list[apps_pb2.ReplicaSet]:
    return sorted(rss, key=creation_key)


def revision(obj: Message) -> int:
    """The revision annotation as a number (0 when absent or not a number)."""
    try:
        return int(obj.metadata.annotations.get(REVISION_ANNOTATION, ""))  # type: ignore[attr-defined]
    except ValueError:
        return 0


def max_revision(rss: Iterable[apps_pb2.ReplicaSet]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def scaled_value(value: meta_pb2.IntOrString, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: 2 → 2; "25%" of 10 → 3 (up) or 2 (down)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return 0
    if kind == "int_val":
        return value.int_val
    text = value.str_val.strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    percent = int(text[:-1])
    return -(-total * percent // 100) if round_up else total * percent // 100


def resolve_fenceposts(max_surge: meta_pb2.IntOrString, max_unavailable: meta_pb2.IntOrString,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) as numbers. Both 0 is not allowed by validation, but
    rounding "25%" of 1 down gives 0: then unavailable is 1, so a rollout can move."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: apps_pb2.Deployment) -> int:
    if not is_rolling_update(d):
        return 0
    rolling = d.spec.strategy.rolling_update
    return resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, deployment_replicas(d))[0]


def max_unavailable(d: apps_pb2.Deployment) -> int:
    replicas = deployment_replicas(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    rolling = d.spec.strategy.rolling_update
    return min(resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, replicas)[1], replicas)


def replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """Sum of spec.replicas (what the ReplicaSets are asked to run)."""
    return sum(rs_replicas(rs) for rs in rss if rs is not None)


def actual_replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """Sum of status.replicas (the Pods that exist)."""
    return sum(rs.status.replicas for rs in rss if rs is not None)


def ready_replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    return sum(rs.status.ready_replicas for rs in rss if rs is not None)


def available_replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """Sum of status.availableReplicas: Pods Ready for at least minReadySeconds,
    which the ReplicaSet controller counts."""
    return sum(rs.status.available_replicas for rs in rss if rs is not None)


def active(rss: Iterable[apps_pb2.ReplicaSet | None]) -> list[apps_pb2.ReplicaSet]:
    """FilterActiveReplicaSets: those asked to run at least one Pod."""
    return [rs for rs in rss if rs is not None and rs_replicas(rs) > 0]


def equal_ignore_hash(a: core_pb2.PodTemplateSpec, b: core_pb2.PodTemplateSpec) -> bool:
    """Are two Pod templates the same, apart from the pod-template-hash label?"""
    a2, b2 = copy(a), copy(b)
    a2.metadata.labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    b2.metadata.labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return a2 == b2


def find_new_replica_set(d: apps_pb2.Deployment,
                         rss: Iterable[apps_pb2.ReplicaSet]) -> apps_pb2.ReplicaSet | None:
    """The ReplicaSet running the Deployment's current template. Should two match
    (possible after upgrades), the oldest wins, deterministically."""
    for rs in by_creation(rss):
        if equal_ignore_hash(rs.spec.template, d.spec.template):
            return rs
    return None


def find_old_replica_sets(d: apps_pb2.Deployment, rss: Sequence[apps_pb2.ReplicaSet]
                          ) -> tuple[list[apps_pb2.ReplicaSet], list[apps_pb2.ReplicaSet]]:
    """(old ReplicaSets with replicas > 0, all old ReplicaSets)."""
    new_rs = find_new_replica_set(d, rss)
    all_old = [rs for rs in rss if rs is not new_rs]
    return [rs for rs in all_old if rs_replicas(rs) != 0], all_old


def find_active_or_latest(new_rs: apps_pb2.ReplicaSet | None,
                          old_rss: Sequence[apps_pb2.ReplicaSet]) -> apps_pb2.ReplicaSet | None:
    """The one ReplicaSet to scale when there is no rollout in progress: the only
    active one, or (none active) the new one, or else the newest old one."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=creation_key, reverse=True)
    actives = active([*newest_first, new_rs])
    if not actives:
        return new_rs if new_rs is not None else newest_first[0]
    if len(actives) == 1:
        return actives[0]
    return None


def annotation_int(rs: apps_pb2.ReplicaSet, key: str) -> int | None:
    try:
        return int(rs.metadata.annotations[key])
    except (KeyError, ValueError):
        return None


def is_saturated(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet | None) -> bool:
    """Does the new ReplicaSet run all the Deployment's replicas, all available?"""
    if rs is None:
        return False
    desired = annotation_int(rs, DESIRED_REPLICAS_ANNOTATION)
    if desired is None:
        return False
    replicas = deployment_replicas(d)
    return rs_replicas(rs) == replicas and desired == replicas and rs.status.available_replicas == replicas


def new_rs_new_replicas(d: apps_pb2.Deployment, all_rss: Sequence[apps_pb2.ReplicaSet | None],
                        new_rs: apps_pb2.ReplicaSet) -> int:
    """How far the new ReplicaSet may grow now: Recreate at once to replicas; a
    rolling update as far as maxSurge allows (total ≤ replicas + maxSurge)."""
    replicas = deployment_replicas(d)
    if not is_rolling_update(d):
        return replicas
    surge = scaled_value(d.spec.strategy.rolling_update.max_surge, replicas, True)
    current = replica_count(all_rss)
    max_total = replicas + surge
    if current >= max_total:
        return rs_replicas(new_rs)  # cannot scale up
    scale_up = min(max_total - current, replicas - rs_replicas(new_rs))
    return rs_replicas(new_rs) + scale_up


def set_replicas_annotations(rs: apps_pb2.ReplicaSet, desired: int, max_replicas: int) -> bool:
    """desired-replicas / max-replicas: the Deployment size a ReplicaSet was last
    scaled for, which proportional scaling needs to compute its share."""
    updated = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(max_replicas))):
        if rs.metadata.annotations.get(key) != value:
            rs.metadata.annotations[key] = value
            updated = True
    return updated


def replicas_annotations_need_update(rs: apps_pb2.ReplicaSet, desired: int, max_replicas: int) -> bool:
    return (rs.metadata.annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired)
            or rs.metadata.annotations.get(MAX_REPLICAS_ANNOTATION) != str(max_replicas))


def copy_deployment_annotations_to_rs(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet) -> bool:
    """Copy the Deployment's own annotations (kubernetes.io/change-cause, ...) onto
    the ReplicaSet, which is how `rollout history` shows a revision's cause."""
    changed = False
    for key, value in d.metadata.annotations.items():
        if key in ANNOTATIONS_TO_SKIP or rs.metadata.annotations.get(key) == value:
            continue
        rs.metadata.annotations[key] = value
        changed = True
    return changed


def set_new_rs_annotations(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet, new_revision: int, exists: bool,
                           limit_chars: int = MAX_REV_HISTORY_LENGTH_IN_CHARS) -> bool:
    """Annotate the new ReplicaSet: copied Deployment annotations, its revision
    (only ever raised: a ReplicaSet that becomes new again, as after a rollback,
    gets max + 1 and remembers its earlier revisions in revision-history), and for
    a ReplicaSet about to be created the replicas annotations."""
    changed = copy_deployment_annotations_to_rs(d, rs)
    annotations = rs.metadata.annotations
    had_revision = REVISION_ANNOTATION in annotations
    old_text = annotations.get(REVISION_ANNOTATION, "")
    try:
        old_revision = int(old_text) if old_text else 0
    except ValueError:
        return False
    if old_revision < new_revision:
        annotations[REVISION_ANNOTATION] = str(new_revision)
        changed = True
    if had_revision and old_revision < new_revision:
        history = annotations.get(REVISION_HISTORY_ANNOTATION, "")
        if not history:
            annotations[REVISION_HISTORY_ANNOTATION] = old_text
        else:
            old_revisions = history.split(",")
            total = len(history) + len(old_text) + 1
            start = 0
            while total > limit_chars and start < len(old_revisions):
                total -= len(old_revisions[start]) + 1
                start += 1
            if total <= limit_chars:
                annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*old_revisions[start:], old_text])
    if not exists and set_replicas_annotations(rs, deployment_replicas(d), deployment_replicas(d) + max_surge(d)):
        changed = True
    return changed


def replica_set_fraction(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment) -> int:
    """How many replicas this ReplicaSet gains (or loses) when the Deployment is
    resized mid-rollout: its share of the new maximum, by the maximum it was sized for."""
    replicas = deployment_replicas(d)
    if replicas == 0:
        return -rs_replicas(rs)
    new_max = replicas + max_surge(d)
    before = annotation_int(rs, MAX_REPLICAS_ANNOTATION)
    if not before:
        desired = annotation_int(rs, DESIRED_REPLICAS_ANNOTATION)
        before = desired if desired is not None else d.status.replicas
    if not before:
        return 0
    new_size = rs_replicas(rs) * new_max / before
    return math.floor(new_size + 0.5) - rs_replicas(rs)  # Go's math.Round for x ≥ 0


def replica_set_proportion(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment, to_add: int, added: int) -> int:
    if rs_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ------------------------------------------------------------------ conditions


def timestamp(now: float) -> Timestamp:
    """Condition times in whole seconds, as Kubernetes' metav1.Time serializes them."""
    return Timestamp(seconds=int(now))


def get_condition(status: apps_pb2.DeploymentStatus, kind: str) -> meta_pb2.Condition | None:
    for cond in status.conditions:
        if cond.type == kind:
            return cond
    return None


def new_condition(kind: str, status: str, reason: str, message: str, now: float) -> meta_pb2.Condition:
    ts = timestamp(now)
    return meta_pb2.Condition(type=kind, status=status, reason=reason, message=message,
                              last_update_time=ts, last_transition_time=ts)


def set_condition(status: apps_pb2.DeploymentStatus, cond: meta_pb2.Condition) -> None:
    """Set a condition unless one of that type with the same status and reason is
    there; lastTransitionTime survives when only the reason changes."""
    current = get_condition(status, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    cond = copy(cond)
    if current is not None and current.status == cond.status:
        cond.last_transition_time.CopyFrom(current.last_transition_time)
    remove_condition(status, cond.type)
    status.conditions.append(cond)


def remove_condition(status: apps_pb2.DeploymentStatus, kind: str) -> None:
    kept = [copy(c) for c in status.conditions if c.type != kind]
    del status.conditions[:]
    status.conditions.extend(kept)


def deployment_complete(d: apps_pb2.Deployment, status: apps_pb2.DeploymentStatus) -> bool:
    """Every replica updated and available, no old ones left, this generation seen."""
    replicas = deployment_replicas(d)
    return (status.updated_replicas == replicas and status.replicas == replicas
            and status.available_replicas == replicas and status.observed_generation >= d.metadata.generation)


def deployment_progressing(d: apps_pb2.Deployment, new: apps_pb2.DeploymentStatus) -> bool:
    """Did anything move since the last status: more updated, fewer old, more ready or available?"""
    old = d.status
    return (new.updated_replicas > old.updated_replicas
            or (new.replicas - new.updated_replicas) < (old.replicas - old.updated_replicas)
            or new.ready_replicas > old.ready_replicas
            or new.available_replicas > old.available_replicas)


def deployment_timed_out(d: apps_pb2.Deployment, new: apps_pb2.DeploymentStatus, now: float) -> bool:
    """No progress for progressDeadlineSeconds since the Progressing condition's lastUpdateTime."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new, PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.reason == TIMED_OUT_REASON:
        return True
    return cond.last_update_time.seconds + d.spec.progress_deadline_seconds < now


def calculate_status(all_rss: Sequence[apps_pb2.ReplicaSet | None], new_rs: apps_pb2.ReplicaSet | None,
                     d: apps_pb2.Deployment, now: float) -> apps_pb2.DeploymentStatus:
    """Counts from the ReplicaSets' status, and the Available condition."""
    available = available_replica_count(all_rss)
    unavailable = max(replica_count(all_rss) - available, 0)
    status = apps_pb2.DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=actual_replica_count(all_rss),
        updated_replicas=actual_replica_count([new_rs]),
        ready_replicas=ready_replica_count(all_rss),
        available_replicas=available,
        unavailable_replicas=unavailable)
    if d.status.HasField("collision_count"):
        status.collision_count = d.status.collision_count
    status.conditions.extend(copy(c) for c in d.status.conditions)
    if available >= deployment_replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE_REASON,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE_REASON,
                                            "Deployment does not have minimum availability.", now))
    return status


def replica_failures(all_rss: Sequence[apps_pb2.ReplicaSet | None],
                     new_rs: apps_pb2.ReplicaSet | None) -> list[meta_pb2.Condition]:
    """ReplicaFailure conditions of the ReplicaSets (the new one's first), as Deployment conditions."""
    def convert(rs: apps_pb2.ReplicaSet) -> list[meta_pb2.Condition]:
        return [meta_pb2.Condition(type=c.type, status=c.status, reason=c.reason, message=c.message,
                                   last_transition_time=c.last_transition_time,
                                   last_update_time=c.last_transition_time)
                for c in rs.status.conditions if c.type == REPLICA_FAILURE]
    if new_rs is not None and (found := convert(new_rs)):
        return found
    return [c for rs in all_rss if rs is not None for c in convert(rs)]


# -------------------------------------------------------------- ownership


def claim_replica_sets(d: apps_pb2.Deployment, candidates: Iterable[apps_pb2.ReplicaSet]
                       ) -> tuple[list[apps_pb2.ReplicaSet], list[apps_pb2.ReplicaSet], list[apps_pb2.ReplicaSet]]:
    """(owned, to adopt, to release) among the ReplicaSets of the Deployment's namespace.

    Owned: controller reference to this Deployment and labels matching its selector.
    Adopt: no controller reference, labels matching, neither side being deleted.
    Release: ours but the labels no longer match (someone relabelled it)."""
    selector = LabelSelector.from_proto(d.spec.selector)
    owned, adopt, release = [], [], []
    for rs in candidates:
        if rs.metadata.namespace != d.metadata.namespace:
            continue
        ref = controller_ref(rs)
        matches = selector.matches(rs.metadata.labels)
        if ref is not None:
            if ref.uid != d.metadata.uid:
                continue
            if matches:
                owned.append(rs)
            elif not is_deleting(d):
                release.append(rs)
            continue
        if matches and not is_deleting(d) and not is_deleting(rs):
            adopt.append(rs)
    return owned, adopt, release


def adopted(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment) -> apps_pb2.ReplicaSet:
    out = copy(rs)
    out.metadata.owner_references.append(new_controller_ref(d))
    return out


def released(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment) -> apps_pb2.ReplicaSet:
    out = copy(rs)
    kept = [copy(r) for r in out.metadata.owner_references if r.uid != d.metadata.uid]
    del out.metadata.owner_references[:]
    out.metadata.owner_references.extend(kept)
    return out


def pod_map(rss: Iterable[apps_pb2.ReplicaSet], pods: Iterable[core_pb2.Pod]) -> dict[str, list[core_pb2.Pod]]:
    """Pods by the uid of the (given) ReplicaSet that controls them."""
    out: dict[str, list[core_pb2.Pod]] = {rs.metadata.uid: [] for rs in rss}
    for pod in pods:
        ref = controller_ref(pod)
        if ref is not None and ref.uid in out:
            out[ref.uid].append(pod)
    return out


def old_pods_running(new_rs: apps_pb2.ReplicaSet | None, old_rss: Sequence[apps_pb2.ReplicaSet],
                     pods_by_rs: Mapping[str, Sequence[core_pb2.Pod]]) -> bool:
    """Recreate waits for this to be False before starting new Pods: no old
    ReplicaSet reports Pods, and no Pod of one is in a non-terminal phase (a Pod
    still terminating counts: its containers may still run)."""
    if actual_replica_count(old_rss) > 0:
        return True
    for uid, pods in pods_by_rs.items():
        if new_rs is not None and uid == new_rs.metadata.uid:
            continue
        if any(p.status.phase not in ("Failed", "Succeeded") for p in pods):
            return True
    return False


# ------------------------------------------------------------------- the plan


@dataclass
class RSWrite:
    """One ReplicaSet write: "create", "update" (spec/metadata) or "delete"."""
    op: str
    rs: apps_pb2.ReplicaSet
    events: list[tuple[str, str, str]] = field(default_factory=list)  # recorded on the Deployment once written


@dataclass
class Plan:
    writes: list[RSWrite] = field(default_factory=list)
    # The Deployment with changed metadata (the revision annotation): an Update.
    deployment_update: apps_pb2.Deployment | None = None
    # The new status, when it differs from the observed one: an UpdateStatus.
    status: apps_pb2.DeploymentStatus | None = None
    # Events about the Deployment not tied to a write.
    events: list[tuple[str, str, str]] = field(default_factory=list)
    # Look again after this many seconds (the progress deadline may pass meanwhile).
    requeue_after: float | None = None
    # Why the sync stopped early and must be retried (e.g. a hash collision).
    error: str | None = None

    def write(self, name: str) -> RSWrite | None:
        return next((w for w in self.writes if w.rs.metadata.name == name), None)


def scaling_message(name: str, old: int, new: int) -> str:
    return f"Scaled {'up' if new > old else 'down'} replica set {name} to {new}"


class _Sync:
    """One syncDeployment, on working copies. Methods mirror the Go functions."""

    def __init__(self, d: apps_pb2.Deployment, rss: Sequence[apps_pb2.ReplicaSet],
                 pods_by_rs: Mapping[str, Sequence[core_pb2.Pod]], now: float,
                 namespace_rss: Mapping[str, apps_pb2.ReplicaSet] | None) -> None:
        self.original = d
        self.d = copy(d)
        self.rss = [copy(rs) for rs in rss]
        self.pods_by_rs = pods_by_rs
        self.now = now
        self.namespace_rss = namespace_rss or {}
        self.plan = Plan()
        self._writes: dict[int, RSWrite] = {}  # id(working rs) -> its write

    # ---------------------------------------------------------------- writes

    def _touch(self, rs: apps_pb2.ReplicaSet, op: str) -> RSWrite:
        write = self._writes.get(id(rs))
        if write is None:
            write = RSWrite(op, rs)
            self._writes[id(rs)] = write
            self.plan.writes.append(write)
        elif op == "delete":
            write.op = "delete"
        return write

    def event(self, rs_write: RSWrite | None, reason: str, message: str, kind: str = "Normal") -> None:
        (rs_write.events if rs_write is not None else self.plan.events).append((kind, reason, message))

    # ------------------------------------------------------------- entry

    def run(self) -> Plan:
        d = self.d
        if not d.spec.selector.match_labels and not d.spec.selector.match_expressions:
            self.event(None, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.",
                       "Warning")
            d.status.observed_generation = max(d.status.observed_generation, d.metadata.generation)
            return self.finish()
        if is_deleting(d):
            self.sync_status_only()
            return self.finish()
        self.check_paused_conditions()
        if d.spec.paused or self.is_scaling_event():
            self.sync()
        elif d.spec.strategy.type == RECREATE:
            self.rollout_recreate()
        else:
            self.rollout_rolling()
        return self.finish()

    def finish(self) -> Plan:
        if self.d.metadata != self.original.metadata:
            update = copy(self.original)
            update.metadata.CopyFrom(self.d.metadata)
            self.plan.deployment_update = update
        if self.d.status != self.original.status:
            self.plan.status = copy(self.d.status)
        return self.plan

    # -------------------------------------------------------- new and old

    def get_all_replica_sets_and_sync_revision(self, create: bool
                                               ) -> tuple[apps_pb2.ReplicaSet | None, list[apps_pb2.ReplicaSet]]:
        _, all_old = find_old_replica_sets(self.d, self.rss)
        new_rs = self.get_new_replica_set(all_old, create)
        return new_rs, all_old

    def get_new_replica_set(self, old_rss: list[apps_pb2.ReplicaSet], create: bool) -> apps_pb2.ReplicaSet | None:
        d = self.d
        existing = find_new_replica_set(d, self.rss)
        new_revision = max_revision(old_rss) + 1
        if existing is not None:
            annotations_updated = set_new_rs_annotations(d, existing, new_revision, exists=True)
            if annotations_updated or existing.spec.min_ready_seconds != d.spec.min_ready_seconds:
                existing.spec.min_ready_seconds = d.spec.min_ready_seconds
                self._touch(existing, "update")
            d.metadata.annotations[REVISION_ANNOTATION] = existing.metadata.annotations.get(REVISION_ANNOTATION, "")
            if has_progress_deadline(d) and get_condition(d.status, PROGRESSING) is None:
                set_condition(d.status, new_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON,
                                                      f'Found new replica set "{existing.metadata.name}"', self.now))
            return existing
        if not create:
            return None

        collision = d.status.collision_count if d.status.HasField("collision_count") else None
        pod_hash = template_hash(d.spec.template, collision)
        template = copy(d.spec.template)
        template.metadata.labels[POD_TEMPLATE_HASH_LABEL] = pod_hash
        selector = copy(d.spec.selector)
        selector.match_labels[POD_TEMPLATE_HASH_LABEL] = pod_hash
        new_rs = apps_pb2.ReplicaSet(
            api_version="apps/v1", kind="ReplicaSet",
            metadata=meta_pb2.ObjectMeta(name=f"{d.metadata.name}-{pod_hash}", namespace=d.metadata.namespace,
                                         owner_references=[new_controller_ref(d)],
                                         labels=dict(template.metadata.labels)),
            spec=apps_pb2.ReplicaSetSpec(replicas=0, min_ready_seconds=d.spec.min_ready_seconds,
                                         selector=selector, template=template))
        count = new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        new_rs.spec.replicas = count
        set_new_rs_annotations(d, new_rs, new_revision, exists=False)

        taken = self.namespace_rss.get(new_rs.metadata.name)
        already_exists = False
        if taken is not None:
            ref = controller_ref(taken)
            if ref is not None and ref.uid == d.metadata.uid and equal_ignore_hash(d.spec.template,
                                                                                  taken.spec.template):
                already_exists = True  # ours, just not claimed yet: use it
                new_rs = copy(taken)
                self.rss.append(new_rs)
            else:
                # Another template already has this name: count the collision, so the
                # next hash differs, and try again on the next sync.
                d.status.collision_count = (collision or 0) + 1
                self.plan.error = (f'hash collision: replica set "{new_rs.metadata.name}" exists with another '
                                   f"template; collisionCount now {d.status.collision_count}")
                return None
        if not already_exists:
            write = self._touch(new_rs, "create")
            if count > 0:
                self.event(write, SCALING_REPLICA_SET, scaling_message(new_rs.metadata.name, 0, count))
            self.rss.append(new_rs)
        d.metadata.annotations[REVISION_ANNOTATION] = str(new_revision)
        if not already_exists and has_progress_deadline(d):
            set_condition(d.status, new_condition(PROGRESSING, "True", NEW_RS_REASON,
                                                  f'Created new replica set "{new_rs.metadata.name}"', self.now))
        return new_rs

    # ------------------------------------------------------------ scaling

    def scale_replica_set_and_record_event(self, rs: apps_pb2.ReplicaSet, new_scale: int) -> bool:
        if rs_replicas(rs) == new_scale:
            return False
        return self.scale_replica_set(rs, new_scale)

    def scale_replica_set(self, rs: apps_pb2.ReplicaSet, new_scale: int) -> bool:
        desired = deployment_replicas(self.d)
        max_replicas = desired + max_surge(self.d)
        size_changes = rs_replicas(rs) != new_scale
        if not size_changes and not replicas_annotations_need_update(rs, desired, max_replicas):
            return False
        old_scale = rs_replicas(rs)
        rs.spec.replicas = new_scale
        set_replicas_annotations(rs, desired, max_replicas)
        write = self._touch(rs, "update")
        if size_changes:
            self.event(write, SCALING_REPLICA_SET, scaling_message(rs.metadata.name, old_scale, new_scale))
        return size_changes

    def is_scaling_event(self) -> bool:
        """Did spec.replicas change (and nothing else)? Seen from the desired-replicas
        annotation of the active ReplicaSets, written whenever they were last scaled."""
        new_rs, old_rss = self.get_all_replica_sets_and_sync_revision(create=False)
        for rs in active([*old_rss, new_rs]):
            desired = annotation_int(rs, DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != deployment_replicas(self.d):
                return True
        return False

    def scale(self, new_rs: apps_pb2.ReplicaSet | None, old_rss: list[apps_pb2.ReplicaSet]) -> None:
        d = self.d
        replicas = deployment_replicas(d)
        target = find_active_or_latest(new_rs, old_rss)
        if target is not None:
            if rs_replicas(target) != replicas:
                self.scale_replica_set_and_record_event(target, replicas)
            return
        if is_saturated(d, new_rs):
            for old in active(old_rss):
                self.scale_replica_set_and_record_event(old, 0)
            return
        if not is_rolling_update(d):
            return
        # A rollout is in progress: spread the change over the active ReplicaSets in
        # proportion to their size, so its progress (the new:old ratio) is kept.
        all_rss = active([*old_rss, new_rs])
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - replica_count(all_rss)
        if to_add > 0:  # bigger first; among equals, newer first when growing
            all_rss.sort(key=lambda rs: creation_key(rs), reverse=True)
            all_rss.sort(key=rs_replicas, reverse=True)
        elif to_add < 0:  # bigger first; among equals, older first when shrinking
            all_rss.sort(key=creation_key)
            all_rss.sort(key=rs_replicas, reverse=True)
        added = 0
        sizes: list[int] = []
        for rs in all_rss:
            if to_add != 0:
                proportion = replica_set_proportion(rs, d, to_add, added)
                sizes.append(rs_replicas(rs) + proportion)
                added += proportion
            else:
                sizes.append(rs_replicas(rs))
        for i, rs in enumerate(all_rss):
            if i == 0 and to_add != 0:  # leftovers go to the biggest
                sizes[0] = max(sizes[0] + to_add - added, 0)
            self.scale_replica_set(rs, sizes[i])

    # ------------------------------------------------------------ strategies

    def sync(self) -> None:
        """Scale only (a paused Deployment, or a replicas change), then status."""
        new_rs, old_rss = self.get_all_replica_sets_and_sync_revision(create=False)
        self.scale(new_rs, old_rss)
        if self.d.spec.paused:
            self.cleanup_deployment(old_rss)
        self.sync_deployment_status([*old_rss, new_rs], new_rs)

    def sync_status_only(self) -> None:
        new_rs, old_rss = self.get_all_replica_sets_and_sync_revision(create=False)
        self.sync_deployment_status([*old_rss, new_rs], new_rs)

    def rollout_rolling(self) -> None:
        new_rs, old_rss = self.get_all_replica_sets_and_sync_revision(create=True)
        if new_rs is None:
            return
        all_rss = [*old_rss, new_rs]
        if self.reconcile_new_replica_set(all_rss, new_rs):
            self.sync_rollout_status(all_rss, new_rs)
            return
        if self.reconcile_old_replica_sets(all_rss, active(old_rss), new_rs):
            self.sync_rollout_status(all_rss, new_rs)
            return
        if deployment_complete(self.d, self.d.status):
            self.cleanup_deployment(old_rss)
        self.sync_rollout_status(all_rss, new_rs)

    def reconcile_new_replica_set(self, all_rss: list[apps_pb2.ReplicaSet], new_rs: apps_pb2.ReplicaSet) -> bool:
        replicas = deployment_replicas(self.d)
        if rs_replicas(new_rs) == replicas:
            return False
        if rs_replicas(new_rs) > replicas:
            return self.scale_replica_set_and_record_event(new_rs, replicas)
        return self.scale_replica_set_and_record_event(new_rs, new_rs_new_replicas(self.d, all_rss, new_rs))

    def reconcile_old_replica_sets(self, all_rss: list[apps_pb2.ReplicaSet], old_rss: list[apps_pb2.ReplicaSet],
                                   new_rs: apps_pb2.ReplicaSet) -> bool:
        """Scale old ReplicaSets down as far as availability allows.

        maxScaledDown = allPods − minAvailable − newRSUnavailable: the new
        ReplicaSet's not-yet-available Pods are counted as if they were going to
        stay unavailable, so scaling down never takes availability below the floor."""
        if replica_count(old_rss) == 0:
            return False
        all_pods = replica_count(all_rss)
        min_available = deployment_replicas(self.d) - max_unavailable(self.d)
        new_unavailable = rs_replicas(new_rs) - new_rs.status.available_replicas
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy_replicas(old_rss, max_scaled_down)
        scaled = self.scale_down_old_replica_sets_for_rolling_update([*old_rss, new_rs], old_rss)
        return cleaned + scaled > 0

    def cleanup_unhealthy_replicas(self, old_rss: list[apps_pb2.ReplicaSet], max_cleanup: int) -> int:
        """Scale away old Pods that are not available anyway (crash-looping, never
        ready): that costs no availability, and they would otherwise block the rollout."""
        total = 0
        for rs in by_creation(old_rss):
            if total >= max_cleanup:
                break
            if rs_replicas(rs) == 0 or rs_replicas(rs) == rs.status.available_replicas:
                continue
            count = min(max_cleanup - total, rs_replicas(rs) - rs.status.available_replicas)
            if count <= 0:
                continue
            self.scale_replica_set_and_record_event(rs, rs_replicas(rs) - count)
            total += count
        return total

    def scale_down_old_replica_sets_for_rolling_update(self, all_rss: list[apps_pb2.ReplicaSet],
                                                       old_rss: list[apps_pb2.ReplicaSet]) -> int:
        min_available = deployment_replicas(self.d) - max_unavailable(self.d)
        available = available_replica_count(all_rss)
        if available <= min_available:
            return 0
        total, target = 0, available - min_available
        for rs in by_creation(old_rss):
            if total >= target:
                break
            if rs_replicas(rs) == 0:
                continue
            count = min(rs_replicas(rs), target - total)
            self.scale_replica_set_and_record_event(rs, rs_replicas(rs) - count)
            total += count
        return total

    def rollout_recreate(self) -> None:
        # No new ReplicaSet yet: it must not start before the old Pods are gone.
        new_rs, old_rss = self.get_all_replica_sets_and_sync_revision(create=False)
        all_rss: list[apps_pb2.ReplicaSet | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in active(old_rss):
            scaled_down |= self.scale_replica_set_and_record_event(rs, 0)
        if scaled_down:
            self.sync_rollout_status(all_rss, new_rs)
            return
        if old_pods_running(new_rs, old_rss, self.pods_by_rs):
            self.sync_rollout_status(all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old_rss = self.get_all_replica_sets_and_sync_revision(create=True)
            if new_rs is None:
                return
            all_rss = [*old_rss, new_rs]
        self.scale_replica_set_and_record_event(new_rs, deployment_replicas(self.d))
        if deployment_complete(self.d, self.d.status):
            self.cleanup_deployment(old_rss)
        self.sync_rollout_status(all_rss, new_rs)

    # ------------------------------------------------------------ history

    def cleanup_deployment(self, old_rss: list[apps_pb2.ReplicaSet]) -> None:
        """Keep revisionHistoryLimit old ReplicaSets (for rollbacks); delete the
        oldest revisions beyond it, but only ones fully scaled down and settled."""
        if not has_revision_history_limit(self.d):
            return
        cleanable = [rs for rs in old_rss if not is_deleting(rs)]
        diff = len(cleanable) - self.d.spec.revision_history_limit
        if diff <= 0:
            return
        cleanable.sort(key=lambda rs: (revision(rs), creation_key(rs)))
        for rs in cleanable[:diff]:
            if (rs.status.replicas != 0 or rs_replicas(rs) != 0
                    or rs.metadata.generation > rs.status.observed_generation):
                continue
            self._touch(rs, "delete")

    # ------------------------------------------------------------- status

    def check_paused_conditions(self) -> None:
        d = self.d
        if not has_progress_deadline(d):
            return
        cond = get_condition(d.status, PROGRESSING)
        if cond is not None and cond.reason == TIMED_OUT_REASON:
            return
        paused_cond = cond is not None and cond.reason == PAUSED_REASON
        if d.spec.paused and not paused_cond:
            set_condition(d.status, new_condition(PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused",
                                                  self.now))
        elif not d.spec.paused and paused_cond:
            set_condition(d.status, new_condition(PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed",
                                                  self.now))

    def sync_deployment_status(self, all_rss: Sequence[apps_pb2.ReplicaSet | None],
                               new_rs: apps_pb2.ReplicaSet | None) -> None:
        self.d.status.CopyFrom(calculate_status(all_rss, new_rs, self.d, self.now))

    def sync_rollout_status(self, all_rss: Sequence[apps_pb2.ReplicaSet | None],
                            new_rs: apps_pb2.ReplicaSet | None) -> None:
        """Status plus the Progressing condition: complete, progressing (lastUpdateTime
        moves on), or timed out after progressDeadlineSeconds without progress."""
        d, now = self.d, self.now
        new_status = calculate_status(all_rss, new_rs, d, now)
        if not has_progress_deadline(d):
            remove_condition(new_status, PROGRESSING)
        current = get_condition(d.status, PROGRESSING)
        complete_before = (new_status.replicas == new_status.updated_replicas and current is not None
                           and current.reason == NEW_RS_AVAILABLE_REASON)
        if has_progress_deadline(d) and not complete_before:
            if deployment_complete(d, new_status):
                msg = (f'ReplicaSet "{new_rs.metadata.name}" has successfully progressed.' if new_rs is not None
                       else f'Deployment "{d.metadata.name}" has successfully progressed.')
                set_condition(new_status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, msg, now))
            elif deployment_progressing(d, new_status):
                msg = (f'ReplicaSet "{new_rs.metadata.name}" is progressing.' if new_rs is not None
                       else f'Deployment "{d.metadata.name}" is progressing.')
                cond = new_condition(PROGRESSING, "True", RS_UPDATED_REASON, msg, now)
                if current is not None:
                    if current.status == "True":
                        cond.last_transition_time.CopyFrom(current.last_transition_time)
                    remove_condition(new_status, PROGRESSING)
                set_condition(new_status, cond)
            elif deployment_timed_out(d, new_status, now):
                msg = (f'ReplicaSet "{new_rs.metadata.name}" has timed out progressing.' if new_rs is not None
                       else f'Deployment "{d.metadata.name}" has timed out progressing.')
                set_condition(new_status, new_condition(PROGRESSING, "False", TIMED_OUT_REASON, msg, now))
        failures = replica_failures(all_rss, new_rs)
        if failures:
            set_condition(new_status, failures[0])
        else:
            remove_condition(new_status, REPLICA_FAILURE)
        if d.status == new_status:
            self.plan.requeue_after = requeue_stuck_after(d, new_status, now)
            return
        d.status.CopyFrom(new_status)


def requeue_stuck_after(d: apps_pb2.Deployment, new_status: apps_pb2.DeploymentStatus, now: float) -> float | None:
    """When to look again at a rollout that made no progress: just after its
    progress deadline would pass (nothing else may wake the controller then)."""
    current = get_condition(d.status, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return None
    if deployment_complete(d, new_status) or current.reason == TIMED_OUT_REASON:
        return None
    after = current.last_update_time.seconds + d.spec.progress_deadline_seconds - now
    return max(after, 0.0) + 1.0


def plan_sync(d: apps_pb2.Deployment, rss: Sequence[apps_pb2.ReplicaSet],
              pods_by_rs: Mapping[str, Sequence[core_pb2.Pod]] | None = None, now: float = 0.0,
              namespace_rss: Mapping[str, apps_pb2.ReplicaSet] | None = None) -> Plan:
    """Decide one sync of a Deployment.

    d: the Deployment as cached; rss: the ReplicaSets it owns (after adoption);
    pods_by_rs: their Pods by ReplicaSet uid (only Recreate looks); now: seconds
    since the epoch; namespace_rss: every ReplicaSet of the namespace by name (to
    tell a hash collision from our own not-yet-claimed ReplicaSet)."""
    return _Sync(d, rss, pods_by_rs or {}, now, namespace_rss).run()


def failed_create_status(d: apps_pb2.Deployment, rs_name: str, error: str, now: float
                         ) -> tuple[apps_pb2.DeploymentStatus | None, str]:
    """The status and Warning message when creating the new ReplicaSet failed."""
    msg = f'Failed to create new replica set "{rs_name}": {error}'
    if not has_progress_deadline(d):
        return None, msg
    status = copy(d.status)
    set_condition(status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE_REASON, msg, now))
    return (status if status != d.status else None), msg
