"""The DaemonSet controller's pure decisions: placement, create/delete, rolling update, status."""

from __future__ import annotations

from test_controllers_manager_support import IMAGE, NOW, make_pod, owner_ref

from controllers.daemonset import (
    DAEMON_TOLERATIONS,
    REVISION_LABEL,
    node_should_run,
    plan_daemonset,
    pod_for_node,
    revision_of,
)
from protos import apps_pb2, core_pb2, meta_pb2


def make_ds(name: str = "agent", *, node_selector=None, tolerations=(), max_unavailable=1,
            strategy: str = "RollingUpdate", image: str = IMAGE) -> apps_pb2.DaemonSet:
    ds = apps_pb2.DaemonSet(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", uid="ds-uid", generation=1))
    ds.spec.selector.match_labels["app"] = name
    ds.spec.template.metadata.labels["app"] = name
    ds.spec.template.spec.containers.add(name="main", image=image)
    ds.spec.template.spec.node_selector.update(node_selector or {})
    for key, effect in tolerations:
        ds.spec.template.spec.tolerations.add(key=key, operator="Exists", effect=effect)
    ds.spec.update_strategy.type = strategy
    ds.spec.update_strategy.rolling_update.max_unavailable.int_val = max_unavailable
    return ds


def make_node(name: str, labels=None, taints=(), unschedulable: bool = False) -> core_pb2.Node:
    node = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name, labels=labels or {}))
    node.spec.unschedulable = unschedulable
    for key, effect in taints:
        node.spec.taints.add(key=key, effect=effect)
    return node


def daemon_pod(ds, node: str, *, name: str = "", revision: str | None = None, ready=True, **kw) -> core_pb2.Pod:
    pod = make_pod(name or f"agent-{node}", {"app": "agent"}, node=node, phase="Running", ready=ready, **kw)
    pod.metadata.owner_references.append(owner_ref(ds, kind="DaemonSet"))
    pod.metadata.labels[REVISION_LABEL] = revision_of(ds) if revision is None else revision
    return pod


def test_one_pod_per_node_and_node_selector():
    ds = make_ds(node_selector={"disk": "ssd"})
    nodes = [make_node("n1", {"disk": "ssd"}), make_node("n2"), make_node("n3", {"disk": "ssd"})]
    plan = plan_daemonset(ds, nodes, [], True, NOW)
    assert plan.create_on == ["n1", "n3"] and plan.delete == []
    assert plan.status.desired_number_scheduled == 2
    assert plan.status.number_unavailable == 2


def test_taints_tolerations_and_cordoned_nodes():
    ds = make_ds(tolerations=[("dedicated", "NoSchedule")])
    nodes = [make_node("cordoned", unschedulable=True, taints=[("node.kubernetes.io/unschedulable", "NoSchedule")]),
             make_node("notready", taints=[("node.kubernetes.io/not-ready", "NoExecute")]),
             make_node("pressure", taints=[("node.kubernetes.io/disk-pressure", "NoSchedule")]),
             make_node("dedicated", taints=[("dedicated", "NoSchedule")]),
             make_node("gpu", taints=[("gpu", "NoSchedule")]),
             make_node("evict", taints=[("evict", "NoExecute")]),
             make_node("soft", taints=[("soft", "PreferNoSchedule")])]
    plan = plan_daemonset(ds, nodes, [], True, NOW)
    assert plan.create_on == ["cordoned", "dedicated", "notready", "pressure", "soft"]
    # An untolerated NoSchedule taint keeps an existing Pod; NoExecute does not.
    assert node_should_run(ds, nodes[4]).should_continue_running
    assert not node_should_run(ds, nodes[5]).should_continue_running
    pods = [daemon_pod(ds, "gpu"), daemon_pod(ds, "evict")]
    plan = plan_daemonset(ds, nodes, pods, True, NOW)
    assert [p.metadata.name for p in plan.delete] == ["agent-evict"]
    assert plan.status.number_misscheduled == 2


def test_new_pod_is_placed_by_node_name_with_the_automatic_tolerations():
    ds = make_ds(tolerations=[("node.kubernetes.io/not-ready", "NoExecute")])
    pod = pod_for_node(ds, "n1", "rev1")
    assert pod.spec.node_name == "n1"
    assert pod.metadata.generate_name == "agent-"
    assert pod.metadata.labels[REVISION_LABEL] == "rev1" and pod.metadata.labels["app"] == "agent"
    assert pod.metadata.owner_references[0].kind == "DaemonSet"
    keys = [(t.key, t.effect) for t in pod.spec.tolerations]
    assert sorted(keys) == sorted(DAEMON_TOLERATIONS)  # the template's own is not doubled
    assert list(ds.spec.template.spec.tolerations)[0].key == "node.kubernetes.io/not-ready"


