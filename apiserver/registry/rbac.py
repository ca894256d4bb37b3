"""RBAC kinds (rbac.authorization.k8s.io/v1): Role, ClusterRole, RoleBinding and
ClusterRoleBinding, validated as Kubernetes' pkg/apis/rbac/validation does.

* Names are path segments, not DNS names: ``system:kube-scheduler`` is a valid role name.
* A rule needs verbs; a resource rule needs apiGroups and resources; nonResourceURLs only
  in ClusterRoles, never mixed with resources.
* A binding's roleRef names a Role or ClusterRole (a ClusterRoleBinding: ClusterRole only)
  and never changes: ``roleRef: Invalid value: rbac.RoleRef{...}: cannot change roleRef``.
* Subjects are User, Group (apiGroup rbac.authorization.k8s.io, the default) or
  ServiceAccount (apiGroup "", a namespace required in a ClusterRoleBinding).
"""

from __future__ import annotations

import json

from apimachinery.kinds import RBAC_GROUP
from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from protos import rbac_pb2

USER, GROUP, SERVICE_ACCOUNT = "User", "Group", "ServiceAccount"
SUBJECT_KINDS = (SERVICE_ACCOUNT, USER, GROUP)


def path_segment_name(path: str, name: str) -> list[v.FieldError]:
    """Kubernetes' ValidatePathSegmentName: anything that fits in one URL path segment."""
    if name in (".", ".."):
        return [v.invalid(path, name, f"may not be '{name}'")]
    return [v.invalid(path, name, f"may not contain '{c}'") for c in ("/", "%") if c in name]


def validate_rule(rule: rbac_pb2.PolicyRule, namespaced: bool, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if not rule.verbs:
        errs.append(v.required(f"{path}.verbs", "verbs must contain at least one value"))
    if rule.non_resource_urls:
        urls = v.go_strings(rule.non_resource_urls)
        if namespaced:
            errs.append(v.invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if rule.api_groups or rule.resources or rule.resource_names:
            errs.append(v.invalid(f"{path}.nonResourceURLs", urls,
                                  "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not rule.api_groups:
        errs.append(v.required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.resources:
        errs.append(v.required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errs


def validate_subject(subject: rbac_pb2.Subject, namespaced: bool, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if not subject.name:
        errs.append(v.required(f"{path}.name"))
    if subject.kind == SERVICE_ACCOUNT:
        if subject.name:
            errs += v.dns1123_subdomain(f"{path}.name", subject.name)
        if subject.api_group:
            errs.append(v.unsupported(f"{path}.apiGroup", subject.api_group, ("",)))
        if not namespaced and not subject.namespace:
            errs.append(v.required(f"{path}.namespace"))
    elif subject.kind in (USER, GROUP):
        if subject.api_group != RBAC_GROUP:
            errs.append(v.unsupported(f"{path}.apiGroup", subject.api_group, (RBAC_GROUP,)))
    else:
        errs.append(v.unsupported(f"{path}.kind", subject.kind, SUBJECT_KINDS))
    return errs


def go_role_ref(ref: rbac_pb2.RoleRef) -> v.GoLiteral:
    """``rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"x"}`` (Go's %#v)."""
    return v.GoLiteral(f"rbac.RoleRef{{APIGroup:{json.dumps(ref.api_group)}, Kind:{json.dumps(ref.kind)}, "
                       f"Name:{json.dumps(ref.name)}}}")


class _RBACStrategy(Strategy):
    def validate_name(self, name: str) -> list[v.FieldError]:
        return path_segment_name("metadata.name", name)


class _RoleStrategy(_RBACStrategy):
    def validate(self, obj: rbac_pb2.Role | rbac_pb2.ClusterRole) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        for i, rule in enumerate(obj.rules):
            errs += validate_rule(rule, self.info.namespaced, f"rules[{i}]")
        return errs


class RoleStrategy(_RoleStrategy):
    kind = "Role"


class ClusterRoleStrategy(_RoleStrategy):
    kind = "ClusterRole"


class _BindingStrategy(_RBACStrategy):
    role_kinds: tuple[str, ...] = ()

    def default(self, obj: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding) -> None:
        """Kubernetes' v1 defaults: roleRef and User/Group subjects in the RBAC group."""
        if not obj.role_ref.api_group:
            obj.role_ref.api_group = RBAC_GROUP
        for subject in obj.subjects:
            if not subject.api_group and subject.kind in (USER, GROUP):
                subject.api_group = RBAC_GROUP

    def validate(self, obj: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        ref = obj.role_ref
        if ref.api_group != RBAC_GROUP:
            errs.append(v.unsupported("roleRef.apiGroup", ref.api_group, (RBAC_GROUP,)))
        if ref.kind not in self.role_kinds:
            errs.append(v.unsupported("roleRef.kind", ref.kind, self.role_kinds))
        if not ref.name:
            errs.append(v.required("roleRef.name"))
        else:
            errs += path_segment_name("roleRef.name", ref.name)
        for i, subject in enumerate(obj.subjects):
            errs += validate_subject(subject, self.info.namespaced, f"subjects[{i}]")
        return errs

    def validate_update(self, new: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding,
                        old: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding) -> list[v.FieldError]:
        if new.role_ref != old.role_ref:
            return [v.invalid("roleRef", go_role_ref(new.role_ref), "cannot change roleRef")]
        return []


class RoleBindingStrategy(_BindingStrategy):
    kind = "RoleBinding"
    role_kinds = ("Role", "ClusterRole")  # a RoleBinding may grant a ClusterRole, in its namespace


class ClusterRoleBindingStrategy(_BindingStrategy):
    kind = "ClusterRoleBinding"
    role_kinds = ("ClusterRole",)


STRATEGIES = (RoleStrategy, ClusterRoleStrategy, RoleBindingStrategy, ClusterRoleBindingStrategy)
