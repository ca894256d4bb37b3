"""describe for the RBAC kinds: kubectl's PolicyRule table and binding subjects."""

from __future__ import annotations

from apimachinery.convert import from_dict
from kubectl.verbs.describe import DESCRIBERS
from kubectl.verbs.describe.rbac import describe_role, describe_role_binding

RBAC = "rbac.authorization.k8s.io/v1"


def test_roles_show_their_rules_broken_down_and_compacted() -> None:
    """Sorted as kubectl sorts them: by the rule's Go String(), whose first field is Verbs."""
    role = from_dict({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "mixed"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["get"]},
        {"nonResourceURLs": ["/version"], "verbs": ["get"]}]})
    assert describe_role(None, role, None) == (
        "Name:         mixed\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "PolicyRule:\n"
        "  Resources         Non-Resource URLs  Resource Names  Verbs\n"
        "  ---------         -----------------  --------------  -----\n"
        "  pods              []                 []              [get list watch]\n"
        "                    [/version]         []              [get]\n"
        "  deployments.apps  []                 [web]           [get]\n")


def test_bindings_show_the_role_and_subjects() -> None:
    binding = from_dict({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "read", "namespace": "dev"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                         "subjects": [{"kind": "User", "name": "alice"},
                                      {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}]})
    assert describe_role_binding(None, binding, None) == (
        "Name:         read\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "Role:\n"
        "  Kind:  ClusterRole\n"
        "  Name:  view\n"
        "Subjects:\n"
        "  Kind            Name   Namespace\n"
        "  ----            ----   ---------\n"
        "  User            alice  \n"
        "  ServiceAccount  ci     dev\n")
    assert {DESCRIBERS[k] for k in ("Role", "ClusterRole")} == {describe_role}
    assert {DESCRIBERS[k] for k in ("RoleBinding", "ClusterRoleBinding")} == {describe_role_binding}
