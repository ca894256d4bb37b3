"""The StatefulSet controller's pure decisions: ordinals, ordering, scale-down, rolling update, status."""

from __future__ import annotations

from test_controllers_manager_support import IMAGE, NOW, make_pod, owner_ref

from controllers.statefulset import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    REVISION_LABEL,
    claim_names,
    claims_for,
    plan_statefulset,
    pod_for_ordinal,
    revision_of,
)
from protos import apps_pb2, meta_pb2


def make_sts(replicas: int = 3, *, policy: str = "OrderedReady", partition: int = 0, claims=(),
             strategy: str = "RollingUpdate") -> apps_pb2.StatefulSet:
    sts = apps_pb2.StatefulSet(metadata=meta_pb2.ObjectMeta(name="db", namespace="default", uid="sts-uid",
                                                            generation=1))
    sts.spec.replicas = replicas
    sts.spec.service_name = "db-headless"
    sts.spec.pod_management_policy = policy
    sts.spec.selector.match_labels["app"] = "db"
    sts.spec.template.metadata.labels["app"] = "db"
    sts.spec.template.spec.containers.add(name="main", image=IMAGE)
    sts.spec.update_strategy.type = strategy
    sts.spec.update_strategy.rolling_update.partition = partition
    for name in claims:
        sts.spec.volume_claim_templates.add(metadata=meta_pb2.ObjectMeta(name=name))
    return sts


def member(sts, ordinal: int, *, healthy: bool = True, revision: str | None = None, **kw):
    pod = make_pod(f"db-{ordinal}", {"app": "db"}, phase="Running" if healthy else "Pending",
                   ready=healthy, **kw)
    pod.metadata.owner_references.append(owner_ref(sts, kind="StatefulSet"))
    pod.metadata.labels[REVISION_LABEL] = revision_of(sts) if revision is None else revision
    return pod


def names(pods):
    return [p.metadata.name for p in pods]


def test_ordered_ready_creates_one_ordinal_at_a_time():
    sts = make_sts(3)
    assert plan_statefulset(sts, [], NOW).create == [0]
    assert plan_statefulset(sts, [member(sts, 0, healthy=False)], NOW).create == []  # waits for 0
    assert plan_statefulset(sts, [member(sts, 0)], NOW).create == [1]
    assert plan_statefulset(sts, [member(sts, 0), member(sts, 1)], NOW).create == [2]


def test_parallel_creates_all_at_once():
    sts = make_sts(3, policy="Parallel")
    assert plan_statefulset(sts, [member(sts, 1, healthy=False)], NOW).create == [0, 2]


def test_pod_identity():
    sts = make_sts(3)
    pod = pod_for_ordinal(sts, 2, "rev")
    assert pod.metadata.name == "db-2" and pod.spec.hostname == "db-2" and pod.spec.subdomain == "db-headless"
    assert pod.metadata.labels[POD_NAME_LABEL] == "db-2"
    assert pod.metadata.labels[POD_INDEX_LABEL] == "2"
    assert pod.metadata.labels[REVISION_LABEL] == "rev" and pod.metadata.labels["app"] == "db"
    [ref] = pod.metadata.owner_references
    assert (ref.kind, ref.name, ref.controller) == ("StatefulSet", "db", True)


def test_claims_per_template_per_ordinal():
    sts = make_sts(2, claims=("data", "logs"))
    assert claim_names(sts, 1) == ["data-db-1", "logs-db-1"]
    assert plan_statefulset(sts, [], NOW).claims == ["data-db-0", "logs-db-0"]
    sts = make_sts(2, claims=("data",), policy="Parallel")
    assert plan_statefulset(sts, [], NOW).claims == ["data-db-0", "data-db-1"]


