"""The Deployment controller's decisions (controllers.rollout), part one: the
arithmetic of maxSurge/maxUnavailable, the new ReplicaSet, the RollingUpdate and
Recreate strategies. Between steps the rollout invariants are checked: total Pods
never above replicas + maxSurge, available Pods never below replicas − maxUnavailable.
The simulator is in deployment_testlib."""

from __future__ import annotations

import pytest
from deployment_testlib import IMAGE_V2, START, Sim, deployment, int_or_str, rolled_out

from controllers import rollout
from controllers.hashing import POD_TEMPLATE_HASH_LABEL, template_hash
from controllers.rollout.util import (
    CHANGE_CAUSE_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    LAST_APPLIED_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    max_surge,
    max_unavailable,
    scaled_value,
)
from protos import apps_pb2, core_pb2


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("value,total,up,expected", [
    ("25%", 4, True, 1), ("25%", 4, False, 1), ("25%", 10, True, 3), ("25%", 10, False, 2),
    ("25%", 1, True, 1), ("25%", 1, False, 0), (2, 10, True, 2), ("0%", 10, True, 0), ("100%", 3, False, 3)])
def test_scaled_values_round_surge_up_and_unavailable_down(value, total, up, expected):
    assert scaled_value(int_or_str(value), total, up) == expected


def test_fenceposts_never_both_zero():
    d = deployment(replicas=1, surge="0%", unavailable="25%")  # 25% of 1 rounds down to 0
    assert (max_surge(d), max_unavailable(d)) == (0, 1)
    assert max_unavailable(deployment(replicas=0)) == 0
    assert max_surge(deployment(strategy="Recreate")) == 0


# ------------------------------------------------------------ the new ReplicaSet


def test_first_sync_creates_the_new_replica_set():
    d = deployment()
    plan = rollout.plan_sync(d, [], {}, START, {})
    (write,) = plan.writes
    rs = write.rs
    pod_hash = template_hash(d.spec.template, None)
    assert write.op == "create"
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.metadata.namespace == "default"
    assert rs.metadata.labels == {"app": "web", POD_TEMPLATE_HASH_LABEL: pod_hash}
    assert rs.spec.selector.match_labels == {"app": "web", POD_TEMPLATE_HASH_LABEL: pod_hash}
    assert rs.spec.template.metadata.labels == {"app": "web", POD_TEMPLATE_HASH_LABEL: pod_hash}
    assert rs.spec.template.spec == d.spec.template.spec
    assert rs.spec.replicas == 4
    (ref,) = rs.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "apps/v1", "Deployment", "web", "uid-web", True, True)
    assert dict(rs.metadata.annotations) == {REVISION_ANNOTATION: "1",
                                             DESIRED_REPLICAS_ANNOTATION: "4",
                                             MAX_REPLICAS_ANNOTATION: "5"}
    assert write.events == [("Normal", "ScalingReplicaSet", f"Scaled up replica set web-{pod_hash} to 4")]
    assert plan.deployment_update.metadata.annotations[REVISION_ANNOTATION] == "1"
    assert plan.deployment_update.spec == d.spec
    conditions = {c.type: c for c in plan.status.conditions}
    assert (conditions["Progressing"].status, conditions["Progressing"].reason,
            conditions["Progressing"].message) == ("True", "NewReplicaSetCreated",
                                                   f'Created new replica set "web-{pod_hash}"')
    assert (conditions["Available"].status, conditions["Available"].reason) == ("False", "MinimumReplicasUnavailable")
    assert plan.status.observed_generation == 1


def test_deployment_annotations_are_copied_to_the_replica_set_but_not_bookkeeping():
    d = deployment()
    d.metadata.annotations[CHANGE_CAUSE_ANNOTATION] = "kubectl set image"
    d.metadata.annotations[LAST_APPLIED_ANNOTATION] = "{}"
    d.metadata.annotations[REVISION_ANNOTATION] = "7"
    rs = rollout.plan_sync(d, [], {}, START, {}).writes[0].rs
    assert rs.metadata.annotations[CHANGE_CAUSE_ANNOTATION] == "kubectl set image"
    assert LAST_APPLIED_ANNOTATION not in rs.metadata.annotations
    assert rs.metadata.annotations[REVISION_ANNOTATION] == "1"


