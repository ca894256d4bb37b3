"""pykubectl drain against the fake API: kubectl's lines, its refusal rules, waiting."""

from __future__ import annotations

import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, copy, deployment, node, pod_of, replica_set
from kubectl_testlib import NOW, FakeRpcError, Harness, event, run_verb

from kubectl.errors import CliError
from kubectl.verbs.drain import DrainOptions, aggregate, go_duration, plan
from protos import core_pb2


@pytest.fixture
def cluster() -> ClusterFake:
    c = ClusterFake()
    c.add(node("n1"))
    c.add(node("n2"))
    return c


def web_pods(cluster: ClusterFake, names: tuple[str, ...] = ("web-abc-1", "web-abc-2"), node_name: str = "n1"
             ) -> list[core_pb2.Pod]:
    d = cluster.add(deployment("web"))
    rs = cluster.add(replica_set(d, "abc", 1, 4))
    return [cluster.add(pod_of(rs, name, node=node_name)) for name in names]


def test_drain_cordons_evicts_and_waits(cluster: ClusterFake) -> None:
    web_pods(cluster)
    cluster.add(pod_of(None, "elsewhere", node="n2"))
    h = Harness(cluster)
    assert run_verb(h, "drain", "n1", "--ignore-daemonsets") == 0
    assert h.stdout == (
        "node/n1 cordoned\n"
        "evicting pod default/web-abc-1\n"
        "evicting pod default/web-abc-2\n"
        "pod/web-abc-1 evicted\n"
        "pod/web-abc-2 evicted\n"
        "node/n1 drained\n"
    )
    assert h.stderr == ""
    assert cluster.get("Node", "n1").spec.unschedulable
    deletes = cluster.requests("Delete")
    assert [d.name for d in deletes] == ["web-abc-1", "web-abc-2"]
    assert deletes[0].preconditions.uid == "uid-web-abc-1" and not deletes[0].HasField("grace_period_seconds")
    pod_list = [r for r in cluster.requests("List") if r.kind == "Pod"][0]
    assert pod_list.namespace == "" and pod_list.field_selector == "spec.nodeName=n1"


def test_drain_waits_through_watch_for_graceful_deletion(cluster: ClusterFake) -> None:
    pods = web_pods(cluster)
    terminating = {p.metadata.name: copy(p) for p in pods}
    for p in terminating.values():
        p.metadata.deletion_timestamp.GetCurrentTime()
    cluster.on_delete = lambda obj: cluster.add(terminating[obj.metadata.name])  # the kubelet still stops them
    cluster.watch_script = [[
        event("MODIFIED", terminating["web-abc-1"]),
        event("DELETED", terminating["web-abc-2"]),
        event("ADDED", pod_of(None, "newcomer")),  # someone else's Pod: not waited for
        event("DELETED", terminating["web-abc-1"]),
    ]]
    h = Harness(cluster)
    assert run_verb(h, "drain", "n1", "--grace-period", "5") == 0
    assert h.stdout.splitlines()[-3:] == ["pod/web-abc-2 evicted", "pod/web-abc-1 evicted", "node/n1 drained"]
    assert cluster.requests("Delete")[0].grace_period_seconds == 5
    assert cluster.requests("Watch")[0].field_selector == "spec.nodeName=n1"


def test_drain_refuses_pods_without_a_controller(cluster: ClusterFake) -> None:
    web_pods(cluster, ("web-abc-1",))
    cluster.add(pod_of(None, "x"))
    cluster.add(pod_of(None, "y", namespace="team-a"))
    cluster.add(pod_of(None, "finished", phase="Succeeded"))  # done anyway: may go
    h = Harness(cluster)
    message = "cannot delete Pods that declare no controller (use --force to override): default/x, team-a/y"
    with pytest.raises(CliError) as caught:
        run_verb(h, "drain", "n1")
    assert str(caught.value) == message
    assert h.stdout == "node/n1 cordoned\n"
    assert h.stderr == (
        f'error: unable to drain node "n1" due to error: {message}, continuing command...\n'
        "There are pending nodes to be drained:\n"
        " n1\n"
    )
    assert cluster.requests("Delete") == []  # nothing evicted when anything is refused