def test_claims_from_templates_and_their_volumes_in_the_pod():
    sts = make_sts(2, claims=("data",))
    template = sts.spec.volume_claim_templates[0]
    template.spec.access_modes.append("ReadWriteOnce")
    template.spec.resources.requests["storage"] = "1Gi"
    template.metadata.labels["tier"] = "storage"
    [claim] = claims_for(sts, 1)
    assert (claim.metadata.name, claim.metadata.namespace) == ("data-db-1", "default")
    assert dict(claim.metadata.labels) == {"tier": "storage", "app": "db"}
    assert not claim.metadata.owner_references  # Retain: the claim outlives Pods and the set
    assert list(claim.spec.access_modes) == ["ReadWriteOnce"] and claim.spec.resources.requests["storage"] == "1Gi"
    assert not claim.spec.HasField("storage_class_name")  # the default class, by admission
    template.spec.storage_class_name = ""
    assert claims_for(sts, 0)[0].spec.HasField("storage_class_name")
    # The template's own volume of the same name is replaced by the claim.
    sts.spec.template.spec.volumes.add(name="data").empty_dir.SetInParent()
    sts.spec.template.spec.volumes.add(name="cache").empty_dir.SetInParent()
    pod = pod_for_ordinal(sts, 1, "rev")
    assert [(v.name, v.persistent_volume_claim.claim_name) for v in pod.spec.volumes] == [
        ("data", "data-db-1"), ("cache", "")]


def test_failed_pod_is_deleted_and_recreated_under_its_name():
    sts = make_sts(2)
    failed = member(sts, 0)
    failed.status.phase = "Failed"
    assert names(plan_statefulset(sts, [failed, member(sts, 1)], NOW).delete) == ["db-0"]
    going = member(sts, 0, deleting=True)
    plan = plan_statefulset(sts, [going, member(sts, 1)], NOW)
    assert plan.create == [] and plan.delete == []  # waits until it is gone
    assert plan_statefulset(sts, [member(sts, 1)], NOW).create == [0]


def test_ordered_scale_down_from_the_highest_one_at_a_time():
    sts = make_sts(1)
    pods = [member(sts, i) for i in range(4)]
    assert names(plan_statefulset(sts, pods, NOW).delete) == ["db-3"]
    pods[3] = member(sts, 3, deleting=True)
    assert plan_statefulset(sts, pods, NOW).delete == []  # waits for db-3 to go
    # An unhealthy lower ordinal does not stop the healthy highest from going.
    pods = [member(sts, 0), member(sts, 1, healthy=False), member(sts, 2)]
    assert names(plan_statefulset(sts, pods, NOW).delete) == ["db-2"]
    # The highest unhealthy goes only if it is the first unhealthy one.
    pods = [member(sts, 0), member(sts, 1, healthy=False), member(sts, 2, healthy=False)]
    assert plan_statefulset(sts, pods, NOW).delete == []
    pods = [member(sts, 0), member(sts, 1), member(sts, 2, healthy=False)]
    assert names(plan_statefulset(sts, pods, NOW).delete) == ["db-2"]


def test_parallel_scale_down_deletes_every_surplus_pod():
    sts = make_sts(1, policy="Parallel")
    pods = [member(sts, i) for i in range(4)]
    assert names(plan_statefulset(sts, pods, NOW).delete) == ["db-3", "db-2", "db-1"]


def test_rolling_update_from_the_highest_down_to_the_partition():
    sts = make_sts(4, partition=1)
    pods = [member(sts, i, revision="old") for i in range(4)]
    assert names(plan_statefulset(sts, pods, NOW).delete) == ["db-3"]
    pods[3] = member(sts, 3, healthy=False)  # the replacement, not ready yet
    assert plan_statefulset(sts, pods, NOW).delete == []
    pods[3] = member(sts, 3)
    assert names(plan_statefulset(sts, pods, NOW).delete) == ["db-2"]
    pods[2] = member(sts, 2)
    pods[1] = member(sts, 1)
    assert plan_statefulset(sts, pods, NOW).delete == []  # db-0 is below the partition
    sts = make_sts(4, strategy="OnDelete")
    assert plan_statefulset(sts, [member(sts, i, revision="old") for i in range(4)], NOW).delete == []


def test_status_and_revisions():
    sts = make_sts(3)
    sts.status.current_revision = "old"
    pods = [member(sts, 0, revision="old"), member(sts, 1, revision="old"), member(sts, 2)]
    status = plan_statefulset(sts, pods, NOW).status
    assert (status.replicas, status.ready_replicas, status.available_replicas, status.current_replicas,
            status.updated_replicas) == (3, 3, 3, 2, 1)
    assert (status.current_revision, status.update_revision) == ("old", revision_of(sts))
    done = plan_statefulset(sts, [member(sts, i) for i in range(3)], NOW).status
    assert done.current_revision == done.update_revision and done.current_replicas == 3
    assert done.observed_generation == 1
