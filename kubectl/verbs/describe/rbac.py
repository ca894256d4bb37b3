"""describe role, clusterrole, rolebinding, clusterrolebinding: kubectl's RoleDescriber
(the rules broken down and compacted into a PolicyRule table) and RoleBindingDescriber."""

from __future__ import annotations

from typing import Any, Sequence

from kubectl.context import Context
from kubectl.describe_text import PrefixWriter
from kubectl.verbs.describe.common import LEVEL_0, LEVEL_1, annotations_multiline, labels_multiline
from protos import core_pb2, rbac_pb2


def _go(values: Sequence[str]) -> str:
    """Go's %v of a []string: [get list]."""
    return "[" + " ".join(values) + "]"


def _compact(rules: Sequence[rbac_pb2.PolicyRule]) -> list[tuple[list[str], list[str], list[str], list[str], list[str]]]:
    """Kubernetes' BreakdownRule + CompactRules: one row per group, resource (and name), with
    the verbs of every rule on it; non-resource rules kept as they are. Rows as
    (verbs, groups, resources, names, urls)."""
    simple: dict[tuple[str, str, str | None], list[str]] = {}
    other = []
    for rule in rules:
        if rule.non_resource_urls:
            other.append((list(rule.verbs), [], [], [], list(rule.non_resource_urls)))
            continue
        for group in rule.api_groups:
            for resource in rule.resources:
                for name in list(rule.resource_names) or [None]:
                    verbs = simple.setdefault((group, resource, name), [])
                    verbs += [verb for verb in rule.verbs if verb not in verbs]
    rows = other + [(verbs, [group], [resource], [name] if name is not None else [], [])
                    for (group, resource, name), verbs in simple.items()]
    # kubectl sorts by the rule's Go String(): verbs first, then groups, resources, names, URLs
    return sorted(rows, key=lambda r: "&PolicyRule{Verbs:%s,APIGroups:%s,Resources:%s,ResourceNames:%s,"
                  "NonResourceURLs:%s,}" % tuple(_go(part) for part in r))


def _resource_group(resources: list[str], groups: list[str]) -> str:
    """kubectl's CombineResourceGroup: ``deployments.apps``, ``pods/log``."""
    if not resources:
        return ""
    resource, _, sub = resources[0].partition("/")
    if groups and groups[0]:
        resource = f"{resource}.{groups[0]}"
    return f"{resource}/{sub}" if sub else resource


def _head(w: PrefixWriter, obj: Any) -> None:
    w.write(LEVEL_0, f"Name:\t{obj.metadata.name}\n")
    labels_multiline(w, "Labels", obj.metadata.labels)
    annotations_multiline(w, "Annotations", obj.metadata.annotations)


def describe_role(ctx: Context, role: rbac_pb2.Role | rbac_pb2.ClusterRole,
                  events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    _head(w, role)
    w.write(LEVEL_0, "PolicyRule:\n")
    w.write(LEVEL_1, "Resources\tNon-Resource URLs\tResource Names\tVerbs\n")
    w.write(LEVEL_1, "---------\t-----------------\t--------------\t-----\n")
    for verbs, groups, resources, names, urls in _compact(role.rules):
        w.write(LEVEL_1, f"{_resource_group(resources, groups)}\t{_go(urls)}\t{_go(names)}\t{_go(verbs)}\n")
    return w.text()


def describe_role_binding(ctx: Context, binding: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding,
                          events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    _head(w, binding)
    w.write(LEVEL_0, "Role:\n")
    w.write(LEVEL_1, f"Kind:\t{binding.role_ref.kind}\n")
    w.write(LEVEL_1, f"Name:\t{binding.role_ref.name}\n")
    w.write(LEVEL_0, "Subjects:\n")
    w.write(LEVEL_1, "Kind\tName\tNamespace\n")
    w.write(LEVEL_1, "----\t----\t---------\n")
    for subject in binding.subjects:
        w.write(LEVEL_1, f"{subject.kind}\t{subject.name}\t{subject.namespace}\n")
    return w.text()