def test_drain_force_deletes_them_with_a_warning(cluster: ClusterFake) -> None:
    cluster.add(pod_of(None, "x"))
    h = Harness(cluster)
    assert run_verb(h, "drain", "n1", "--force", "--delete-emptydir-data") == 0
    assert h.stderr == "Warning: deleting Pods that declare no controller: default/x\n"
    assert h.stdout == "node/n1 cordoned\nevicting pod default/x\npod/x evicted\nnode/n1 drained\n"


def test_drain_timeout(cluster: ClusterFake) -> None:
    [pod] = web_pods(cluster, ("web-abc-1",))
    stuck = copy(pod)
    stuck.metadata.deletion_timestamp.GetCurrentTime()
    cluster.on_delete = lambda obj: cluster.add(stuck)
    cluster.watch_script = [FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
    h = Harness(cluster)
    with pytest.raises(CliError) as caught:
        run_verb(h, "drain", "n1", "--timeout", "0.01s")
    message = 'error when waiting for pod "web-abc-1" terminating: global timeout reached: 10ms'
    assert str(caught.value) == message
    assert h.stderr == (
        f'There are pending pods in node "n1" when an error occurred: {message}\n'
        "pod/web-abc-1\n"
        f'error: unable to drain node "n1" due to error: {message}, continuing command...\n'
        "There are pending nodes to be drained:\n"
        " n1\n"
    )


def test_drain_of_an_empty_or_already_cordoned_node(cluster: ClusterFake) -> None:
    cluster.get("Node", "n2").spec.unschedulable = True
    h = Harness(cluster)
    assert run_verb(h, "drain", "n2") == 0
    assert h.stdout == "node/n2 already cordoned\nnode/n2 drained\n"


def test_drain_pod_already_gone_is_fine(cluster: ClusterFake) -> None:
    web_pods(cluster, ("web-abc-1",))

    def gone_meanwhile(request, timeout=None):  # type: ignore[no-untyped-def]
        del cluster.objects[("Pod", "default", "web-abc-1")]  # the ReplicaSet controller was quicker
        raise FakeRpcError(grpc.StatusCode.NOT_FOUND, 'pods "web-abc-1" not found')

    cluster.Delete = gone_meanwhile  # type: ignore[method-assign]
    h = Harness(cluster)
    assert run_verb(h, "drain", "n1") == 0
    assert h.stdout.splitlines()[-2:] == ["pod/web-abc-1 evicted", "node/n1 drained"]
    assert cluster.requests("Watch") == []


def test_plan_rules() -> None:
    managed = pod_of(replica_set(deployment("web"), "abc", 1, 1), "m")
    daemon = pod_of(None, "d")
    daemon.metadata.owner_references.add(kind="DaemonSet", name="ds", uid="u", controller=True)
    mirror = pod_of(None, "static")
    mirror.metadata.annotations["kubernetes.io/config.mirror"] = "hash"
    lonely = pod_of(None, "lonely")
    result = plan([managed, daemon, mirror, lonely], DrainOptions(), NOW)
    assert [p.metadata.name for p in result.delete] == ["m"]
    assert result.error_texts() == [
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/d",
        "cannot delete Pods that declare no controller (use --force to override): default/lonely",
    ]
    forced = plan([managed, daemon, mirror, lonely], DrainOptions(force=True, ignore_daemonsets=True), NOW)
    assert [p.metadata.name for p in forced.delete] == ["m", "lonely"]
    assert forced.warning_text() == ("ignoring DaemonSet-managed Pods: default/d; "
                                     "deleting Pods that declare no controller: default/lonely")
    assert aggregate(["a", "b"]) == "[a, b]" and aggregate(["a"]) == "a"
    assert (go_duration(30), go_duration(90), go_duration(3600), go_duration(0.5)) == ("30s", "1m30s", "1h0m0s",
                                                                                       "500ms")
