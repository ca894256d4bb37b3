"""The core of one Deployment sync (Kubernetes' sync.go), on working copies: the
Plan of writes it records, getting (or creating) the new ReplicaSet, scaling a
ReplicaSet, proportional scaling when replicas change mid-rollout, cleaning up
old revisions, and the status the strategies end with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from apimachinery.objects import controller_ref, is_deleting, new_controller_ref
from controllers.hashing import POD_TEMPLATE_HASH_LABEL, template_hash
from controllers.rollout.history import max_revision, revision, set_new_rs_annotations
from controllers.rollout.progress import (
    calculate_status, deployment_complete, deployment_progressing, deployment_timed_out, get_condition,
    new_condition, remove_condition, replica_failures, requeue_stuck_after, set_condition,
)
from controllers.rollout.util import (
    DESIRED_REPLICAS_ANNOTATION, FOUND_NEW_RS_REASON, NEW_RS_AVAILABLE_REASON, NEW_RS_REASON, PAUSED_REASON,
    PROGRESSING, REPLICA_FAILURE, RESUMED_REASON, REVISION_ANNOTATION, RS_UPDATED_REASON, SCALING_REPLICA_SET,
    TIMED_OUT_REASON, active, annotation_int, copy, creation_key, deployment_replicas, equal_ignore_hash,
    find_active_or_latest, find_new_replica_set, find_old_replica_sets, has_progress_deadline,
    has_revision_history_limit, is_rolling_update, is_saturated, max_surge,
    new_rs_new_replicas, replica_count, replica_set_proportion, replicas_annotations_need_update, rs_replicas,
    set_replicas_annotations,
)
from protos import apps_pb2, core_pb2, meta_pb2


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


class Sync:
    """One syncDeployment, on working copies; methods mirror the Go functions of
    sync.go. The strategies (RollingUpdate, Recreate) subclass it; DeploymentSync
    (controllers.rollout.deployment_sync) picks which one runs."""

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
