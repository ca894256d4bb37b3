"""The Recreate strategy (Kubernetes' recreate.go): scale every old ReplicaSet to
zero, wait until none of their Pods runs, then create the new ReplicaSet at full size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controllers.rollout.progress import deployment_complete
from controllers.rollout.sync import Sync
from controllers.rollout.util import active, actual_replica_count, deployment_replicas
from protos import apps_pb2, core_pb2


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


class Recreate(Sync):
    """The recreate steps of a sync."""

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
