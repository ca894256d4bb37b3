"""pykubectl rollout status/history/undo/restart against the in-memory fake API."""

from __future__ import annotations

import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, copy, deployment, replica_set, settled
from kubectl_testlib import FakeRpcError, Harness, event, run_verb

from kubectl.errors import CliError
from kubectl.verbs.rollout.status import RolloutError, rollout_status
from protos import apps_pb2


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


def at(d: apps_pb2.Deployment, observed: int = 1, replicas: int = 4, updated: int = 4, available: int = 4,
       progressing: str = "", generation: int | None = None) -> apps_pb2.Deployment:
    """A copy of d with this status."""
    new = copy(d)
    if generation is not None:
        new.metadata.generation = generation
    new.status.CopyFrom(apps_pb2.DeploymentStatus(observed_generation=observed, replicas=replicas,
                                                  updated_replicas=updated, available_replicas=available))
    if progressing:
        new.status.conditions.add(type="Progressing", status="False" if progressing.endswith("Exceeded") else "True",
                                  reason=progressing)
    return new


# --------------------------------------------------------------- status lines


@pytest.mark.parametrize("status, line, done", [
    (dict(observed=0), "Waiting for deployment spec update to be observed...", False),
    (dict(updated=1, replicas=4, available=1),
     'Waiting for deployment "web" rollout to finish: 1 out of 4 new replicas have been updated...', False),
    (dict(replicas=6, updated=4, available=4),
     'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...', False),
    (dict(available=3), 'Waiting for deployment "web" rollout to finish: 3 of 4 updated replicas are available...',
     False),
    (dict(), 'deployment "web" successfully rolled out', True),
])
def test_status_lines_are_kubectls(status: dict, line: str, done: bool) -> None:
    state = rollout_status(at(deployment("web"), **status))
    assert (state.message, state.done) == (line, done)


def test_status_progress_deadline_exceeded_is_an_error() -> None:
    with pytest.raises(RolloutError, match='^deployment "web" exceeded its progress deadline$'):
        rollout_status(at(deployment("web"), updated=1, available=0, progressing="ProgressDeadlineExceeded"))


def test_status_is_not_trusted_before_the_spec_is_observed() -> None:
    # Old status says "done", but it describes generation 1; the spec is now generation 2.
    state = rollout_status(at(deployment("web"), observed=1, generation=2, progressing="ProgressDeadlineExceeded"))
    assert state.message == "Waiting for deployment spec update to be observed..." and not state.done


def test_status_revision_pin() -> None:
    with pytest.raises(RolloutError, match=r"desired revision \(3\) is different from the running revision \(1\)"):
        rollout_status(at(deployment("web")), revision=3)


def test_rollout_status_follows_the_watch_until_done(cluster: ClusterFake) -> None:
    d = cluster.add(at(deployment("web"), observed=1, generation=2))
    cluster.watch_script = [[
        event("MODIFIED", at(d, observed=2, generation=2, updated=1, replicas=5, available=3)),
        event("MODIFIED", at(d, observed=2, generation=2, updated=1, replicas=5, available=3)),  # same line: once
        event("BOOKMARK", at(d, observed=2, generation=2, updated=0)),
        event("MODIFIED", at(d, observed=2, generation=2, updated=4, replicas=6, available=3)),
        event("MODIFIED", at(d, observed=2, generation=2, updated=4, replicas=4, available=3)),
        event("MODIFIED", at(d, observed=2, generation=2)),
    ]]
    h = Harness(cluster)
    assert run_verb(h, "rollout", "status", "deployment/web") == 0
    assert h.stdout.splitlines() == [
        "Waiting for deployment spec update to be observed...",
        'Waiting for deployment "web" rollout to finish: 1 out of 4 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...',
        'Waiting for deployment "web" rollout to finish: 3 of 4 updated replicas are available...',
        'deployment "web" successfully rolled out',
    ]
    [watch] = cluster.requests("Watch")
    assert watch.field_selector == "metadata.name=web" and watch.resource_version == d.metadata.resource_version


def test_rollout_status_already_done_does_not_watch(cluster: ClusterFake) -> None:
    cluster.add(settled(deployment("web")))
    h = Harness(cluster)
    assert run_verb(h, "rollout", "status", "deploy", "web") == 0
    assert h.stdout == 'deployment "web" successfully rolled out\n' and cluster.requests("Watch") == []


