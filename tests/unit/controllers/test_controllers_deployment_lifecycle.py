"""The Deployment controller's decisions (controllers.rollout), part two: scaling,
revision history and rollback, pausing, the progress deadline and conditions, and
ownership (adopt, release). The simulator is in deployment_testlib."""

from __future__ import annotations

import pytest
from deployment_testlib import IMAGE_V2, START, deployment, rolled_out

from apimachinery.objects import controller_ref
from controllers import rollout
from controllers.rollout.progress import get_condition
from controllers.rollout.util import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
)
from protos import apps_pb2


# --------------------------------------------------------------------- scaling


def test_scaling_without_a_rollout_scales_the_one_replica_set():
    sim = rolled_out()
    (name,) = sim.rss
    sim.scale(6)
    sim.sync()
    assert sim.sizes() == {name: 6}
    annotations = sim.rss[name].metadata.annotations
    assert (annotations[DESIRED_REPLICAS_ANNOTATION], annotations[MAX_REPLICAS_ANNOTATION]) == (
        "6", "8")
    assert sim.events[-1] == f"Scaled up replica set {name} to 6"
    sim.settle()
    assert sim.d.status.available_replicas == 6


def test_scaling_mid_rollout_is_proportional():
    # Kubernetes' documented example: 10 replicas, maxSurge 3, maxUnavailable 2,
    # a rollout in progress with 8 old and 5 new, then scaled to 15: the 5 extra
    # replicas split 3 (old) / 2 (new).
    sim = rolled_out(surge=3, unavailable=2, replicas=10)
    old = next(iter(sim.rss))
    sim.change_template(image=IMAGE_V2)
    sim.sync()
    sim.rs_controller()
    sim.sync()
    sim.rs_controller()
    sim.sync()
    new = sim.new_rs().metadata.name
    assert sim.sizes() == {old: 8, new: 5}
    sim.scale(15)
    sim.sync()
    assert sim.sizes() == {old: 11, new: 7}
    assert sum(sim.sizes().values()) == 15 + 3
    for rs in sim.rss.values():
        assert rs.metadata.annotations[DESIRED_REPLICAS_ANNOTATION] == "15"
    sim.scale(5)  # and back down, again in proportion
    sim.sync()
    assert sum(sim.sizes().values()) == 5 + 3
    assert sim.sizes()[old] > sim.sizes()[new]


def test_scale_to_zero_and_back():
    sim = rolled_out()
    (name,) = sim.rss
    sim.scale(0)
    sim.settle()
    assert sim.sizes() == {name: 0}
    assert sim.condition("Available").status == "True"
    sim.scale(3)
    sim.settle()
    assert sim.sizes() == {name: 3}


# ---------------------------------------------------------- history and rollback


def test_history_beyond_the_limit_is_deleted_oldest_first():
    sim = rolled_out(history=2)
    names = [next(iter(sim.rss))]
    for i in range(2, 6):
        sim.change_template(image=f"docker.io/library/multi-worker:{i}.0")
        sim.settle()
        names.append(sim.new_rs().metadata.name)
    # Revisions 1..5 were made; 5 is current, and only two old ones (3, 4) are kept.
    assert sorted(sim.rss) == sorted(names[2:])
    assert {rs.metadata.annotations[REVISION_ANNOTATION] for rs in sim.rss.values()} == {"3", "4", "5"}
    assert sim.sizes()[names[-1]] == 4


def test_history_cleanup_spares_replica_sets_not_settled():
    sim = rolled_out(history=0)
    for i, (status_replicas, generation, observed) in enumerate([(0, 1, 1), (1, 1, 1), (0, 2, 1)], start=1):
        rs = apps_pb2.ReplicaSet()
        rs.metadata.name, rs.metadata.uid = f"web-old{i}", f"uid-old{i}"
        rs.metadata.creation_timestamp.seconds = i
        rs.metadata.generation = generation
        rs.metadata.annotations[REVISION_ANNOTATION] = str(i)
        rs.spec.replicas, rs.status.replicas, rs.status.observed_generation = 0, status_replicas, observed
        rs.spec.template.metadata.labels["app"] = "web"
        rs.spec.template.spec.containers.add(name="main", image=f"old:{i}")
        sim.rss[rs.metadata.name] = rs
    plan = sim.sync()
    assert [w.rs.metadata.name for w in plan.writes if w.op == "delete"] == ["web-old1"]
    # old2 still has a Pod; old3's scale-down is not yet seen by the ReplicaSet controller.


