"""pykubectl scale against the in-memory fake API (Update = compare-and-swap)."""

from __future__ import annotations

import pytest
from kubectl_cluster_fake import ClusterFake, deployment, replica_set
from kubectl_testlib import Harness, run_verb

from kubectl.errors import CliError


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


def test_scale_deployment_by_type_slash_name(cluster: ClusterFake) -> None:
    cluster.add(deployment("web", replicas=4))
    h = Harness(cluster)
    assert run_verb(h, "scale", "deployment/web", "--replicas", "6") == 0
    assert h.stdout == "deployment.apps/web scaled\n"
    assert cluster.get("Deployment", "web").spec.replicas == 6
    [update] = cluster.requests("Update")
    assert update.object.deployment.metadata.resource_version  # compare-and-swap on what was read


def test_scale_type_and_several_names_and_replica_sets(cluster: ClusterFake) -> None:
    web = cluster.add(deployment("web"))
    cluster.add(deployment("api"))
    cluster.add(replica_set(web, "abc", 1, 4))
    h = Harness(cluster)
    assert run_verb(h, "scale", "deploy", "web", "api", "--replicas=0") == 0
    assert h.stdout == "deployment.apps/web scaled\ndeployment.apps/api scaled\n"
    assert cluster.get("Deployment", "api").spec.replicas == 0
    rs = Harness(cluster)
    assert run_verb(rs, "scale", "rs", "web-abc", "--replicas", "2") == 0
    assert rs.stdout == "replicaset.apps/web-abc scaled\n"
    assert cluster.get("ReplicaSet", "web-abc").spec.replicas == 2


def test_scale_retries_on_conflict(cluster: ClusterFake) -> None:
    cluster.add(deployment("web"))
    cluster.conflicts = 2  # the controller wrote twice in between
    h = Harness(cluster)
    assert run_verb(h, "scale", "deploy/web", "--replicas", "3") == 0
    assert len(cluster.requests("Update")) == 3 and len(cluster.requests("Get")) == 3
    assert cluster.get("Deployment", "web").spec.replicas == 3


def test_scale_gives_up_after_five_conflicts(cluster: ClusterFake) -> None:
    cluster.add(deployment("web"))
    cluster.conflicts = 10
    with pytest.raises(Exception) as caught:
        run_verb(Harness(cluster), "scale", "deploy/web", "--replicas", "3")
    assert "Operation cannot be fulfilled" in caught.value.details()  # type: ignore[attr-defined]
    assert len(cluster.requests("Update")) == 5


def test_scale_to_the_same_count_writes_nothing(cluster: ClusterFake) -> None:
    cluster.add(deployment("web", replicas=4))
    h = Harness(cluster)
    assert run_verb(h, "scale", "deploy/web", "--replicas", "4") == 0
    assert h.stdout == "deployment.apps/web scaled\n" and cluster.requests("Update") == []


def test_scale_current_replicas_precondition(cluster: ClusterFake) -> None:
    cluster.add(deployment("web", replicas=4))
    with pytest.raises(CliError, match="^Expected replicas to be 3, was 4$"):
        run_verb(Harness(cluster), "scale", "deploy/web", "--replicas", "5", "--current-replicas", "3")
    assert run_verb(Harness(cluster), "scale", "deploy/web", "--replicas", "5", "--current-replicas", "4") == 0


def test_scale_by_selector(cluster: ClusterFake) -> None:
    cluster.add(deployment("web"))
    cluster.add(deployment("api"))
    h = Harness(cluster)
    assert run_verb(h, "scale", "deploy", "-l", "app=api", "--replicas", "1") == 0  # meta() labels: none
    assert h.stderr == "No resources found in default namespace.\n"
    assert run_verb(Harness(cluster), "scale", "deploy", "--all", "--replicas", "1") == 0
    assert cluster.get("Deployment", "web").spec.replicas == 1 and cluster.get("Deployment", "api").spec.replicas == 1


def test_scale_errors(cluster: ClusterFake) -> None:
    cluster.add(deployment("web"))
    with pytest.raises(CliError, match='required flag\\(s\\) "replicas" not set'):
        run_verb(Harness(cluster), "scale", "deploy/web")
    with pytest.raises(CliError, match="COUNT must be greater than or equal to 0"):
        run_verb(Harness(cluster), "scale", "deploy/web", "--replicas=-1")
    with pytest.raises(CliError, match="cannot scale pods"):
        run_verb(Harness(cluster), "scale", "pod/x", "--replicas=1")
    with pytest.raises(CliError, match="no name was specified"):
        run_verb(Harness(cluster), "scale", "deploy", "--replicas=1")
    with pytest.raises(Exception) as caught:
        run_verb(Harness(cluster), "scale", "deploy/nope", "--replicas=1")
    assert caught.value.details() == 'deployments "nope" not found'  # type: ignore[attr-defined]