def test_rollout_status_watch_false_prints_once(cluster: ClusterFake) -> None:
    cluster.add(at(deployment("web"), available=1))
    h = Harness(cluster)
    assert run_verb(h, "rollout", "status", "deployment/web", "--watch=false") == 0
    assert h.stdout == 'Waiting for deployment "web" rollout to finish: 1 of 4 updated replicas are available...\n'
    assert cluster.requests("Watch") == []


def test_rollout_status_deadline_exceeded_during_the_watch(cluster: ClusterFake) -> None:
    d = cluster.add(at(deployment("web"), updated=1, available=1))
    cluster.watch_script = [[event("MODIFIED", at(d, updated=1, available=1, progressing="ProgressDeadlineExceeded"))]]
    h = Harness(cluster)
    with pytest.raises(CliError, match='^deployment "web" exceeded its progress deadline$'):
        run_verb(h, "rollout", "status", "deployment/web")


def test_rollout_status_timeout(cluster: ClusterFake) -> None:
    cluster.add(at(deployment("web"), available=1))
    cluster.watch_script = [FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
    with pytest.raises(CliError, match="^timed out waiting for the condition$"):
        run_verb(Harness(cluster), "rollout", "status", "deployment/web", "--timeout", "0.01s")
    assert cluster.requests("Watch")[0] is not None


def test_rollout_status_deleted_and_missing_and_wrong_kind(cluster: ClusterFake) -> None:
    d = cluster.add(at(deployment("web"), available=1))
    cluster.watch_script = [[event("DELETED", d)]]
    with pytest.raises(CliError, match="^object has been deleted$"):
        run_verb(Harness(cluster), "rollout", "status", "deployment/web")
    with pytest.raises(grpc.RpcError):
        run_verb(Harness(cluster), "rollout", "status", "deployment/nope")
    with pytest.raises(CliError, match="no status viewer has been implemented for ReplicaSet"):
        run_verb(Harness(cluster), "rollout", "status", "rs/web-abc")


def test_rollout_without_subcommand_prints_help(cluster: ClusterFake) -> None:
    h = Harness(cluster)
    assert run_verb(h, "rollout") == 0
    assert "status" in h.stdout and "undo" in h.stdout


# -------------------------------------------------------------------- history


def with_history(cluster: ClusterFake) -> apps_pb2.Deployment:
    """web at revision 3 (nginx:1.27); revisions 1 (1.25) and 2 (1.26) before it."""
    d = cluster.add(settled(deployment("web", image="nginx:1.27", revision=3)))
    cluster.add(replica_set(d, "aaa", 1, 0, image="nginx:1.25", age_seconds=900))
    cluster.add(replica_set(d, "bbb", 2, 0, image="nginx:1.26", age_seconds=600,
                            **{"kubernetes.io/change-cause": "set image 1.26"}))
    cluster.add(replica_set(d, "ccc", 3, 4, age_seconds=300))
    stranger = replica_set(d, "zzz", 9, 1)  # same labels, another owner: not part of the history
    stranger.metadata.owner_references[0].uid = "uid-other"
    cluster.add(stranger)
    return d


def test_rollout_history_table(cluster: ClusterFake) -> None:
    with_history(cluster)
    h = Harness(cluster)
    assert run_verb(h, "rollout", "history", "deployment/web") == 0
    assert h.stdout == (
        "deployment.apps/web \n"
        "REVISION  CHANGE-CAUSE\n"
        "1         <none>\n"
        "2         set image 1.26\n"
        "3         <none>\n"
        "\n"
    )


def test_rollout_history_of_one_revision_shows_its_template(cluster: ClusterFake) -> None:
    with_history(cluster)
    h = Harness(cluster)
    assert run_verb(h, "rollout", "history", "deployment/web", "--revision", "2") == 0
    assert h.stdout == (
        "deployment.apps/web with revision #2\n"
        "Pod Template:\n"
        "  Labels:\tapp=web\n"
        "\tpod-template-hash=bbb\n"
        "  Annotations:\tkubernetes.io/change-cause: set image 1.26\n"
        "  Containers:\n"
        "   web:\n"
        "    Image:\tnginx:1.26\n"
        "    Port:\t80/TCP\n"
        "    Host Port:\t0/TCP\n"
        "    Environment:\t<none>\n"
        "    Mounts:\t<none>\n"
        "  Volumes:\t<none>\n"
        "  Node-Selectors:\t<none>\n"
        "  Tolerations:\t<none>\n"
        "\n"
    )
    with pytest.raises(CliError, match="^unable to find the specified revision$"):
        run_verb(Harness(cluster), "rollout", "history", "deployment/web", "--revision", "7")


def test_rollout_history_without_replica_sets(cluster: ClusterFake) -> None:
    cluster.add(deployment("web"))
    h = Harness(cluster)
    run_verb(h, "rollout", "history", "deploy/web")
    assert h.stdout == "deployment.apps/web \nNo rollout history found.\n"


# ----------------------------------------------------------------------- undo


def test_rollout_undo_goes_to_the_previous_revision(cluster: ClusterFake) -> None:
    d = with_history(cluster)
    d.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    d.metadata.annotations["kubernetes.io/change-cause"] = "set image 1.27"
    h = Harness(cluster)
    assert run_verb(h, "rollout", "undo", "deployment/web") == 0
    assert h.stdout == "deployment.apps/web rolled back\n"
    web = cluster.get("Deployment", "web")
    assert web.spec.template.spec.containers[0].image == "nginx:1.26"
    assert dict(web.spec.template.metadata.labels) == {"app": "web"}  # no pod-template-hash
    # kubectl's annotation rule: the Deployment keeps its own (revision, last-applied), takes the RS's others.
    assert dict(web.metadata.annotations) == {
        "deployment.kubernetes.io/revision": "3",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "kubernetes.io/change-cause": "set image 1.26",
    }
    assert web.metadata.generation == 2  # a spec change


def test_rollout_undo_to_a_revision_and_skip_and_unknown(cluster: ClusterFake) -> None:
    with_history(cluster)
    h = Harness(cluster)
    assert run_verb(h, "rollout", "undo", "deployment/web", "--to-revision", "1") == 0
    assert cluster.get("Deployment", "web").spec.template.spec.containers[0].image == "nginx:1.25"
    again = Harness(cluster)
    assert run_verb(again, "rollout", "undo", "deployment/web", "--to-revision=1") == 0
    assert again.stdout == "deployment.apps/web skipped rollback (current template already matches revision 1)\n"
    with pytest.raises(CliError, match="^unable to find specified revision 5 in history$"):
        run_verb(Harness(cluster), "rollout", "undo", "deployment/web", "--to-revision", "5")


def test_rollout_undo_retries_on_conflict_and_refuses_paused(cluster: ClusterFake) -> None:
    d = with_history(cluster)
    cluster.conflicts = 1
    assert run_verb(Harness(cluster), "rollout", "undo", "deploy/web") == 0
    assert len(cluster.requests("Update")) == 2
    paused = cluster.get("Deployment", "web")
    paused.spec.paused = True
    with pytest.raises(CliError, match="cannot rollback a paused deployment"):
        run_verb(Harness(cluster), "rollout", "undo", "deploy/web")
    assert d.metadata.name == "web"


def test_rollout_undo_without_history(cluster: ClusterFake) -> None:
    d = cluster.add(deployment("web"))
    cluster.add(replica_set(d, "aaa", 1, 4))
    with pytest.raises(CliError, match='^no rollout history found for deployment "web"$'):
        run_verb(Harness(cluster), "rollout", "undo", "deploy/web")


# -------------------------------------------------------------------- restart


def test_rollout_restart_stamps_the_template(cluster: ClusterFake) -> None:
    cluster.add(deployment("web"))
    h = Harness(cluster)
    assert run_verb(h, "rollout", "restart", "deployment/web") == 0
    assert h.stdout == "deployment.apps/web restarted\n"
    annotations = cluster.get("Deployment", "web").spec.template.metadata.annotations
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "2024-05-01T12:00:00Z"  # the harness's NOW
    with pytest.raises(CliError, match="within the past second"):
        run_verb(Harness(cluster), "rollout", "restart", "deployment/web")


def test_rollout_restart_paused_and_wrong_kind(cluster: ClusterFake) -> None:
    d = deployment("web")
    d.spec.paused = True
    cluster.add(d)
    with pytest.raises(CliError, match=r"^can't restart paused deployment \(run rollout resume first\)$"):
        run_verb(Harness(cluster), "rollout", "restart", "deployment/web")
    with pytest.raises(CliError, match="restarting is not supported"):
        run_verb(Harness(cluster), "rollout", "restart", "rs/web-abc")