def test_duplicates_failed_and_orphaned_node_pods_are_deleted():
    ds = make_ds()
    nodes = [make_node("n1"), make_node("n2")]
    old = daemon_pod(ds, "n1", name="agent-old", created=NOW - 500)
    dup = daemon_pod(ds, "n1", name="agent-dup", created=NOW - 100)
    failed = daemon_pod(ds, "n2", name="agent-failed")
    failed.status.phase = "Failed"
    gone = daemon_pod(ds, "n9", name="agent-gone")
    plan = plan_daemonset(ds, nodes, [old, dup, failed, gone], True, NOW)
    assert sorted(p.metadata.name for p in plan.delete) == ["agent-dup", "agent-failed", "agent-gone"]
    assert plan.create_on == []  # n2's replacement comes once the failed Pod is gone


def test_waits_for_a_terminating_pod_and_for_expectations():
    ds = make_ds()
    going = daemon_pod(ds, "n1", deleting=True)
    assert plan_daemonset(ds, [make_node("n1")], [going], True, NOW).create_on == []
    plan = plan_daemonset(ds, [make_node("n1"), make_node("n2")], [], False, NOW)
    assert plan.create_on == [] and plan.status.desired_number_scheduled == 2


def test_rolling_update_deletes_at_most_max_unavailable():
    ds = make_ds(max_unavailable=2)
    nodes = [make_node(f"n{i}") for i in range(5)]
    pods = [daemon_pod(ds, f"n{i}", revision="old") for i in range(5)]
    plan = plan_daemonset(ds, nodes, pods, True, NOW)
    assert [p.spec.node_name for p in plan.delete] == ["n0", "n1"]
    assert plan.status.updated_number_scheduled == 0
    # n0 is gone (waiting for its new Pod), n1 has a new Pod not yet ready: budget spent.
    pods = [daemon_pod(ds, "n1", ready=False)] + [daemon_pod(ds, f"n{i}", revision="old") for i in (2, 3, 4)]
    assert plan_daemonset(ds, nodes, pods, True, NOW).delete == []
    assert plan_daemonset(ds, nodes, pods, True, NOW).create_on == ["n0"]
    # An old Pod that is not available goes at once, budget or not.
    sick = daemon_pod(ds, "n2", revision="old", ready=False)
    pods = [daemon_pod(ds, "n0"), daemon_pod(ds, "n1", ready=False), sick,
            daemon_pod(ds, "n3", revision="old"), daemon_pod(ds, "n4", revision="old")]
    assert [p.spec.node_name for p in plan_daemonset(ds, nodes, pods, True, NOW).delete] == ["n2"]


def test_on_delete_leaves_old_pods():
    ds = make_ds(strategy="OnDelete")
    pods = [daemon_pod(ds, "n1", revision="old")]
    assert plan_daemonset(ds, [make_node("n1")], pods, True, NOW).delete == []


def test_status_counts():
    ds = make_ds()
    ds.spec.min_ready_seconds = 30
    nodes = [make_node(f"n{i}") for i in range(4)]
    pods = [daemon_pod(ds, "n0", ready_at=NOW - 100), daemon_pod(ds, "n1", ready_at=NOW - 5),
            daemon_pod(ds, "n2", revision="old", ready=False)]
    status = plan_daemonset(ds, nodes, pods, False, NOW).status
    assert (status.desired_number_scheduled, status.current_number_scheduled, status.number_ready,
            status.number_available, status.updated_number_scheduled, status.number_unavailable,
            status.number_misscheduled, status.observed_generation) == (4, 3, 2, 1, 2, 3, 0, 1)


def test_rolling_update_with_max_surge_starts_new_pods_beside_old_ones():
    ds = make_ds(max_unavailable=0)
    ds.spec.update_strategy.rolling_update.max_surge.int_val = 1
    nodes = [make_node(f"n{i}") for i in range(3)]
    olds = [daemon_pod(ds, f"n{i}", name=f"old-{i}", revision="old", created=NOW - 500) for i in range(3)]
    plan = plan_daemonset(ds, nodes, olds, True, NOW)
    assert (plan.create_on, plan.delete) == (["n0"], [])  # one surge Pod at a time
    # The new Pod on n0 is not Ready yet: both stay, nothing more surges.
    new0 = daemon_pod(ds, "n0", name="new-0", ready=False, created=NOW - 10)
    plan = plan_daemonset(ds, nodes, olds + [new0], True, NOW)
    assert (plan.create_on, plan.delete) == ([], [])
    assert plan.status.updated_number_scheduled == 1 and plan.status.number_available == 3
    # Ready (minReadySeconds 0): its old Pod goes, and the next node surges.
    new0 = daemon_pod(ds, "n0", name="new-0", created=NOW - 10)
    plan = plan_daemonset(ds, nodes, olds + [new0], True, NOW)
    assert names_of(plan.delete) == ["old-0"]
    plan = plan_daemonset(ds, nodes, olds[1:] + [new0], True, NOW)
    assert (plan.create_on, plan.delete) == (["n1"], [])
    # An old Pod that is not available is replaced beside it at once, beyond the surge budget.
    sick = daemon_pod(ds, "n2", name="old-2", revision="old", ready=False)
    plan = plan_daemonset(ds, nodes, [olds[1], sick, new0], True, NOW)
    assert plan.create_on == ["n2", "n1"]


def names_of(pods):
    return sorted(p.metadata.name for p in pods)
