"""pykubectl cordon / uncordon against the fake API."""

from __future__ import annotations

import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, node
from kubectl_testlib import Harness, run_verb

from kubectl.errors import CliError
from kubectl.verbs.cordon import set_unschedulable


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


def taints(cluster: ClusterFake, name: str = "n1") -> list[str]:
    return [f"{t.key}:{t.effect}" for t in cluster.get("Node", name).spec.taints]


def test_cordon_sets_unschedulable_and_the_taint(cluster: ClusterFake) -> None:
    n = node("n1")
    n.spec.taints.add(key="example.com/dedicated", value="gpu", effect="NoSchedule")
    cluster.add(n)
    h = Harness(cluster)
    assert run_verb(h, "cordon", "n1") == 0
    assert h.stdout == "node/n1 cordoned\n"
    assert cluster.get("Node", "n1").spec.unschedulable
    assert taints(cluster) == ["example.com/dedicated:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"]
    again = Harness(cluster)
    assert run_verb(again, "cordon", "n1") == 0
    assert again.stdout == "node/n1 already cordoned\n"
    assert len(cluster.requests("Update")) == 1  # nothing left to write


def test_uncordon_clears_both(cluster: ClusterFake) -> None:
    n = node("n1", unschedulable=True)
    n.spec.taints.add(key="node.kubernetes.io/unschedulable", effect="NoSchedule")
    n.spec.taints.add(key="node.kubernetes.io/unreachable", effect="NoExecute")
    cluster.add(n)
    h = Harness(cluster)
    assert run_verb(h, "uncordon", "n1") == 0
    assert h.stdout == "node/n1 uncordoned\n"
    assert not cluster.get("Node", "n1").spec.unschedulable
    assert taints(cluster) == ["node.kubernetes.io/unreachable:NoExecute"]  # the lifecycle controller's stays
    again = Harness(cluster)
    run_verb(again, "uncordon", "n1")
    assert again.stdout == "node/n1 already uncordoned\n"


def test_cordon_retries_on_conflict_with_the_kubelet(cluster: ClusterFake) -> None:
    cluster.add(node("n1"))
    cluster.conflicts = 1
    assert run_verb(Harness(cluster), "cordon", "n1") == 0
    assert len(cluster.requests("Update")) == 2 and cluster.get("Node", "n1").spec.unschedulable


def test_cordon_several_and_by_selector(cluster: ClusterFake) -> None:
    for name in ("n1", "n2", "n3"):
        cluster.add(node(name))
    h = Harness(cluster)
    assert run_verb(h, "cordon", "n1", "n2") == 0
    assert h.stdout == "node/n1 cordoned\nnode/n2 cordoned\n"
    sel = Harness(cluster)
    assert run_verb(sel, "uncordon", "-l", "kubernetes.io/hostname=n2") == 0
    assert sel.stdout == "node/n2 uncordoned\n"


def test_cordon_errors(cluster: ClusterFake) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        run_verb(Harness(cluster), "cordon", "n9")
    assert caught.value.details() == 'nodes "n9" not found'  # type: ignore[attr-defined]
    with pytest.raises(CliError, match="USAGE: uncordon NODE"):
        run_verb(Harness(cluster), "uncordon")
    with pytest.raises(CliError, match="cannot specify both a node name and a --selector option"):
        run_verb(Harness(cluster), "cordon", "n1", "-l", "a=b")


def test_set_unschedulable_reports_a_missing_taint_as_a_change() -> None:
    n = node("n1", unschedulable=True)  # cordoned by an older client: no taint yet
    assert set_unschedulable(n, True)
    assert not set_unschedulable(n, True)
