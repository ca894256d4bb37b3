"""Deployments and ReplicaSets: a selector, a Pod template that matches it, and a
replica count; plus the Deployment's rollout strategy defaults (RollingUpdate 25%/25%)."""

from __future__ import annotations

import re

from apimachinery.selectors import LabelSelector, SelectorError
from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from apiserver.registry.pod import default_pod_spec, validate_pod_spec
from protos import apps_pb2, core_pb2, meta_pb2

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_PERCENT = re.compile(r"^[0-9]+%\Z")


def validate_selector(selector: meta_pb2.LabelSelector, path: str) -> list[v.FieldError]:
    errs = v.labels(f"{path}.matchLabels", selector.match_labels)
    for i, expr in enumerate(selector.match_expressions):
        epath = f"{path}.matchExpressions[{i}]"
        errs += v.qualified_name(f"{epath}.key", expr.key)
        if expr.operator not in SELECTOR_OPERATORS:
            errs.append(v.unsupported(f"{epath}.operator", expr.operator, SELECTOR_OPERATORS))
        elif expr.operator in ("In", "NotIn") and not expr.values:
            errs.append(v.required(f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif expr.operator in ("Exists", "DoesNotExist") and expr.values:
            errs.append(v.forbidden(f"{epath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    return errs


def validate_template(selector: meta_pb2.LabelSelector, template: core_pb2.PodTemplateSpec,
                      replicas: int, path: str = "spec") -> list[v.FieldError]:
    """What Deployments and ReplicaSets share: a non-empty selector matching the template."""
    errs: list[v.FieldError] = []
    if replicas < 0:
        errs += v.non_negative(f"{path}.replicas", replicas)
    if not selector.match_labels and not selector.match_expressions:
        errs.append(v.required(f"{path}.selector"))
    else:
        errs += validate_selector(selector, f"{path}.selector")
    errs += v.labels(f"{path}.template.metadata.labels", template.metadata.labels)
    if not errs:
        try:
            matches = LabelSelector.from_proto(selector).matches(template.metadata.labels)
        except SelectorError as err:
            errs.append(v.invalid(f"{path}.selector", "", str(err)))
        else:
            if not matches:
                errs.append(v.invalid(f"{path}.template.metadata.labels", dict(template.metadata.labels),
                                      "`selector` does not match template `labels`"))
    errs += validate_pod_spec(template.spec, f"{path}.template.spec")
    if template.spec.restart_policy and template.spec.restart_policy != "Always":
        errs.append(v.unsupported(f"{path}.template.spec.restartPolicy", template.spec.restart_policy, ("Always",)))
    return errs


def _int_or_percent(value: meta_pb2.IntOrString, path: str) -> list[v.FieldError]:
    kind = value.WhichOneof("value")
    if kind == "int_val":
        return v.non_negative(path, value.int_val)
    if kind == "str_val" and not _PERCENT.match(value.str_val):
        return [v.invalid(path, value.str_val, "a valid percent string must be a numeric string followed by "
                          "an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
    if kind == "str_val" and int(value.str_val[:-1]) > 100:
        return [v.invalid(path, value.str_val, "must not be greater than 100%")]
    return []


def _is_zero(value: meta_pb2.IntOrString) -> bool:
    return value.int_val == 0 if value.WhichOneof("value") == "int_val" else value.str_val == "0%"


class DeploymentStrategy(Strategy):
    kind = "Deployment"

    def default(self, obj: apps_pb2.Deployment) -> None:
        spec = obj.spec
        if not spec.HasField("replicas"):
            spec.replicas = 1
        if not spec.strategy.type:
            spec.strategy.type = "RollingUpdate"
        if spec.strategy.type == "RollingUpdate":
            rolling = spec.strategy.rolling_update
            if rolling.max_unavailable.WhichOneof("value") is None:
                rolling.max_unavailable.str_val = "25%"
            if rolling.max_surge.WhichOneof("value") is None:
                rolling.max_surge.str_val = "25%"
        if not spec.HasField("revision_history_limit"):
            spec.revision_history_limit = 10
        if not spec.HasField("progress_deadline_seconds"):
            spec.progress_deadline_seconds = 600
        default_pod_spec(spec.template.spec)

    def validate(self, obj: apps_pb2.Deployment) -> list[v.FieldError]:
        spec = obj.spec
        errs = validate_template(spec.selector, spec.template, spec.replicas)
        strategies = ("RollingUpdate", "Recreate")
        if spec.strategy.type not in strategies:
            errs.append(v.unsupported("spec.strategy.type", spec.strategy.type, strategies))
        elif spec.strategy.type == "Recreate" and spec.strategy.HasField("rolling_update"):
            errs.append(v.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
        else:
            rolling = spec.strategy.rolling_update
            errs += _int_or_percent(rolling.max_unavailable, "spec.strategy.rollingUpdate.maxUnavailable")
            errs += _int_or_percent(rolling.max_surge, "spec.strategy.rollingUpdate.maxSurge")
            if _is_zero(rolling.max_unavailable) and _is_zero(rolling.max_surge):
                errs.append(v.invalid("spec.strategy.rollingUpdate.maxUnavailable", 0,
                                      "may not be 0 when `maxSurge` is 0"))
        errs += v.non_negative("spec.revisionHistoryLimit", spec.revision_history_limit)
        errs += v.non_negative("spec.minReadySeconds", spec.min_ready_seconds)
        if spec.progress_deadline_seconds <= spec.min_ready_seconds:
            errs.append(v.invalid("spec.progressDeadlineSeconds", spec.progress_deadline_seconds,
                                  "must be greater than minReadySeconds"))
        return errs

    def validate_update(self, new: apps_pb2.Deployment, old: apps_pb2.Deployment) -> list[v.FieldError]:
        if new.spec.selector != old.spec.selector:
            return [v.immutable("spec.selector", str(LabelSelector.from_proto(new.spec.selector)))]
        return []


class ReplicaSetStrategy(Strategy):
    kind = "ReplicaSet"

    def default(self, obj: apps_pb2.ReplicaSet) -> None:
        if not obj.spec.HasField("replicas"):
            obj.spec.replicas = 1
        default_pod_spec(obj.spec.template.spec)

    def validate(self, obj: apps_pb2.ReplicaSet) -> list[v.FieldError]:
        errs = validate_template(obj.spec.selector, obj.spec.template, obj.spec.replicas)
        return errs + v.non_negative("spec.minReadySeconds", obj.spec.min_ready_seconds)

    def validate_update(self, new: apps_pb2.ReplicaSet, old: apps_pb2.ReplicaSet) -> list[v.FieldError]:
        if new.spec.selector != old.spec.selector:
            return [v.immutable("spec.selector", str(LabelSelector.from_proto(new.spec.selector)))]
        return []
