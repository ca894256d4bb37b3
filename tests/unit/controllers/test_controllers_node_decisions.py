"""The node lifecycle controller's pure decisions, with an injected clock."""

from __future__ import annotations

from test_controllers_manager_support import NOW, make_pod, ts

from controllers.node_lifecycle import (
    NOT_READY_TAINT,
    UNKNOWN_MESSAGE,
    UNKNOWN_REASON,
    UNREACHABLE_TAINT,
    HeartbeatTracker,
    desired_taints,
    eviction_time,
    heartbeat_of,
    node_decision,
    not_ready_pod,
    pods_to_evict,
    pods_to_force_delete,
    pods_to_mark_not_ready,
    terminating_since,
    unknown_status,
)
from protos import coordination_pb2, core_pb2, meta_pb2

GRACE = 8.0


def node(name: str = "n1", ready: str = "True", heartbeat: float = NOW - 30,
         taints: list[core_pb2.Taint] | None = None) -> core_pb2.Node:
    n = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name))
    for type_, status in (("MemoryPressure", "False"), ("DiskPressure", "False"), ("PIDPressure", "False"),
                          ("Ready", ready)):
        n.status.conditions.add(type=type_, status=status, reason="KubeletReady",
                                last_heartbeat_time=ts(heartbeat), last_transition_time=ts(heartbeat))
    n.spec.taints.extend(taints or [])
    return n


def lease(renew: float) -> coordination_pb2.Lease:
    return coordination_pb2.Lease(metadata=meta_pb2.ObjectMeta(name="n1", namespace="kube-node-lease"),
                                  spec=coordination_pb2.LeaseSpec(renew_time=ts(renew)))


def taint(key: str, effect: str, added: float = NOW) -> core_pb2.Taint:
    return core_pb2.Taint(key=key, effect=effect, time_added=ts(added))


# ------------------------------------------------------------------ staleness

def test_heartbeats_are_timed_by_the_controllers_clock():
    tracker = HeartbeatTracker()
    n = node()
    # First sight: counts as heard from now, whatever the lease says.
    assert tracker.observe("n1", heartbeat_of(n, lease(NOW - 500)), NOW) == NOW
    # Nothing changed: still the first sight.
    assert tracker.observe("n1", heartbeat_of(n, lease(NOW - 500)), NOW + 5) == NOW
    # A renewal (even with a skewed clock on the node) is a heartbeat at our now.
    assert tracker.observe("n1", heartbeat_of(n, lease(NOW - 499)), NOW + 6) == NOW + 6
    # A status post (Ready heartbeat time changes) counts too.
    assert tracker.observe("n1", heartbeat_of(node(heartbeat=NOW), lease(NOW - 499)), NOW + 7) == NOW + 7
    tracker.forget("n1")
    assert tracker.observe("n1", heartbeat_of(n, None), NOW + 20) == NOW + 20


def test_node_goes_unknown_only_after_the_grace_period():
    n = node()
    fresh = node_decision(n, last_heard=NOW - GRACE, now=NOW, grace=GRACE)
    assert not fresh.stale and not fresh.set_unknown and fresh.ready == "True"
    stale = node_decision(n, last_heard=NOW - GRACE - 0.1, now=NOW, grace=GRACE)
    assert stale.stale and stale.set_unknown and stale.newly_not_ready and stale.ready == "Unknown"


def test_unknown_is_written_once():
    n = node()
    n.status.CopyFrom(unknown_status(n, NOW))
    again = node_decision(n, last_heard=NOW - 60, now=NOW + 1, grace=GRACE)
    assert again.stale and not again.set_unknown and not again.newly_not_ready


def test_unknown_status_sets_every_condition_and_keeps_heartbeats():
    n = node(heartbeat=NOW - 30)
    status = unknown_status(n, NOW)
    conditions = {c.type: c for c in status.conditions}
    assert set(conditions) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    for c in conditions.values():
        assert (c.status, c.reason, c.message) == ("Unknown", UNKNOWN_REASON, UNKNOWN_MESSAGE)
        assert c.last_heartbeat_time.seconds == int(NOW - 30)
        assert c.last_transition_time.seconds == int(NOW)
    bare = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name="n9"))
    assert {c.reason for c in unknown_status(bare, NOW).conditions} == {"NodeStatusNeverUpdated"}


# ------------------------------------------------------------------ taints

def test_unknown_node_gets_unreachable_taints_and_keeps_user_taints():
    user = taint("dedicated", "NoSchedule")
    taints = desired_taints([user], "Unknown", NOW)
    assert [(t.key, t.effect) for t in taints] == [("dedicated", "NoSchedule"),
                                                   (UNREACHABLE_TAINT, "NoSchedule"),
                                                   (UNREACHABLE_TAINT, "NoExecute")]
    assert all(t.time_added.seconds == int(NOW) for t in taints[1:])
    assert desired_taints(taints, "Unknown", NOW + 50) is None  # already there: no write, timeAdded kept


