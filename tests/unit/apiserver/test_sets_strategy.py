"""DaemonSet and StatefulSet strategies: Kubernetes' defaults and validation messages."""

from __future__ import annotations

from apiserver.registry.sets import DaemonSetStrategy, StatefulSetStrategy
from protos import apps_pb2


def _template(obj, labels=None) -> None:
    labels = labels or {"app": "x"}
    obj.metadata.name = "x"
    obj.metadata.namespace = "default"
    obj.spec.selector.match_labels.update({"app": "x"})
    obj.spec.template.metadata.labels.update(labels)
    obj.spec.template.spec.containers.add(name="main", image="busybox")


def daemonset(**labels) -> apps_pb2.DaemonSet:
    ds = apps_pb2.DaemonSet()
    _template(ds, labels or None)
    return ds


def statefulset(**labels) -> apps_pb2.StatefulSet:
    sts = apps_pb2.StatefulSet()
    _template(sts, labels or None)
    sts.spec.service_name = "x"
    return sts


def errors(strategy, obj) -> list[str]:
    strategy.default(obj)
    return [str(e) for e in strategy.validate(obj)]


def test_daemonset_defaults_rolling_update_max_unavailable_1():
    ds = daemonset()
    assert errors(DaemonSetStrategy(), ds) == []
    assert ds.spec.update_strategy.type == "RollingUpdate"
    assert ds.spec.update_strategy.rolling_update.max_unavailable.int_val == 1
    assert ds.spec.update_strategy.rolling_update.max_surge.WhichOneof("value") == "int_val"
    assert ds.spec.revision_history_limit == 10
    assert ds.spec.template.spec.restart_policy == "Always"


def test_daemonset_selector_must_match_template():
    errs = errors(DaemonSetStrategy(), daemonset(app="y"))
    assert any("`selector` does not match template `labels`" in e for e in errs)


def test_daemonset_update_strategy_type_and_zero_unavailable():
    ds = daemonset()
    ds.spec.update_strategy.type = "Sometimes"
    assert errors(DaemonSetStrategy(), ds) == [
        'spec.updateStrategy.type: Unsupported value: "Sometimes": supported values: "RollingUpdate", "OnDelete"']
    ds = daemonset()
    ds.spec.update_strategy.rolling_update.max_unavailable.int_val = 0
    assert errors(DaemonSetStrategy(), ds) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]


def test_daemonset_selector_is_immutable():
    old, new = daemonset(), daemonset()
    new.spec.selector.match_labels["tier"] = "a"
    assert [e.path for e in DaemonSetStrategy().validate_update(new, old)] == ["spec.selector"]


def test_statefulset_defaults():
    sts = statefulset()
    claim = sts.spec.volume_claim_templates.add()
    claim.metadata.name = "data"
    claim.spec.resources.requests["storage"] = "1Gi"
    assert errors(StatefulSetStrategy(), sts) == []
    assert sts.spec.replicas == 1
    assert sts.spec.pod_management_policy == "OrderedReady"
    assert sts.spec.update_strategy.type == "RollingUpdate"
    assert sts.spec.update_strategy.rolling_update.partition == 0
    assert sts.spec.persistent_volume_claim_retention_policy.when_deleted == "Retain"
    assert sts.spec.persistent_volume_claim_retention_policy.when_scaled == "Retain"
    assert list(claim.spec.access_modes) == ["ReadWriteOnce"]


def test_statefulset_rejects_bad_policy_and_claims():
    sts = statefulset()
    sts.spec.pod_management_policy = "Random"
    sts.spec.volume_claim_templates.add()
    assert errors(StatefulSetStrategy(), sts) == [
        'spec.podManagementPolicy: Unsupported value: "Random": supported values: "OrderedReady", "Parallel"',
        "spec.volumeClaimTemplates[0].metadata.name: Required value: name or generateName is required",
        "spec.volumeClaimTemplates[0].spec.resources[storage]: Required value",
    ]


def test_statefulset_selector_must_match_template():
    assert any("`selector` does not match template `labels`" in e
               for e in errors(StatefulSetStrategy(), statefulset(app="y")))


def test_statefulset_only_some_spec_fields_may_change():
    strategy = StatefulSetStrategy()
    old = statefulset()
    strategy.default(old)
    new = apps_pb2.StatefulSet()
    new.CopyFrom(old)
    new.spec.replicas = 5
    new.spec.template.spec.containers[0].image = "busybox:2"
    new.spec.update_strategy.rolling_update.partition = 2
    new.spec.min_ready_seconds = 3
    new.spec.persistent_volume_claim_retention_policy.when_scaled = "Delete"
    assert strategy.validate_update(new, old) == []
    new.spec.service_name = "other"
    assert [str(e) for e in strategy.validate_update(new, old)] == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]


def test_statefulset_containers_may_mount_a_claim_template_but_not_an_undeclared_volume():
    sts = statefulset()
    claim = sts.spec.volume_claim_templates.add()
    claim.metadata.name = "data"
    claim.spec.resources.requests["storage"] = "1Gi"
    sts.spec.template.spec.containers[0].volume_mounts.add(name="data", mount_path="/data")
    StatefulSetStrategy().default(sts)
    assert errors(StatefulSetStrategy(), sts) == []
    assert not sts.spec.template.spec.volumes  # validation does not change what is stored
    sts.spec.template.spec.containers[0].volume_mounts.add(name="cache", mount_path="/cache")
    assert errors(StatefulSetStrategy(), sts) == [
        'spec.template.spec.containers[0].volumeMounts[1].name: Not found: "cache"']