def test_settled_deployment_is_complete_and_quiet():
    sim = rolled_out()
    (rs,) = sim.rss.values()
    assert rs.spec.replicas == 4 and sim.d.metadata.annotations[REVISION_ANNOTATION] == "1"
    s = sim.d.status
    assert (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas, s.unavailable_replicas) == (
        4, 4, 4, 4, 0)
    available, progressing = sim.condition("Available"), sim.condition("Progressing")
    assert (available.status, available.reason, available.message) == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs.metadata.name}" has successfully progressed.')
    plan = sim.sync()  # nothing to do, nothing to write, nothing to wait for
    assert not plan.writes and plan.status is None and plan.deployment_update is None
    assert plan.requeue_after is None


def test_hash_collision_bumps_collision_count_and_retries_under_another_name():
    d = deployment()
    squatter = apps_pb2.ReplicaSet()
    squatter.metadata.name = f"web-{template_hash(d.spec.template, None)}"
    squatter.metadata.namespace = "default"
    squatter.spec.template.metadata.labels["app"] = "other"
    plan = rollout.plan_sync(d, [], {}, START, {squatter.metadata.name: squatter})
    assert not plan.writes and plan.error and "collision" in plan.error
    assert plan.status.collision_count == 1
    d.status.CopyFrom(plan.status)
    plan = rollout.plan_sync(d, [], {}, START, {squatter.metadata.name: squatter})
    assert plan.writes[0].rs.metadata.name == f"web-{template_hash(d.spec.template, 1)}" != squatter.metadata.name


def test_own_unclaimed_replica_set_with_the_name_is_reused_not_a_collision():
    d = deployment()
    rs = rollout.plan_sync(d, [], {}, START, {}).writes[0].rs
    rs.metadata.uid = "uid-rs"
    plan = rollout.plan_sync(d, [], {}, START, {rs.metadata.name: rs})
    assert plan.error is None and all(w.op != "create" for w in plan.writes)
    assert plan.status.collision_count == 0 and not plan.status.HasField("collision_count")


# --------------------------------------------------------------- rolling update


@pytest.mark.parametrize("surge,unavailable,replicas", [
    ("25%", "25%", 4), (1, 0, 4), (0, 1, 4), ("25%", "25%", 10), (3, 2, 10), ("50%", 0, 3)])
def test_rolling_update_keeps_within_surge_and_unavailability(surge, unavailable, replicas):
    sim = rolled_out(surge, unavailable, replicas)
    old_name = next(iter(sim.rss))
    surge_limit, unavailable_limit = max_surge(sim.d), max_unavailable(sim.d)
    sim.change_template(image=IMAGE_V2)
    steps = 0
    while True:
        steps += 1
        assert steps < 100, f"rollout did not finish: {sim.sizes()}"
        plan = sim.sync()
        total = sum(sim.sizes().values())
        assert total <= replicas + surge_limit, f"step {steps}: {sim.sizes()}"
        sim.rs_controller()
        available = sum(rs.status.available_replicas for rs in sim.rss.values())
        assert available >= replicas - unavailable_limit, f"step {steps}: {sim.sizes()} available {available}"
        if steps % 2 == 0:  # Pods take a sync or two to become available
            sim.pods_ready()
        if not plan.writes and plan.status is None and sim.condition("Progressing").reason == "NewReplicaSetAvailable":
            break
    new = sim.new_rs()
    assert sim.sizes() == {old_name: 0, new.metadata.name: replicas}
    assert new.metadata.annotations[REVISION_ANNOTATION] == "2"
    assert sim.d.metadata.annotations[REVISION_ANNOTATION] == "2"
    assert sim.d.status.updated_replicas == sim.d.status.available_replicas == replicas


