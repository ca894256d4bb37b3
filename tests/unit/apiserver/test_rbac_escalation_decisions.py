"""RBAC's escalation prevention (apiserver/auth/escalation.py): a user grants only what
they hold, unless allowed to escalate or bind."""

from __future__ import annotations

from typing import Any

from apimachinery.convert import from_dict
from apimachinery.identity import UserInfo
from apiserver.auth.bootstrap import policy
from apiserver.auth.escalation import check_binding, check_role, compact_string, missing_rules, rule_covers
from apiserver.auth.rbac import RBACAuthorizer, Rule

RBAC = "rbac.authorization.k8s.io/v1"
ALICE = UserInfo("alice", ("devs",))
ADMIN = UserInfo("root", ("system:masters",))


def obj(kind: str, name: str, namespace: str = "dev", **fields: Any) -> Any:
    meta = {"name": name, **({"namespace": namespace} if kind in ("Role", "RoleBinding") else {})}
    return from_dict({"apiVersion": RBAC, "kind": kind, "metadata": meta, **fields})


def alice_is(role: str, *extra: Any) -> RBACAuthorizer:
    """alice holds ClusterRole `role` in dev (through a RoleBinding)."""
    return RBACAuthorizer([*policy(), *extra, obj("RoleBinding", "alice", roleRef={
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        subjects=[{"kind": "User", "name": "alice"}])])


def test_coverage_follows_kubernetes() -> None:
    owner = Rule.make(["get", "list"], [""], ["pods", "*/status"])
    assert rule_covers(owner, Rule.make(["get"], [""], ["pods"]))
    assert rule_covers(owner, Rule.make(["list"], [""], ["services/status"]))
    assert not rule_covers(owner, Rule.make(["delete"], [""], ["pods"]))
    assert not rule_covers(Rule.make(["get"], [""], ["pods"], ["web"]), Rule.make(["get"], [""], ["pods"]))
    assert rule_covers(Rule.make(["get"], [""], ["pods"]), Rule.make(["get"], [""], ["pods"], ["web"]))
    assert rule_covers(Rule.make(["get"], non_resource_urls=["/apis/*"]),
                       Rule.make(["get"], non_resource_urls=["/apis/apps"]))
    assert missing_rules([owner], [Rule.make(["get", "delete"], [""], ["pods"])]) == [
        Rule.make(["delete"], [""], ["pods"])]
    assert compact_string(Rule.make(["get", "delete"], [""], ["pods"])) == (
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "get"]}')


def test_an_editor_cannot_write_a_role_granting_more() -> None:
    rbac = alice_is("edit")
    role = obj("Role", "god", rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    message = check_role(ALICE, role, rbac, rbac)
    assert message.startswith('roles.rbac.authorization.k8s.io "god" is forbidden: user "alice" (groups=["devs"]) '
                              "is attempting to grant RBAC permissions not currently held:\n")
    modest = obj("Role", "reader", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
    assert check_role(ALICE, modest, rbac, rbac) is None
    assert check_role(ADMIN, role, rbac, rbac) is None


def test_a_namespace_admin_cannot_bind_cluster_admin() -> None:
    rbac = alice_is("admin")
    grab = obj("RoleBinding", "grab", roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                              "name": "cluster-admin"}, subjects=[{"kind": "User", "name": "alice"}])
    message = check_binding(ALICE, grab, rbac, rbac)
    assert message.startswith('rolebindings.rbac.authorization.k8s.io "grab" is forbidden: user "alice"')
    assert "{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}" in message
    view = obj("RoleBinding", "share", roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                               "name": "view"}, subjects=[{"kind": "User", "name": "bob"}])
    assert check_binding(ALICE, view, rbac, rbac) is None  # admin holds everything view grants, in dev
    elsewhere = obj("RoleBinding", "share", namespace="prod", roleRef={
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        subjects=[{"kind": "User", "name": "bob"}])
    assert check_binding(ALICE, elsewhere, rbac, rbac) is not None


def test_the_bind_and_escalate_verbs_delegate() -> None:
    binder = obj("ClusterRole", "binder", rules=[
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"],
         "resourceNames": ["edit"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}])
    rbac = alice_is("binder", binder)
    edit = obj("RoleBinding", "e", roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                           "name": "edit"}, subjects=[{"kind": "User", "name": "bob"}])
    assert check_binding(ALICE, edit, rbac, rbac) is None
    admin = obj("RoleBinding", "a", roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                            "name": "admin"}, subjects=[{"kind": "User", "name": "bob"}])
    assert check_binding(ALICE, admin, rbac, rbac) is not None
    god = obj("Role", "god", rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    assert check_role(ALICE, god, rbac, rbac) is None


def test_binding_a_missing_role_is_refused() -> None:
    rbac = alice_is("edit")
    ghost = obj("RoleBinding", "g", roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                            "name": "ghost"}, subjects=[{"kind": "User", "name": "bob"}])
    assert check_binding(ALICE, ghost, rbac, rbac) == (
        'rolebindings.rbac.authorization.k8s.io "g" is forbidden: role.rbac.authorization.k8s.io "ghost" not found')
