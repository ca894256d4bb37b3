"""The RollingUpdate strategy (Kubernetes' rolling.go): grow the new ReplicaSet
as far as maxSurge allows, shrink the old ones as far as maxUnavailable allows,
and repeat on every sync until the new one runs every replica."""

from __future__ import annotations

from controllers.rollout.progress import deployment_complete
from controllers.rollout.sync import Sync
from controllers.rollout.util import (
    active, available_replica_count, by_creation, deployment_replicas, max_unavailable, new_rs_new_replicas,
    replica_count, rs_replicas,
)
from protos import apps_pb2


class RollingUpdate(Sync):
    """The rolling-update steps of a sync."""

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