def test_rolling_update_steps_25_percent_of_4():
    sim = rolled_out()
    old = next(iter(sim.rss))
    sim.change_template(image=IMAGE_V2)
    # One sync: the new ReplicaSet at 1 (4 + 1 surge = 5 total), and, as the 4 old
    # Pods are all available, the old one down to 3 (4 − 1 unavailable).
    sim.sync()
    new = sim.new_rs().metadata.name
    assert sim.sizes() == {old: 3, new: 1}
    assert sim.events[-2:] == [f"Scaled up replica set {new} to 1", f"Scaled down replica set {old} to 3"]
    assert sim.condition("Progressing").reason == "NewReplicaSetCreated"
    sim.rs_controller()
    sim.sync()  # new grows back to the surge limit
    assert sim.sizes() == {old: 3, new: 2}
    sim.rs_controller()
    sim.sync()  # nothing new available: stuck at the floor
    assert sim.sizes() == {old: 3, new: 2}
    sim.pods_ready(new)
    sim.sync()  # 3 + 2 available, floor 3: two old may go
    assert sim.sizes() == {old: 1, new: 2}
    assert sim.events[-1] == f"Scaled down replica set {old} to 1"
    assert sim.condition("Progressing").reason == "ReplicaSetUpdated"
    assert sim.condition("Progressing").message == f'ReplicaSet "{new}" is progressing.'


def test_unhealthy_old_replicas_are_cleaned_up_first():
    sim = rolled_out()
    old = next(iter(sim.rss))
    sim.rss[old].status.available_replicas = 2  # two crash-looping Pods
    sim.change_template(image=IMAGE_V2)
    sim.sync()
    new = sim.new_rs().metadata.name
    # Availability is already below the floor (2 < 3), yet an unavailable old Pod
    # may go: removing it costs nothing, and keeping it would block the rollout.
    assert sim.sizes() == {old: 3, new: 1}
    sim.rs_controller()
    sim.sync()  # but no available one: the floor holds
    assert sim.sizes() == {old: 3, new: 2}


def test_restart_is_a_template_annotation_change_and_rolls_a_new_replica_set():
    sim = rolled_out()
    old = next(iter(sim.rss))
    sim.change_template(annotations={RESTARTED_AT_ANNOTATION: "2024-05-01T10:00:00Z"})
    sim.settle()
    new = sim.new_rs()
    assert new.metadata.name != old and sim.sizes() == {old: 0, new.metadata.name: 4}
    assert new.spec.template.metadata.annotations[RESTARTED_AT_ANNOTATION] == "2024-05-01T10:00:00Z"


# -------------------------------------------------------------------- Recreate


def running_pod(rs: apps_pb2.ReplicaSet, phase: str = "Running") -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name = f"{rs.metadata.name}-x"
    pod.metadata.owner_references.add(kind="ReplicaSet", name=rs.metadata.name, uid=rs.metadata.uid,
                                       controller=True)
    pod.status.phase = phase
    return pod


def test_recreate_scales_old_to_zero_and_waits_for_their_pods_before_the_new():
    sim = Sim(deployment(strategy="Recreate"))
    sim.settle()
    old = sim.rss[next(iter(sim.rss))]
    sim.change_template(image=IMAGE_V2)
    sim.pods = {old.metadata.uid: [running_pod(old)] * 4}
    sim.sync()
    assert sim.sizes() == {old.metadata.name: 0}  # no new ReplicaSet yet
    assert sim.events[-1] == f"Scaled down replica set {old.metadata.name} to 0"
    sim.rs_controller()
    sim.sync()  # the old Pods are still terminating: wait
    assert list(sim.rss) == [old.metadata.name]
    sim.pods = {old.metadata.uid: [running_pod(old, "Succeeded")]}  # terminal Pods do not count
    sim.sync()
    new = sim.new_rs()
    assert sim.sizes() == {old.metadata.name: 0, new.metadata.name: 4}  # all at once
    assert new.metadata.annotations[MAX_REPLICAS_ANNOTATION] == "4"
    sim.settle()
    assert sim.condition("Progressing").reason == "NewReplicaSetAvailable"


def test_recreate_waits_while_an_old_replica_set_reports_pods():
    sim = Sim(deployment(strategy="Recreate"))
    sim.settle()
    old = next(iter(sim.rss))
    sim.change_template(image=IMAGE_V2)
    sim.sync()
    sim.sync()  # spec is 0 but status.replicas still 4: no new ReplicaSet
    assert list(sim.rss) == [old]