def test_recovered_node_loses_lifecycle_taints():
    taints = [taint("dedicated", "NoSchedule"), taint(UNREACHABLE_TAINT, "NoSchedule"),
              taint(UNREACHABLE_TAINT, "NoExecute")]
    assert [t.key for t in desired_taints(taints, "True", NOW)] == ["dedicated"]
    assert desired_taints([taint("dedicated", "NoSchedule")], "True", NOW) is None
    assert desired_taints(taints, None, NOW) is None  # no Ready condition yet: leave as is


def test_lease_fresh_but_ready_still_unknown_keeps_the_taints():
    n = node(ready="Unknown", taints=[taint(UNREACHABLE_TAINT, "NoSchedule"), taint(UNREACHABLE_TAINT, "NoExecute")])
    decision = node_decision(n, last_heard=NOW, now=NOW, grace=GRACE)
    assert decision.ready == "Unknown" and desired_taints(n.spec.taints, decision.ready, NOW) is None


def test_kubelet_reporting_not_ready_gets_not_ready_taints():
    taints = desired_taints([taint(UNREACHABLE_TAINT, "NoExecute")], "False", NOW)
    assert sorted((t.key, t.effect) for t in taints) == [(NOT_READY_TAINT, "NoExecute"),
                                                         (NOT_READY_TAINT, "NoSchedule")]


# ------------------------------------------------------------------ eviction

def test_pods_on_an_unreachable_node_are_evicted_after_the_timeout():
    n = node(ready="Unknown", taints=[taint(UNREACHABLE_TAINT, "NoSchedule", NOW),
                                      taint(UNREACHABLE_TAINT, "NoExecute", NOW)])
    pods = [make_pod("a", node="n1", phase="Running"), make_pod("b", node="n2", phase="Running"),
            make_pod("c", node="n1", phase="Running", deleting=True)]
    assert [p.metadata.name for p in pods_to_evict(n, pods, NOW, eviction_timeout=0)] == ["a"]
    assert pods_to_evict(n, pods, NOW + 29, eviction_timeout=30) == []
    assert [p.metadata.name for p in pods_to_evict(n, pods, NOW + 30, eviction_timeout=30)] == ["a"]


def test_tolerations_delay_or_prevent_eviction():
    taints = [taint(UNREACHABLE_TAINT, "NoExecute", NOW)]
    forever = make_pod("forever")
    forever.spec.tolerations.add(key=UNREACHABLE_TAINT, operator="Exists", effect="NoExecute")
    assert eviction_time(forever, taints, 0) is None
    minute = make_pod("minute")
    minute.spec.tolerations.add(key=UNREACHABLE_TAINT, operator="Exists", effect="NoExecute",
                                toleration_seconds=60)
    assert eviction_time(minute, taints, 0) == NOW + 60
    everything = make_pod("everything")
    everything.spec.tolerations.add(operator="Exists")
    assert eviction_time(everything, taints, 0) is None
    wrong_effect = make_pod("wrong-effect")
    wrong_effect.spec.tolerations.add(key=UNREACHABLE_TAINT, operator="Exists", effect="NoSchedule")
    assert eviction_time(wrong_effect, taints, 5) == NOW + 5
    # A user's NoExecute taint that the Pod does not tolerate evicts at once.
    assert eviction_time(make_pod("p"), [taint("maintenance", "NoExecute", NOW)], 300) == NOW
    assert eviction_time(make_pod("p"), [taint(UNREACHABLE_TAINT, "NoSchedule", NOW)], 0) is None


def test_terminating_pods_are_force_deleted_after_the_delay():
    pod = make_pod("a", node="n1", phase="Running", deleting=True)  # deletionTimestamp NOW, grace 30
    assert terminating_since(pod) == NOW - 30
    assert pods_to_force_delete([pod], NOW - 21, delay=10) == []
    assert pods_to_force_delete([pod], NOW - 20, delay=10) == [pod]
    assert pods_to_force_delete([make_pod("live", node="n1")], NOW + 999, delay=10) == []


def test_ready_pods_on_a_silent_node_are_marked_not_ready():
    pods = [make_pod("a", node="n1", phase="Running", ready=True),
            make_pod("b", node="n1", phase="Running", ready=False),
            make_pod("c", node="n1", phase="Running", ready=True, deleting=True)]
    marked = pods_to_mark_not_ready(pods)
    assert [p.metadata.name for p in marked] == ["a"]
    ready = next(c for c in not_ready_pod(marked[0], NOW).status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.last_transition_time.seconds) == ("False", "NodeNotReady", int(NOW))
