"""syncDeployment: which path one sync of a Deployment takes (status only while it
is being deleted, scaling only while paused or resized, else its strategy) and
the Plan it leaves for DeploymentController to execute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from apimachinery.objects import is_deleting
from controllers.rollout.recreate import Recreate
from controllers.rollout.rolling import RollingUpdate
from controllers.rollout.sync import Plan
from controllers.rollout.util import RECREATE, copy
from protos import apps_pb2, core_pb2


class DeploymentSync(RollingUpdate, Recreate):
    """One syncDeployment: run() picks the path and returns the Plan."""

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


def plan_sync(d: apps_pb2.Deployment, rss: Sequence[apps_pb2.ReplicaSet],
              pods_by_rs: Mapping[str, Sequence[core_pb2.Pod]] | None = None, now: float = 0.0,
              namespace_rss: Mapping[str, apps_pb2.ReplicaSet] | None = None) -> Plan:
    """Decide one sync of a Deployment.

    d: the Deployment as cached; rss: the ReplicaSets it owns (after adoption);
    pods_by_rs: their Pods by ReplicaSet uid (only Recreate looks); now: seconds
    since the epoch; namespace_rss: every ReplicaSet of the namespace by name (to
    tell a hash collision from our own not-yet-claimed ReplicaSet)."""
    return DeploymentSync(d, rss, pods_by_rs or {}, now, namespace_rss).run()