def test_rollback_revives_the_old_replica_set_with_a_new_revision():
    sim = rolled_out()
    v1 = next(iter(sim.rss))
    v1_template = rollout.copy(sim.d.spec.template)
    sim.change_template(image=IMAGE_V2)
    sim.settle()
    v2 = sim.new_rs().metadata.name
    assert sim.d.metadata.annotations[REVISION_ANNOTATION] == "2"
    # `rollout undo`: the client copies revision 1's template (without the hash label) back.
    sim.d.spec.template.CopyFrom(v1_template)
    sim.d.metadata.generation += 1
    plan = sim.sync()
    assert all(w.op != "create" for w in plan.writes)
    assert sim.new_rs().metadata.name == v1
    annotations = sim.rss[v1].metadata.annotations
    assert annotations[REVISION_ANNOTATION] == "3"
    assert annotations[REVISION_HISTORY_ANNOTATION] == "1"
    assert sim.d.metadata.annotations[REVISION_ANNOTATION] == "3"
    sim.settle()
    assert sim.sizes() == {v1: 4, v2: 0}
    assert sim.condition("Progressing").message == f'ReplicaSet "{v1}" has successfully progressed.'


# ---------------------------------------------------------------------- paused


def test_paused_deployment_scales_but_does_not_roll_out():
    sim = rolled_out()
    (name,) = sim.rss
    sim.d.spec.paused = True
    sim.change_template(image=IMAGE_V2)
    sim.settle()
    assert list(sim.rss) == [name]
    progressing = sim.condition("Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "Unknown", "DeploymentPaused", "Deployment is paused")
    sim.scale(5)
    sim.settle()
    assert sim.sizes() == {name: 5}
    sim.d.spec.paused = False  # resume: the template change rolls out now
    sim.now += 10
    sim.sync()
    assert len(sim.rss) == 2
    assert sim.condition("Progressing").reason == "NewReplicaSetCreated"
    sim.settle()
    assert sim.sizes()[sim.new_rs().metadata.name] == 5


# ------------------------------------------------------------- progress deadline


def test_progress_deadline_exceeded_with_an_injected_clock():
    sim = rolled_out(deadline=60)
    sim.change_template(image=IMAGE_V2)
    sim.sync()
    sim.rs_controller()
    created = sim.condition("Progressing")
    assert created.reason == "NewReplicaSetCreated"
    sim.now += 5
    sim.sync()  # an old Pod went (fewer old replicas): progress, lastUpdateTime moves
    sim.rs_controller()
    sim.sync()
    sim.rs_controller()
    progressing = sim.condition("Progressing")
    assert (progressing.status, progressing.reason) == ("True", "ReplicaSetUpdated")
    assert progressing.last_update_time.seconds == int(START) + 5
    assert progressing.last_transition_time == created.last_transition_time  # still True: no transition
    sim.now += 30  # the new Pods never become available
    plan = sim.sync()
    assert plan.status is None and plan.requeue_after == pytest.approx(60 - 30 + 1)
    sim.now += 31
    sim.sync()
    timed_out = sim.condition("Progressing")
    new = sim.new_rs().metadata.name
    assert (timed_out.status, timed_out.reason, timed_out.message) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{new}" has timed out progressing.')
    assert timed_out.last_transition_time.seconds == int(sim.now)
    assert sim.sync().requeue_after is None  # nothing more to wait for
    # Progress after the deadline is reported again.
    sim.pods_ready()
    sim.now += 1
    sim.settle()
    done = sim.condition("Progressing")
    assert (done.status, done.reason) == ("True", "NewReplicaSetAvailable")


def test_available_condition_follows_max_unavailable():
    sim = rolled_out()
    (name,) = sim.rss
    sim.rss[name].status.available_replicas = 3  # one Pod lost: 3 ≥ 4 − 1
    sim.sync()
    assert sim.condition("Available").status == "True"
    assert sim.d.status.unavailable_replicas == 1
    sim.rss[name].status.available_replicas = 2
    sim.sync()
    available = sim.condition("Available")
    assert (available.status, available.reason, available.message) == (
        "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")


def test_replica_failure_is_surfaced():
    sim = rolled_out()
    (name,) = sim.rss
    sim.rss[name].status.conditions.add(type="ReplicaFailure", status="True", reason="FailedCreate",
                                        message='pods "web-x" is forbidden: exceeded quota')
    sim.sync()
    failure = sim.condition("ReplicaFailure")
    assert (failure.status, failure.reason) == ("True", "FailedCreate")
    del sim.rss[name].status.conditions[:]
    sim.sync()
    assert get_condition(sim.d.status, "ReplicaFailure") is None


def test_status_not_rewritten_when_unchanged_and_observed_generation_follows():
    sim = rolled_out()
    sim.d.metadata.generation += 1  # e.g. a field the controller ignores
    plan = sim.sync()
    assert plan.status is not None and plan.status.observed_generation == sim.d.metadata.generation
    assert sim.sync().status is None


# -------------------------------------------------------------------- ownership


def owned_rs(name: str, labels: dict[str, str], owner_uid: str | None) -> apps_pb2.ReplicaSet:
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name, rs.metadata.namespace, rs.metadata.uid = name, "default", f"uid-{name}"
    rs.metadata.labels.update(labels)
    if owner_uid:
        rs.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name="x", uid=owner_uid,
                                         controller=True)
    return rs


