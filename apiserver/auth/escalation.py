"""RBAC's escalation prevention (Kubernetes' pkg/registry/rbac): nobody grants what they
do not hold. Without it, anyone allowed to write Roles or RoleBindings could make
themselves cluster-admin.

* Writing a Role or ClusterRole: the writer must already hold every rule in it (in the
  role's namespace; cluster-wide for a ClusterRole), or be allowed the verb ``escalate``
  on it.
* Writing a RoleBinding or ClusterRoleBinding: the writer must hold every rule of the
  role it references (where the binding grants it), or be allowed ``bind`` on that role.
* ``system:masters`` may do either.

Each check returns None, or the Forbidden message the write is refused with:

    rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "alice" (groups=["devs"])
    is attempting to grant RBAC permissions not currently held:
    {APIGroups:[""], Resources:["pods"], Verbs:["delete"]}

The registry's admission (apiserver/registry/admission.py, which knows who is writing)
calls them before a create or update of an RBAC object; as Kubernetes, an update that
changes only ownerReferences and finalizers is not checked.
"""

from __future__ import annotations

import json
from typing import Iterable

from google.protobuf.message import Message

from apimachinery.identity import UserInfo
from apimachinery.kinds import RBAC_GROUP
from apiserver.auth.attributes import Attributes, Authorizer
from apiserver.auth.rbac import SYSTEM_MASTERS, RBACAuthorizer, Rule


def _has_all(owner: frozenset[str] | tuple[str, ...], wanted: Iterable[str]) -> bool:
    return all(item in owner for item in wanted)


def _url_covers(owner: str, url: str) -> bool:
    return owner == url or (owner.endswith("*") and url.startswith(owner.rstrip("*")))


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if "*" in owner:
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """Kubernetes' ruleCovers: does owner allow everything sub does?"""
    verbs = "*" in owner.verbs or _has_all(owner.verbs, sub.verbs)
    groups = "*" in owner.api_groups or _has_all(owner.api_groups, sub.api_groups)
    urls = all(any(_url_covers(o, url) for o in owner.non_resource_urls) for url in sub.non_resource_urls)
    if sub.resource_names:
        names = not owner.resource_names or _has_all(owner.resource_names, sub.resource_names)
    else:
        names = not owner.resource_names
    return verbs and groups and _resources_cover(owner.resources, sub.resources) and names and urls


def breakdown(rule: Rule) -> list[Rule]:
    """One rule per verb and group/resource (and name), or per verb and URL."""
    out = []
    names = sorted(rule.resource_names) or [None]
    for group in sorted(rule.api_groups):
        for resource in rule.resources:
            for verb in sorted(rule.verbs):
                for name in names:
                    out.append(Rule.make([verb], [group], [resource], [name] if name else []))
    for url in rule.non_resource_urls:
        for verb in sorted(rule.verbs):
            out.append(Rule.make([verb], non_resource_urls=[url]))
    return out


def missing_rules(owner: Iterable[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    """The atomic rules of wanted that no owner rule covers (Kubernetes' Covers)."""
    owned = list(owner)
    return [sub for rule in wanted for sub in breakdown(rule) if not any(rule_covers(o, sub) for o in owned)]


def compact(rules: list[Rule]) -> list[Rule]:
    """Merge rules that differ only in verbs (Kubernetes' CompactRules, for simple rules)."""
    merged: dict[tuple, set[str]] = {}
    for rule in rules:
        key = (tuple(sorted(rule.api_groups)), rule.resources, tuple(sorted(rule.resource_names)),
               rule.non_resource_urls)
        merged.setdefault(key, set()).update(rule.verbs)
    return [Rule.make(sorted(verbs), groups, resources, names, urls)
            for (groups, resources, names, urls), verbs in merged.items()]


def _q(values: Iterable[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: Rule) -> str:
    """Kubernetes' CompactString of a PolicyRule."""
    parts = []
    for label, values in (("APIGroups", sorted(rule.api_groups)), ("Resources", rule.resources),
                          ("NonResourceURLs", rule.non_resource_urls), ("ResourceNames", sorted(rule.resource_names)),
                          ("Verbs", sorted(rule.verbs))):
        if values:
            parts.append(f"{label}:{_q(values)}")
    return "{" + ", ".join(parts) + "}"


def _escalation(user: UserInfo, rbac: RBACAuthorizer, namespace: str, rules: Iterable[Rule]) -> str | None:
    missing = missing_rules(rbac.rules_for(user, namespace), rules)
    if not missing:
        return None
    described = sorted({compact_string(rule) for rule in compact(missing)})
    return (f'user "{user.name}" (groups={_q(user.groups)}) is attempting to grant RBAC permissions not currently '
            "held:\n" + "\n".join(described))


def _forbidden(resource: str, name: str, why: str) -> str:
    return f'{resource}.{RBAC_GROUP} "{name}" is forbidden: {why}'


def check_role(user: UserInfo, role: Message, authorizer: Authorizer, rbac: RBACAuthorizer) -> str | None:
    """A Role or ClusterRole write by user: None, or why it is forbidden."""
    if SYSTEM_MASTERS in user.groups:
        return None
    meta = role.metadata  # type: ignore[attr-defined]
    resource = "roles" if type(role).__name__ == "Role" else "clusterroles"
    escalate = Attributes(user, "escalate", RBAC_GROUP, resource, "", meta.namespace, meta.name)
    if authorizer.authorize(escalate).allowed:
        return None
    why = _escalation(user, rbac, meta.namespace, [Rule.of(r) for r in role.rules])  # type: ignore[attr-defined]
    return None if why is None else _forbidden(resource, meta.name, why)


def check_binding(user: UserInfo, binding: Message, authorizer: Authorizer, rbac: RBACAuthorizer) -> str | None:
    """A RoleBinding or ClusterRoleBinding write by user: None, or why it is forbidden."""
    if SYSTEM_MASTERS in user.groups:
        return None
    meta, ref = binding.metadata, binding.role_ref  # type: ignore[attr-defined]
    resource = "rolebindings" if type(binding).__name__ == "RoleBinding" else "clusterrolebindings"
    role_resource = "roles" if ref.kind == "Role" else "clusterroles"
    role_namespace = meta.namespace if ref.kind == "Role" else ""
    bind = Attributes(user, "bind", RBAC_GROUP, role_resource, "", meta.namespace, ref.name)
    if authorizer.authorize(bind).allowed:
        return None
    rules = rbac.role_rules(ref.kind, role_namespace, ref.name)
    if rules is None:
        return _forbidden(resource, meta.name, f'{ref.kind.lower()}.{RBAC_GROUP} "{ref.name}" not found')
    why = _escalation(user, rbac, meta.namespace, rules)
    return None if why is None else _forbidden(resource, meta.name, why)
