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

The modules, one per seam of the Go package:
- ``util``: names (annotations, reasons, strategies) and the small pure helpers;
- ``progress``: status, conditions, progress deadlines;
- ``history``: revisions and the annotations copied onto ReplicaSets;
- ``ownership``: which ReplicaSets a Deployment owns, adopts or releases;
- ``sync``: the Plan, and the core of a sync on working copies (sync.go);
- ``rolling`` and ``recreate``: the two strategies;
- ``deployment_sync``: ``plan_sync``, which picks the path of one sync.

What DeploymentController uses is imported here.
"""

from controllers.rollout.deployment_sync import plan_sync
from controllers.rollout.ownership import adopted, claim_replica_sets, pod_map, released
from controllers.rollout.progress import failed_create_status
from controllers.rollout.sync import Plan
from controllers.rollout.util import FAILED_RS_CREATE_REASON, RECREATE, copy

__all__ = ["FAILED_RS_CREATE_REASON", "RECREATE", "Plan", "adopted", "claim_replica_sets", "copy",
           "failed_create_status", "plan_sync", "pod_map", "released"]
