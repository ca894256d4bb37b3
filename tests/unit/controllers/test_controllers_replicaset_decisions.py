"""The ReplicaSet controller's pure decisions and its expectations, without processes."""

from __future__ import annotations

from test_controllers_manager_support import NOW, make_pod, make_rs

from controllers.expectations import Expectations
from controllers.replicaset import (
    calculate_status,
    claim_pods,
    deletion_rank,
    plan_replicaset,
    pod_from_template,
    pods_to_delete,
)
from protos import meta_pb2


def rs3(**kw):
    return make_rs("web", 3, uid="rs-uid", **kw)


# ------------------------------------------------------------------ counts

def test_creates_the_shortfall_and_nothing_when_complete():
    rs = rs3()
    assert plan_replicaset(rs, [], True, NOW).create == 3
    one = [make_pod("web-a", owner=rs)]
    assert plan_replicaset(rs, one, True, NOW).create == 2
    three = [make_pod(f"web-{i}", owner=rs) for i in "abc"]
    plan = plan_replicaset(rs, three, True, NOW)
    assert plan.create == 0 and plan.delete == [] and plan.adopt == [] and plan.release == []


def test_deletes_the_surplus():
    rs = make_rs("web", 1, uid="rs-uid")
    pods = [make_pod(f"web-{i}", owner=rs, node="n1", phase="Running", ready=True) for i in "abc"]
    plan = plan_replicaset(rs, pods, True, NOW)
    assert plan.create == 0 and len(plan.delete) == 2


def test_terminating_and_finished_pods_do_not_count():
    rs = rs3()
    pods = [make_pod("web-a", owner=rs, node="n1", phase="Running", ready=True),
            make_pod("web-b", owner=rs, node="n1", phase="Running", deleting=True),
            make_pod("web-c", owner=rs, node="n1", phase="Failed"),
            make_pod("web-d", owner=rs, node="n1", phase="Succeeded")]
    plan = plan_replicaset(rs, pods, True, NOW)
    assert plan.create == 2
    assert plan.status.replicas == 1


def test_pods_of_other_owners_and_namespaces_are_ignored():
    rs = rs3()
    other = make_rs("other", 1, uid="other-uid")
    pods = [make_pod("x", owner=other), make_pod("y", owner=rs, namespace="prod")]
    plan = plan_replicaset(rs, pods, True, NOW)
    assert plan.create == 3 and plan.adopt == [] and plan.release == []


def test_burst_limit_caps_one_round():
    rs = make_rs("web", 1000, uid="rs-uid")
    assert plan_replicaset(rs, [], True, NOW, burst_replicas=500).create == 500


def test_nothing_created_or_deleted_while_expectations_pending_or_rs_deleting():
    rs = rs3()
    assert plan_replicaset(rs, [], False, NOW).create == 0
    deleting = rs3()
    deleting.metadata.deletion_timestamp.seconds = int(NOW)
    plan = plan_replicaset(deleting, [], True, NOW)
    assert plan.create == 0
    surplus = [make_pod(f"web-{i}", owner=rs) for i in "abcde"]
    assert plan_replicaset(rs, surplus, False, NOW).delete == []


# ------------------------------------------------------------------ deletion order

def test_deletion_order_follows_kubernetes():
    rs = rs3()
    unassigned = make_pod("unassigned", owner=rs, node="")
    pending = make_pod("pending", owner=rs, node="n1", phase="Pending")
    unknown = make_pod("unknown", owner=rs, node="n1", phase="Unknown")
    not_ready = make_pod("not-ready", owner=rs, node="n1", phase="Running", ready=False)
    ready_recent = make_pod("ready-recent", owner=rs, node="n1", phase="Running", ready=True, ready_at=NOW - 10)
    ready_old_restarts = make_pod("ready-old-restarts", owner=rs, node="n1", phase="Running", ready=True,
                                  ready_at=NOW - 500, restarts=4)
    ready_old_new = make_pod("ready-old-new", owner=rs, node="n1", phase="Running", ready=True,
                             ready_at=NOW - 500, created=NOW - 600)
    ready_old_old = make_pod("ready-old-old", owner=rs, node="n1", phase="Running", ready=True,
                             ready_at=NOW - 500, created=NOW - 9000)
    expected = [unassigned, pending, unknown, not_ready, ready_recent, ready_old_restarts, ready_old_new,
                ready_old_old]
    shuffled = expected[::-1][3:] + expected[::-1][:3]
    assert [p.metadata.name for p in sorted(shuffled, key=deletion_rank)] == [p.metadata.name for p in expected]
    assert [p.metadata.name for p in pods_to_delete(shuffled, 2)] == ["unassigned", "pending"]


def test_scale_down_deletes_the_least_valuable():
    rs = make_rs("web", 2, uid="rs-uid")
    pods = [make_pod("a", owner=rs, node="n1", phase="Running", ready=True),
            make_pod("b", owner=rs, node="", phase="Pending"),
            make_pod("c", owner=rs, node="n2", phase="Running", ready=False),
            make_pod("d", owner=rs, node="n2", phase="Running", ready=True)]
    plan = plan_replicaset(rs, pods, True, NOW)
    assert [p.metadata.name for p in plan.delete] == ["b", "c"]


# ------------------------------------------------------------------ adoption and release

def test_adopts_matching_orphans_and_counts_them():
    rs = rs3()
    orphans = [make_pod("o1"), make_pod("o2")]
    plan = plan_replicaset(rs, orphans + [make_pod("mismatch", {"app": "db"})], True, NOW)
    assert [p.metadata.name for p in plan.adopt] == ["o1", "o2"]
    assert plan.create == 1
    assert plan.status.replicas == 2


