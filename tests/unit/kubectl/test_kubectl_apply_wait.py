"""pykubectl apply --wait: apply, then follow each applied Deployment's rollout."""

from __future__ import annotations

import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, copy, settled
from kubectl_testlib import FakeRpcError, Harness, event, run_verb

from kubectl.errors import CliError
from protos import apps_pb2

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


def progress(cluster: ClusterFake, **status: int) -> apps_pb2.Deployment:
    d = copy(cluster.get("Deployment", "web"))
    d.metadata.generation = 1
    d.status.CopyFrom(apps_pb2.DeploymentStatus(observed_generation=1, **status))
    return d


def test_apply_wait_follows_the_rollout_until_available(cluster: ClusterFake) -> None:
    h = Harness(cluster, stdin=MANIFEST)
    cluster.watch_script = [[]]  # filled once the Deployment exists (below)

    original_get = cluster.Get

    def get_then_script(request, timeout=None):  # type: ignore[no-untyped-def]
        if request.kind == "Deployment" and cluster.watch_script == [[]]:
            cluster.get("Deployment", "web").metadata.generation = 1  # as the apiserver sets on create
            almost = progress(cluster, replicas=2, updated_replicas=2, available_replicas=2)
            almost.status.conditions.add(type="Available", status="False", reason="MinimumReplicasUnavailable")
            cluster.watch_script = [[
                event("MODIFIED", progress(cluster, replicas=2, updated_replicas=2, available_replicas=1)),
                event("MODIFIED", almost),
                event("MODIFIED", settled(progress(cluster, replicas=2))),
            ]]
        return original_get(request, timeout)

    cluster.Get = get_then_script  # type: ignore[method-assign]
    assert run_verb(h, "apply", "-f", "-", "--wait", "--timeout", "2m") == 0
    assert h.stdout.splitlines() == [
        "namespace/team-a created",
        "deployment.apps/web created",
        "Waiting for deployment spec update to be observed...",
        'Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...',
        'Waiting for deployment "web" to become available...',
        'deployment "web" successfully rolled out',
    ]


def test_apply_wait_fails_on_progress_deadline(cluster: ClusterFake) -> None:
    h = Harness(cluster, stdin=MANIFEST)
    original_get = cluster.Get

    def get(request, timeout=None):  # type: ignore[no-untyped-def]
        if request.kind == "Deployment" and not cluster.watch_script:
            stuck = progress(cluster, replicas=2, updated_replicas=2)
            stuck.status.conditions.add(type="Progressing", status="False", reason="ProgressDeadlineExceeded")
            cluster.watch_script = [[event("MODIFIED", stuck)]]
        return original_get(request, timeout)

    cluster.Get = get  # type: ignore[method-assign]
    with pytest.raises(CliError, match='^deployment "web" exceeded its progress deadline$'):
        run_verb(h, "apply", "-f", "-", "--wait")


def test_apply_wait_timeout(cluster: ClusterFake) -> None:
    cluster.watch_script = [FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
    with pytest.raises(CliError, match="^timed out waiting for the condition$"):
        run_verb(Harness(cluster, stdin=MANIFEST), "apply", "-f", "-", "--wait", "--timeout=0.01s")


def test_apply_without_wait_or_with_dry_run_does_not_watch(cluster: ClusterFake) -> None:
    assert run_verb(Harness(cluster, stdin=MANIFEST), "apply", "-f", "-") == 0
    assert run_verb(Harness(cluster, stdin=MANIFEST), "apply", "-f", "-", "--wait=false") == 0
    assert run_verb(Harness(cluster, stdin=MANIFEST), "apply", "-f", "-", "--wait", "--dry-run=server") == 0
    assert cluster.requests("Watch") == [] and cluster.requests("Get") == []
