"""DaemonSets and StatefulSets (apps/v1): a selector matching the template, Kubernetes'
defaults, and the StatefulSet's rule that most of its spec is fixed once created."""

from __future__ import annotations

from apimachinery.selectors import LabelSelector
from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from apiserver.registry.pod import default_pod_spec
from apiserver.registry.workloads import _int_or_percent, _is_zero, validate_template
from protos import apps_pb2, core_pb2

UPDATE_STRATEGIES = ("RollingUpdate", "OnDelete")
POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
RETENTION_POLICIES = ("Retain", "Delete")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
STATEFULSET_SPEC_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                              "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                              "'minReadySeconds' are forbidden")


def _selector_immutable(new, old) -> list[v.FieldError]:
    if new.spec.selector != old.spec.selector:
        return [v.immutable("spec.selector", str(LabelSelector.from_proto(new.spec.selector)))]
    return []


class DaemonSetStrategy(Strategy):
    kind = "DaemonSet"

    def default(self, obj: apps_pb2.DaemonSet) -> None:
        spec = obj.spec
        if not spec.update_strategy.type:
            spec.update_strategy.type = "RollingUpdate"
        if spec.update_strategy.type == "RollingUpdate":
            rolling = spec.update_strategy.rolling_update
            if rolling.max_unavailable.WhichOneof("value") is None:
                rolling.max_unavailable.int_val = 1
            if rolling.max_surge.WhichOneof("value") is None:
                rolling.max_surge.int_val = 0
        if not spec.HasField("revision_history_limit"):
            spec.revision_history_limit = 10
        default_pod_spec(spec.template.spec)

    def validate(self, obj: apps_pb2.DaemonSet) -> list[v.FieldError]:
        spec = obj.spec
        errs = validate_template(spec.selector, spec.template, 0)
        strategy = spec.update_strategy
        if strategy.type not in UPDATE_STRATEGIES:
            errs.append(v.unsupported("spec.updateStrategy.type", strategy.type, UPDATE_STRATEGIES))
        elif strategy.type == "RollingUpdate":
            rolling = strategy.rolling_update
            errs += _int_or_percent(rolling.max_unavailable, "spec.updateStrategy.rollingUpdate.maxUnavailable")
            errs += _int_or_percent(rolling.max_surge, "spec.updateStrategy.rollingUpdate.maxSurge")
            if _is_zero(rolling.max_unavailable) and _is_zero(rolling.max_surge):
                errs.append(v.invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", 0,
                                      "may not be 0 when `maxSurge` is 0"))
        errs += v.non_negative("spec.revisionHistoryLimit", spec.revision_history_limit)
        errs += v.non_negative("spec.minReadySeconds", spec.min_ready_seconds)
        return errs

    def validate_update(self, new: apps_pb2.DaemonSet, old: apps_pb2.DaemonSet) -> list[v.FieldError]:
        return _selector_immutable(new, old)


def with_claim_volumes(sts: apps_pb2.StatefulSet) -> core_pb2.PodTemplateSpec:
    """The template as the controller makes its Pods: a persistentVolumeClaim volume per
    volumeClaimTemplate (so a volumeMount may name a claim template). Kubernetes skips the
    template's PodSpec validation for this reason (its TODO: "check that the union of the given
    volumes and volumeClaims match volume mounts"); pykube validates that union."""
    template = core_pb2.PodTemplateSpec()
    template.CopyFrom(sts.spec.template)
    declared = {volume.name for volume in template.spec.volumes}
    for claim in sts.spec.volume_claim_templates:
        if claim.metadata.name and claim.metadata.name not in declared:
            volume = template.spec.volumes.add(name=claim.metadata.name)
            volume.persistent_volume_claim.claim_name = f"{claim.metadata.name}-{sts.metadata.name or 'set'}-0"
    return template


