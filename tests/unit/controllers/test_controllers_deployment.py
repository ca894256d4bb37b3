"""The Deployment controller's decisions (controllers.rollout), without processes.

A small simulator stands in for the apiserver and the ReplicaSet controller: it
applies each Plan to its objects, then lets the "ReplicaSet controller" make
status.replicas follow spec.replicas (deleting unavailable Pods first, as the real
one does) and, when told, marks every Pod available. Between steps the rollout
invariants are checked: total Pods never above replicas + maxSurge, available
Pods never below replicas − maxUnavailable."""

from __future__ import annotations

import pytest

from apimachinery.objects import controller_ref
from controllers import rollout
from controllers.hashing import POD_TEMPLATE_HASH_LABEL, template_hash
from controllers.rollout.progress import get_condition
from controllers.rollout.util import (
    CHANGE_CAUSE_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    LAST_APPLIED_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    find_new_replica_set,
    max_surge,
    max_unavailable,
    scaled_value,
)
from protos import apps_pb2, core_pb2, meta_pb2

IMAGE_V1 = "docker.io/library/multi-worker:1.0"
IMAGE_V2 = "docker.io/library/multi-worker:2.0"
START = 1_700_000_000.0


def int_or_str(value: int | str) -> meta_pb2.IntOrString:
    return meta_pb2.IntOrString(int_val=value) if isinstance(value, int) else meta_pb2.IntOrString(str_val=value)


def deployment(name: str = "web", replicas: int = 4, image: str = IMAGE_V1, surge: int | str = "25%",
               unavailable: int | str = "25%", strategy: str = "RollingUpdate", history: int = 10,
               deadline: int = 600) -> apps_pb2.Deployment:
    d = apps_pb2.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace, d.metadata.uid = name, "default", f"uid-{name}"
    d.metadata.generation = 1
    d.metadata.resource_version = "1"
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = name
    d.spec.template.metadata.labels["app"] = name
    d.spec.template.spec.containers.add(name="main", image=image)
    d.spec.strategy.type = strategy
    if strategy == "RollingUpdate":
        d.spec.strategy.rolling_update.max_surge.CopyFrom(int_or_str(surge))
        d.spec.strategy.rolling_update.max_unavailable.CopyFrom(int_or_str(unavailable))
    d.spec.revision_history_limit = history
    d.spec.progress_deadline_seconds = deadline
    return d


class Sim:
    """The apiserver plus the ReplicaSet controller, for pure rollout tests."""

    def __init__(self, d: apps_pb2.Deployment) -> None:
        self.d = d
        self.rss: dict[str, apps_pb2.ReplicaSet] = {}
        self.pods: dict[str, list[core_pb2.Pod]] = {}  # by RS uid, for Recreate
        self.now = START
        self.seq = 0
        self.events: list[str] = []
        self.plans: list[rollout.Plan] = []

    # ---------------------------------------------------------------- API side

    def sync(self) -> rollout.Plan:
        plan = rollout.plan_sync(self.d, list(self.rss.values()), self.pods, self.now, dict(self.rss))
        self.plans.append(plan)
        for write in plan.writes:
            name = write.rs.metadata.name
            if write.op == "create":
                assert name not in self.rss, f"{name} created twice"
                rs = rollout.copy(write.rs)
                self.seq += 1
                rs.metadata.uid = f"uid-rs-{self.seq}"
                rs.metadata.creation_timestamp.seconds = int(self.now) + self.seq
                rs.metadata.generation = 1
                self.rss[name] = rs
            elif write.op == "update":
                old = self.rss[name]
                rs = rollout.copy(write.rs)
                rs.status.CopyFrom(old.status)
                if rs.spec != old.spec:
                    rs.metadata.generation = old.metadata.generation + 1
                self.rss[name] = rs
            else:
                del self.rss[name]
            self.events += [message for _, _, message in write.events]
        if plan.deployment_update is not None:
            self.d.metadata.CopyFrom(plan.deployment_update.metadata)
        if plan.status is not None:
            self.d.status.CopyFrom(plan.status)
        self.events += [message for _, _, message in plan.events]
        return plan

    def change_template(self, image: str | None = None, annotations: dict[str, str] | None = None) -> None:
        if image:
            self.d.spec.template.spec.containers[0].image = image
        for key, value in (annotations or {}).items():
            self.d.spec.template.metadata.annotations[key] = value
        self.d.metadata.generation += 1

    def scale(self, replicas: int) -> None:
        self.d.spec.replicas = replicas
        self.d.metadata.generation += 1

    # ------------------------------------------------- ReplicaSet controller side

    def rs_controller(self) -> None:
        """Pods follow spec.replicas at once; new Pods start unavailable, and a
        scale-down deletes unavailable Pods first."""
        for rs in self.rss.values():
            want = rs.spec.replicas
            rs.status.available_replicas = min(rs.status.available_replicas, want)
            rs.status.ready_replicas = min(rs.status.ready_replicas, want)
            rs.status.replicas = want
            rs.status.observed_generation = rs.metadata.generation

    def pods_ready(self, rs_name: str | None = None) -> None:
        for rs in self.rss.values():
            if rs_name is None or rs.metadata.name == rs_name:
                rs.status.ready_replicas = rs.status.available_replicas = rs.status.replicas

    # ------------------------------------------------------------------ views

    def new_rs(self) -> apps_pb2.ReplicaSet:
        found = find_new_replica_set(self.d, self.rss.values())
        assert found is not None
        return found

    def sizes(self) -> dict[str, int]:
        return {name: rs.spec.replicas for name, rs in self.rss.items()}

    def condition(self, kind: str) -> meta_pb2.Condition:
        cond = get_condition(self.d.status, kind)
        assert cond is not None, f"no {kind} condition"
        return cond

    def settle(self, max_steps: int = 60) -> None:
        """Sync, run Pods, make them available, until nothing changes."""
        for _ in range(max_steps):
            self.rs_controller()
            self.pods_ready()
            plan = self.sync()
            if not plan.writes and plan.status is None and plan.deployment_update is None:
                return
        raise AssertionError("did not settle")


def rolled_out(surge: int | str = "25%", unavailable: int | str = "25%", replicas: int = 4, **kw) -> Sim:
    sim = Sim(deployment(replicas=replicas, surge=surge, unavailable=unavailable, **kw))
    sim.settle()
    return sim


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
