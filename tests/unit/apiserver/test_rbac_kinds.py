"""The RBAC kinds as API objects: manifests, the Registry's defaults and Kubernetes'
validation messages, kubectl's names and tables, and the bootstrap policy stored."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from apimachinery.convert import ConversionError, from_dict, to_dict
from apimachinery.kinds import info_of, resolve_resource
from apiserver import errors
from apiserver.auth.authorizer import ensure_bootstrap_policy
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache
from kubectl.printers import TableOptions, format_table, table_headers, table_row

RBAC = "rbac.authorization.k8s.io/v1"
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def registry() -> Registry:
    reg = Registry(MemoryStore(), WatchCache(), clock=lambda: NOW.timestamp() - 120)
    reg.create(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}))
    return reg


def role(name: str = "pod-reader", namespace: str = "dev", kind: str = "Role", **extra: Any) -> Any:
    manifest = {"apiVersion": RBAC, "kind": kind, "metadata": {"name": name},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}
    if kind == "Role":
        manifest["metadata"]["namespace"] = namespace
    manifest.update(extra)
    return from_dict(manifest)


def binding(name: str = "read-pods", namespace: str = "dev", kind: str = "RoleBinding",
            ref: tuple[str, str] = ("Role", "pod-reader"), subjects: list | None = None) -> Any:
    manifest = {"apiVersion": RBAC, "kind": kind, "metadata": {"name": name},
                "subjects": subjects if subjects is not None else [{"kind": "User", "name": "alice"}],
                "roleRef": {"kind": ref[0], "name": ref[1]}}
    if kind == "RoleBinding":
        manifest["metadata"]["namespace"] = namespace
    return from_dict(manifest)


def invalid(registry: Registry, obj: Any) -> str:
    with pytest.raises(errors.Invalid) as err:
        registry.create(obj)
    return err.value.message


# ------------------------------------------------------------------ names


def test_kinds_are_named_as_kubectl_names_them() -> None:
    for typed, kind in (("roles", "Role"), ("role", "Role"), ("clusterroles", "ClusterRole"),
                        ("rolebindings", "RoleBinding"), ("clusterrolebinding", "ClusterRoleBinding"),
                        ("rolebindings.rbac.authorization.k8s.io", "RoleBinding")):
        assert resolve_resource(typed).kind == kind
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        info = resolve_resource(kind)
        assert info.short_names == () and info.api_version == RBAC
    assert resolve_resource("roles").namespaced and not resolve_resource("clusterroles").namespaced


def test_manifest_round_trip_keeps_kubernetes_field_names() -> None:
    manifest = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "probe"},
                "rules": [{"nonResourceURLs": ["/healthz", "/version"], "verbs": ["get"]},
                          {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"],
                           "verbs": ["get"]}]}
    assert to_dict(from_dict(manifest)) == manifest
    rb = to_dict(binding(subjects=[{"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}]))
    assert rb["roleRef"] == {"kind": "Role", "name": "pod-reader"}
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}]


def test_aggregation_rule_is_not_served() -> None:
    with pytest.raises(ConversionError, match="aggregationRule"):
        from_dict({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "x"},
                   "aggregationRule": {"clusterRoleSelectors": []}})


# ------------------------------------------------------------- the registry


def test_binding_defaults_the_rbac_api_group(registry: Registry) -> None:
    registry.create(role())
    created = registry.create(binding(subjects=[{"kind": "User", "name": "alice"},
                                                {"kind": "Group", "name": "devs"},
                                                {"kind": "ServiceAccount", "name": "ci"}]))
    assert created.role_ref.api_group == "rbac.authorization.k8s.io"
    assert [s.api_group for s in created.subjects] == ["rbac.authorization.k8s.io"] * 2 + [""]


def test_role_names_are_path_segments(registry: Registry) -> None:
    registry.create(role("system:kube-scheduler:leader"))  # colons are fine, unlike DNS names
    assert invalid(registry, role("a/b")) == (
        "Role.rbac.authorization.k8s.io \"a/b\" is invalid: metadata.name: Invalid value: \"a/b\": may not contain '/'")
    assert "may not be '..'" in invalid(registry, role(".."))


INVALID = [
    (role(rules=[{"apiGroups": [""], "resources": ["pods"]}]),
     'Role.rbac.authorization.k8s.io "pod-reader" is invalid: rules[0].verbs: Required value: '
     "verbs must contain at least one value"),
    (role(rules=[{"verbs": ["get"], "resources": ["pods"]}]),
     "rules[0].apiGroups: Required value: resource rules must supply at least one api group"),
    (role(rules=[{"verbs": ["get"], "apiGroups": [""]}]),
     "rules[0].resources: Required value: resource rules must supply at least one resource"),
    (role(rules=[{"verbs": ["get"], "nonResourceURLs": ["/version"]}]),
     'rules[0].nonResourceURLs: Invalid value: []string{"/version"}: namespaced rules cannot apply to '
     "non-resource URLs"),
    (role(kind="ClusterRole", rules=[{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}]),
     "rules[0].nonResourceURLs: Invalid value: []string{\"/x\"}: rules cannot apply to both regular resources "
     "and non-resource URLs"),
    (binding(ref=("Robot", "x")),
     'roleRef.kind: Unsupported value: "Robot": supported values: "Role", "ClusterRole"'),
    (binding(kind="ClusterRoleBinding", ref=("Role", "pod-reader")),
     'ClusterRoleBinding.rbac.authorization.k8s.io "read-pods" is invalid: roleRef.kind: Unsupported value: '
     '"Role": supported values: "ClusterRole"'),
    (binding(ref=("Role", "")), "roleRef.name: Required value"),
    (binding(subjects=[{"kind": "Robot", "name": "r2"}]),
     'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
    (binding(subjects=[{"kind": "User", "name": ""}]), "subjects[0].name: Required value"),
    (binding(subjects=[{"kind": "User", "name": "a", "apiGroup": "example.com"}]),
     'subjects[0].apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"'),
    (binding(subjects=[{"kind": "ServiceAccount", "name": "ci", "apiGroup": "rbac.authorization.k8s.io"}]),
     'subjects[0].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: ""'),
    (binding(kind="ClusterRoleBinding", ref=("ClusterRole", "view"),
             subjects=[{"kind": "ServiceAccount", "name": "ci"}]),
     "subjects[0].namespace: Required value"),
]


@pytest.mark.parametrize("obj, message", INVALID, ids=range(len(INVALID)))
def test_validation_messages(registry: Registry, obj: Any, message: str) -> None:
    assert message in invalid(registry, obj)
    kind = info_of(obj).kind
    assert registry.list(kind)[0] == []  # nothing written


def test_role_binding_may_grant_a_cluster_role(registry: Registry) -> None:
    created = registry.create(binding(ref=("ClusterRole", "view")))
    assert created.role_ref.kind == "ClusterRole"


def test_role_ref_is_immutable_and_subjects_are_not(registry: Registry) -> None:
    stored = registry.create(binding(ref=("ClusterRole", "view")))
    changed = binding(ref=("ClusterRole", "edit"))
    with pytest.raises(errors.Invalid) as err:
        registry.update(changed)
    assert err.value.message == (
        'RoleBinding.rbac.authorization.k8s.io "read-pods" is invalid: roleRef: Invalid value: '
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef')
    more = binding(ref=("ClusterRole", "view"), subjects=[{"kind": "User", "name": "bob"}])
    updated = registry.update(more)
    assert [s.name for s in updated.subjects] == ["bob"]
    assert updated.metadata.uid == stored.metadata.uid


def test_apply_creates_then_configures_a_role(registry: Registry) -> None:
    assert registry.apply([role()])[0][1] == "created"
    wider = role(rules=[{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]}])
    obj, action = registry.apply([wider])[0]
    assert action == "configured" and list(obj.rules[0].resources) == ["pods", "pods/log"]


def test_bootstrap_policy_is_valid_created_once_and_labelled(registry: Registry) -> None:
    created = ensure_bootstrap_policy(registry)
    assert "ClusterRole/cluster-admin" in created and "ClusterRoleBinding/system:kube-scheduler" in created
    assert ensure_bootstrap_policy(registry) == []
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        for obj in registry.list(kind)[0]:
            assert obj.metadata.labels["kubernetes.io/bootstrapping"] == "rbac-defaults"


def test_bootstrap_leaves_an_edited_role_alone(registry: Registry) -> None:
    registry.create(role("view", kind="ClusterRole"))  # an administrator's own "view"
    ensure_bootstrap_policy(registry)
    view = registry.get("ClusterRole", "", "view")
    assert [list(r.resources) for r in view.rules] == [["pods"]]


# ------------------------------------------------------------------ tables


def table(objects: list, wide: bool = False) -> str:
    options = TableOptions(wide=wide)
    return format_table(table_headers(info_of(objects[0]), options), [table_row(o, NOW, options) for o in objects])


def test_role_tables_show_created_at(registry: Registry) -> None:
    stored = registry.create(role())
    assert table([stored]) == "NAME         CREATED AT\npod-reader   2024-05-01T11:58:00Z\n"
    cluster = registry.create(role("reader", kind="ClusterRole"))
    assert table([cluster]).splitlines()[1] == "reader   2024-05-01T11:58:00Z"


def test_binding_tables_show_the_role_and_wide_subjects(registry: Registry) -> None:
    stored = registry.create(binding(ref=("ClusterRole", "view"), subjects=[
        {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}]))
    assert table([stored]) == "NAME        ROLE               AGE\nread-pods   ClusterRole/view   2m\n"
    assert table([stored], wide=True).splitlines() == [
        "NAME        ROLE               AGE   USERS        GROUPS   SERVICEACCOUNTS",
        "read-pods   ClusterRole/view   2m    alice, bob   devs     dev/ci"]
    crb = registry.create(binding("admins", kind="ClusterRoleBinding", ref=("ClusterRole", "cluster-admin"),
                                  subjects=[{"kind": "Group", "name": "system:masters"}]))
    assert table([crb]).splitlines()[1] == "admins   ClusterRole/cluster-admin   2m"