def test_does_not_adopt_terminating_orphans_or_when_rs_deleting():
    rs = rs3()
    assert claim_pods(rs, [make_pod("o", deleting=True)]).adopt == []
    rs.metadata.deletion_timestamp.seconds = int(NOW)
    assert claim_pods(rs, [make_pod("o")]).adopt == []


def test_releases_owned_pods_that_no_longer_match():
    rs = rs3()
    relabeled = make_pod("web-a", {"app": "debug"}, owner=rs)
    plan = plan_replicaset(rs, [relabeled, make_pod("web-b", owner=rs)], True, NOW)
    assert [p.metadata.name for p in plan.release] == ["web-a"]
    assert plan.create == 2  # the released Pod no longer counts


def test_a_pod_with_another_controller_is_never_adopted():
    rs = rs3()
    other = make_rs("other", 1, uid="other-uid")
    assert claim_pods(rs, [make_pod("p", owner=other)]).adopt == []


def test_empty_selector_adopts_nothing():
    rs = rs3()
    rs.spec.selector.Clear()
    assert claim_pods(rs, [make_pod("o")]).adopt == []


def test_non_controller_owner_reference_does_not_block_adoption():
    rs = rs3()
    pod = make_pod("o", refs=[meta_pb2.OwnerReference(api_version="v1", kind="Thing", name="t", uid="t",
                                                      controller=False)])
    assert [p.metadata.name for p in claim_pods(rs, [pod]).adopt] == ["o"]


# ------------------------------------------------------------------ status

def test_status_counts_labels_readiness_and_availability():
    rs = make_rs("web", 4, uid="rs-uid", min_ready_seconds=30, generation=7)
    rs.spec.template.metadata.labels["tier"] = "front"
    pods = [make_pod("a", {"app": "web", "tier": "front"}, owner=rs, node="n1", phase="Running", ready=True,
                     ready_at=NOW - 60),
            make_pod("b", owner=rs, node="n1", phase="Running", ready=True, ready_at=NOW - 10),
            make_pod("c", owner=rs, node="n1", phase="Running", ready=False),
            make_pod("d", owner=rs, node="n1", phase="Running", ready=True, deleting=True)]
    status = calculate_status(rs, [p for p in pods if not p.metadata.HasField("deletion_timestamp")], NOW)
    assert (status.replicas, status.fully_labeled_replicas, status.ready_replicas, status.available_replicas,
            status.observed_generation) == (3, 1, 2, 1, 7)
    plan = plan_replicaset(rs, pods, True, NOW)
    assert plan.status_changed
    assert plan.requeue_after is not None and 20 <= plan.requeue_after <= 20.2  # when "b" becomes available


def test_status_unchanged_means_no_write():
    rs = rs3()
    pods = [make_pod(f"web-{i}", owner=rs) for i in "abc"]
    first = plan_replicaset(rs, pods, True, NOW)
    rs.status.CopyFrom(first.status)
    assert not plan_replicaset(rs, pods, True, NOW).status_changed


# ------------------------------------------------------------------ the template

def test_pod_from_template():
    rs = rs3()
    rs.spec.template.metadata.annotations["note"] = "x"
    pod = pod_from_template(rs)
    assert pod.metadata.generate_name == "web-" and not pod.metadata.name
    assert dict(pod.metadata.labels) == {"app": "web"} and pod.metadata.annotations["note"] == "x"
    [ref] = pod.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion, ref.api_version) == \
        ("ReplicaSet", "web", "rs-uid", True, True, "apps/v1")
    assert pod.spec.containers[0].image == rs.spec.template.spec.containers[0].image


# ------------------------------------------------------------------ expectations

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_expectations_block_until_observed_or_expired():
    clock = Clock()
    exp = Expectations(clock=clock, timeout=300)
    assert exp.satisfied("default/web")
    exp.expect_creations("default/web", 2)
    assert not exp.satisfied("default/web")
    exp.creation_observed("default/web")
    assert not exp.satisfied("default/web") and exp.pending("default/web") == (1, 0)
    exp.creation_observed("default/web")
    assert exp.satisfied("default/web")
    exp.expect_creations("default/web", 5)
    clock.now = 299
    assert not exp.satisfied("default/web") and 0.9 < exp.expires_in("default/web") <= 1.0
    clock.now = 301
    assert exp.satisfied("default/web")


def test_deletion_expectations_count_each_pod_once():
    exp = Expectations()
    exp.expect_deletions("default/web", ["default/a", "default/b"])
    exp.deletion_observed("default/web", "default/a")  # deletionTimestamp set
    exp.deletion_observed("default/web", "default/a")  # and later really gone: not counted twice
    assert not exp.satisfied("default/web")
    exp.deletion_observed("default/web", "default/b")
    assert exp.satisfied("default/web")
    exp.delete("default/web")
    assert exp.pending("default/web") == (0, 0)


def test_a_burst_of_events_never_over_creates():
    """Simulate the race: reconcile runs again and again while the cache lags the
    creates; with expectations, the total created is exactly the shortfall."""
    rs = rs3()
    exp = Expectations()
    key = "default/web"
    cache: list = []  # what the informer shows
    in_flight: list = []  # created on the server, not yet in the cache
    created = 0
    for round_ in range(50):
        plan = plan_replicaset(rs, cache, exp.satisfied(key), NOW)
        if plan.create:
            exp.expect_creations(key, plan.create)
            for _ in range(plan.create):
                created += 1
                in_flight.append(make_pod(f"web-{created}", owner=rs))
        if round_ % 7 == 6 and in_flight:  # the informer delivers one ADDED now and then
            cache.append(in_flight.pop(0))
            exp.creation_observed(key)
    assert created == 3
    # Without expectations the same burst creates far more:
    cache, created = [], 0
    for _ in range(10):
        created += plan_replicaset(rs, cache, True, NOW).create
    assert created == 30