class StatefulSetStrategy(Strategy):
    kind = "StatefulSet"

    def default(self, obj: apps_pb2.StatefulSet) -> None:
        spec = obj.spec
        if not spec.HasField("replicas"):
            spec.replicas = 1
        if not spec.pod_management_policy:
            spec.pod_management_policy = "OrderedReady"
        if not spec.update_strategy.type:
            spec.update_strategy.type = "RollingUpdate"
        if spec.update_strategy.type == "RollingUpdate":
            rolling = spec.update_strategy.rolling_update
            if not rolling.HasField("partition"):
                rolling.partition = 0
        if not spec.HasField("revision_history_limit"):
            spec.revision_history_limit = 10
        policy = spec.persistent_volume_claim_retention_policy
        policy.when_deleted = policy.when_deleted or "Retain"
        policy.when_scaled = policy.when_scaled or "Retain"
        for claim in spec.volume_claim_templates:
            if not claim.spec.access_modes:
                claim.spec.access_modes.append("ReadWriteOnce")
        default_pod_spec(spec.template.spec)

    def validate(self, obj: apps_pb2.StatefulSet) -> list[v.FieldError]:
        spec = obj.spec
        errs = validate_template(spec.selector, with_claim_volumes(obj), spec.replicas)
        if spec.pod_management_policy not in POD_MANAGEMENT_POLICIES:
            errs.append(v.unsupported("spec.podManagementPolicy", spec.pod_management_policy,
                                      POD_MANAGEMENT_POLICIES))
        strategy = spec.update_strategy
        if strategy.type not in UPDATE_STRATEGIES:
            errs.append(v.unsupported("spec.updateStrategy.type", strategy.type, UPDATE_STRATEGIES))
        elif strategy.type == "OnDelete" and strategy.HasField("rolling_update"):
            errs.append(v.invalid("spec.updateStrategy.rollingUpdate", "",
                                  "only allowed for updateStrategy 'RollingUpdate'"))
        elif strategy.type == "RollingUpdate":
            rolling = strategy.rolling_update
            errs += v.non_negative("spec.updateStrategy.rollingUpdate.partition", rolling.partition)
            if rolling.max_unavailable.WhichOneof("value") is not None:
                path = "spec.updateStrategy.rollingUpdate.maxUnavailable"
                errs += _int_or_percent(rolling.max_unavailable, path)
                if _is_zero(rolling.max_unavailable):
                    errs.append(v.invalid(path, 0, "must be greater than 0"))
        policy = spec.persistent_volume_claim_retention_policy
        for name, value in (("whenDeleted", policy.when_deleted), ("whenScaled", policy.when_scaled)):
            if value not in RETENTION_POLICIES:
                errs.append(v.unsupported(f"spec.persistentVolumeClaimRetentionPolicy.{name}", value,
                                          RETENTION_POLICIES))
        errs += v.non_negative("spec.ordinals.start", spec.ordinals.start)
        for i, claim in enumerate(spec.volume_claim_templates):
            path = f"spec.volumeClaimTemplates[{i}]"
            if not claim.metadata.name:
                errs.append(v.required(f"{path}.metadata.name", "name or generateName is required"))
            else:
                errs += v.dns1123_subdomain(f"{path}.metadata.name", claim.metadata.name)
            for j, mode in enumerate(claim.spec.access_modes):
                if mode not in ACCESS_MODES:
                    errs.append(v.unsupported(f"{path}.spec.accessModes[{j}]", mode, ACCESS_MODES))
            if "storage" not in claim.spec.resources.requests:
                errs.append(v.required(f"{path}.spec.resources[storage]"))
            else:
                errs += v.quantity(f"{path}.spec.resources[storage]", claim.spec.resources.requests["storage"])
        errs += v.non_negative("spec.revisionHistoryLimit", spec.revision_history_limit)
        errs += v.non_negative("spec.minReadySeconds", spec.min_ready_seconds)
        return errs

    def validate_update(self, new: apps_pb2.StatefulSet, old: apps_pb2.StatefulSet) -> list[v.FieldError]:
        # Kubernetes' ValidateStatefulSetUpdate: blank out what may change, compare the rest.
        fixed = []
        for obj in (new, old):
            spec = apps_pb2.StatefulSetSpec()
            spec.CopyFrom(obj.spec)
            for name in ("replicas", "ordinals", "template", "update_strategy",
                         "persistent_volume_claim_retention_policy", "min_ready_seconds"):
                spec.ClearField(name)
            fixed.append(spec)
        if fixed[0] != fixed[1]:
            return [v.forbidden("spec", STATEFULSET_SPEC_FORBIDDEN)]
        return []