def test_claim_adopts_matching_orphans_and_releases_strays():
    d = deployment()
    mine = owned_rs("mine", {"app": "web"}, d.metadata.uid)
    orphan = owned_rs("orphan", {"app": "web", "pod-template-hash": "x"}, None)
    theirs = owned_rs("theirs", {"app": "web"}, "uid-other")
    stray = owned_rs("stray", {"app": "db"}, d.metadata.uid)
    unrelated = owned_rs("unrelated", {"app": "db"}, None)
    owned, adopt, release = rollout.claim_replica_sets(d, [mine, orphan, theirs, stray, unrelated])
    assert [rs.metadata.name for rs in owned] == ["mine"]
    assert [rs.metadata.name for rs in adopt] == ["orphan"]
    assert [rs.metadata.name for rs in release] == ["stray"]
    ref = controller_ref(rollout.adopted(orphan, d))
    assert ref is not None and ref.uid == d.metadata.uid and ref.block_owner_deletion
    assert not rollout.released(stray, d).metadata.owner_references
    d.metadata.deletion_timestamp.seconds = 1  # a Deployment going away adopts nothing
    assert rollout.claim_replica_sets(d, [orphan])[1] == []


def test_adopted_replica_set_with_the_same_template_is_the_new_one():
    d = deployment()
    orphan = rollout.plan_sync(d, [], {}, START, {}).writes[0].rs
    orphan.metadata.uid = "uid-orphan"
    del orphan.metadata.annotations[REVISION_ANNOTATION]
    orphan.status.replicas = orphan.status.available_replicas = 4
    plan = rollout.plan_sync(d, [rollout.adopted(orphan, d)], {}, START, {orphan.metadata.name: orphan})
    assert [w.op for w in plan.writes] == ["update"]
    assert plan.writes[0].rs.metadata.annotations[REVISION_ANNOTATION] == "1"
    assert plan.status.available_replicas == 4


def test_deleting_deployment_only_syncs_status():
    sim = rolled_out()
    sim.change_template(image=IMAGE_V2)
    sim.d.metadata.deletion_timestamp.seconds = int(START)
    plan = sim.sync()
    assert not plan.writes
