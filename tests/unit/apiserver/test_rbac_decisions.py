"""The RBAC authorizer's decisions (Kubernetes' rbac.go semantics), its cached view and
its invalidation, and the bootstrap roles' least privilege (apiserver/auth/rbac.py,
bootstrap.py)."""

from __future__ import annotations

from typing import Any

from apimachinery.convert import from_dict
from apimachinery.identity import ANONYMOUS, UserInfo
from apiserver.auth.attributes import Attributes, attributes_for, forbidden_message
from apiserver.auth.authorizer import attach
from apiserver.auth.bootstrap import policy
from apiserver.auth.rbac import RBACAuthorizer, Rule
from apiserver.watchcache import Change, WatchCache
from protos import api_pb2

RBAC = "rbac.authorization.k8s.io/v1"
AUTHENTICATED = "system:authenticated"
ALICE = UserInfo("alice", ("devs", AUTHENTICATED))
BOB = UserInfo("bob", (AUTHENTICATED,))
ADMIN = UserInfo("kubernetes-admin", ("system:masters", AUTHENTICATED))
SCHEDULER = UserInfo("system:kube-scheduler", (AUTHENTICATED,))
CONTROLLERS = UserInfo("system:kube-controller-manager", (AUTHENTICATED,))
PROXY = UserInfo("system:kube-proxy", (AUTHENTICATED,))


def role(name: str, rules: list[dict], namespace: str = "dev") -> Any:
    kind = "Role" if namespace else "ClusterRole"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return from_dict({"apiVersion": RBAC, "kind": kind, "metadata": meta, "rules": rules})


def binding(name: str, ref: tuple[str, str], subjects: list[dict], namespace: str = "dev") -> Any:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return from_dict({"apiVersion": RBAC, "kind": kind, "metadata": meta, "subjects": subjects,
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref[0], "name": ref[1]}})


POD_READER = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
USER_ALICE = [{"kind": "User", "name": "alice"}]


def can(authz: Any, user: UserInfo, verb: str, resource: str, namespace: str = "", name: str = "",
        group: str = "", sub: str = "") -> bool:
    return authz.authorize(Attributes(user, verb, group, resource, sub, namespace, name)).allowed


def alice_reads_pods_in_dev() -> RBACAuthorizer:
    return RBACAuthorizer([role("pod-reader", POD_READER), binding("read-pods", ("Role", "pod-reader"), USER_ALICE)])


# ------------------------------------------------------------ who, and where


def test_alice_with_a_role_in_dev_lists_pods_there_and_not_in_default() -> None:
    authz = alice_reads_pods_in_dev()
    list_dev = attributes_for("List", api_pb2.ListRequest(kind="Pod", namespace="dev"), ALICE)[0]
    decision = authz.authorize(list_dev)
    assert decision.allowed
    assert decision.reason == 'RBAC: allowed by RoleBinding "read-pods/dev" of Role "pod-reader" to User "alice"'
    list_default = attributes_for("List", api_pb2.ListRequest(kind="Pod", namespace="default"), ALICE)[0]
    denied = authz.authorize(list_default)
    assert not denied.allowed and denied.reason == ""
    assert forbidden_message(list_default, denied.reason) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    assert not can(authz, ALICE, "list", "pods")  # cluster-wide is not "in dev"
    assert not can(authz, BOB, "list", "pods", "dev")
    assert not can(authz, ALICE, "delete", "pods", "dev", "web")


def test_a_role_binding_grants_a_cluster_role_in_its_namespace_only() -> None:
    authz = RBACAuthorizer([role("reader", POD_READER, namespace=""),
                            binding("dev-readers", ("ClusterRole", "reader"), USER_ALICE)])
    assert can(authz, ALICE, "get", "pods", "dev", "web")
    assert not can(authz, ALICE, "get", "pods", "prod", "web")
    assert not can(authz, ALICE, "list", "pods")


def test_a_cluster_role_binding_grants_everywhere() -> None:
    authz = RBACAuthorizer([role("node-reader", [{"apiGroups": [""], "resources": ["nodes", "pods"],
                                                  "verbs": ["get", "list"]}], namespace=""),
                            binding("read-nodes", ("ClusterRole", "node-reader"), [{"kind": "Group", "name": "devs"}],
                                    namespace="")])
    assert can(authz, ALICE, "list", "nodes") and can(authz, ALICE, "get", "pods", "anywhere", "x")
    decision = authz.authorize(Attributes(ALICE, "list", "", "nodes"))
    assert decision.reason == 'RBAC: allowed by ClusterRoleBinding "read-nodes" of ClusterRole "node-reader" to Group "devs"'
    assert not can(authz, BOB, "list", "nodes")


def test_a_role_binding_cannot_reach_a_role_of_another_namespace() -> None:
    authz = RBACAuthorizer([role("pod-reader", POD_READER, namespace="prod"),
                            binding("read-pods", ("Role", "pod-reader"), USER_ALICE, namespace="dev")])
    decision = authz.authorize(Attributes(ALICE, "get", "", "pods", "", "dev", "x"))
    assert not decision.allowed
    assert decision.reason == 'RBAC: role.rbac.authorization.k8s.io "pod-reader" not found'


def test_service_account_subjects_are_users_named_by_namespace() -> None:
    authz = RBACAuthorizer([role("pod-reader", POD_READER),
                            binding("ci", ("Role", "pod-reader"), [{"kind": "ServiceAccount", "name": "ci"}])])
    sa = UserInfo("system:serviceaccount:dev:ci", ("system:serviceaccounts",))
    decision = authz.authorize(Attributes(sa, "list", "", "pods", namespace="dev"))
    assert decision.reason == 'RBAC: allowed by RoleBinding "ci/dev" of Role "pod-reader" to ServiceAccount "ci/dev"'
    assert not can(authz, UserInfo("system:serviceaccount:prod:ci"), "list", "pods", "dev")


def test_system_masters_may_do_anything() -> None:
    authz = RBACAuthorizer()
    assert can(authz, ADMIN, "delete", "nodes", name="n1")
    assert can(authz, ADMIN, "create", "pods", "kube-system", sub="exec")
    assert authz.authorize(Attributes(ADMIN, "get", "", "", path="/anything")).allowed
    assert not can(authz, UserInfo("system:masters"), "get", "pods", "dev")  # a user named so is not the group


# ------------------------------------------------------------------ rules


def allows(rule: dict, verb: str, resource: str, sub: str = "", name: str = "", group: str = "") -> bool:
    return Rule.make(rule.get("verbs", ()), rule.get("apiGroups", ()), rule.get("resources", ()),
                     rule.get("resourceNames", ())).allows(Attributes(ALICE, verb, group, resource, sub, "dev", name))


def test_resource_names_restrict_to_the_named_objects() -> None:
    rule = {"verbs": ["get", "update", "list", "create"], "apiGroups": [""], "resources": ["pods"],
            "resourceNames": ["web"]}
    assert allows(rule, "get", "pods", name="web") and allows(rule, "update", "pods", name="web")
    assert not allows(rule, "get", "pods", name="db")
    # create and list carry no name, so a named rule never allows them (as in Kubernetes)
    assert not allows(rule, "list", "pods") and not allows(rule, "create", "pods")
    authz = RBACAuthorizer([role("one-node", [{"verbs": ["watch"], "apiGroups": [""], "resources": ["nodes"],
                                               "resourceNames": ["n1"]}], namespace=""),
                            binding("b", ("ClusterRole", "one-node"), USER_ALICE, namespace="")])
    watch_n1 = api_pb2.WatchRequest(kind="Node", field_selector="metadata.name=n1")
    assert authz.authorize(attributes_for("Watch", watch_n1, ALICE)[0]).allowed
    assert not authz.authorize(attributes_for("Watch", api_pb2.WatchRequest(kind="Node"), ALICE)[0]).allowed


def test_subresources_match_exactly_or_by_star() -> None:
    pods = {"verbs": ["update"], "apiGroups": [""], "resources": ["pods"]}
    assert allows(pods, "update", "pods") and not allows(pods, "update", "pods", "status")
    status = {"verbs": ["update"], "apiGroups": [""], "resources": ["pods/status"]}
    assert allows(status, "update", "pods", "status") and not allows(status, "update", "pods")
    any_status = {"verbs": ["update"], "apiGroups": ["*"], "resources": ["*/status"]}
    assert allows(any_status, "update", "pods", "status") and allows(any_status, "update", "deployments", "status",
                                                                     group="apps")
    assert not allows(any_status, "update", "pods", "binding") and not allows(any_status, "update", "pods")
    everything = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    assert allows(everything, "create", "pods", "binding") and allows(everything, "delete", "leases",
                                                                      group="coordination.k8s.io")


def test_verbs_and_groups_must_match() -> None:
    apps = {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]}
    assert allows(apps, "get", "deployments", group="apps")
    assert not allows(apps, "get", "deployments") and not allows(apps, "delete", "deployments", group="apps")


def test_non_resource_urls_match_exactly_or_by_prefix() -> None:
    rule = Rule.make(["get"], non_resource_urls=["/version", "/apis/*"])
    assert rule.allows(Attributes(BOB, "get", "", "", path="/version"))
    assert rule.allows(Attributes(BOB, "get", "", "", path="/apis/apps/v1"))
    assert not rule.allows(Attributes(BOB, "get", "", "", path="/apis"))
    assert not rule.allows(Attributes(BOB, "post", "", "", path="/version"))
    assert not rule.allows(Attributes(BOB, "get", "", "pods", namespace="dev"))  # no resources in the rule


# ------------------------------------------------------------- the cached view


def test_decisions_are_memoized_and_the_index_built_once() -> None:
    authz = alice_reads_pods_in_dev()
    for _ in range(3):
        assert can(authz, ALICE, "list", "pods", "dev")
        assert not can(authz, BOB, "list", "pods", "dev")
    assert authz.rebuilds == 1


def test_deleting_a_binding_invalidates_the_cache() -> None:
    objects = [role("pod-reader", POD_READER), binding("read-pods", ("Role", "pod-reader"), USER_ALICE)]
    authz = RBACAuthorizer(objects)
    assert can(authz, ALICE, "list", "pods", "dev")
    authz.apply_event("DELETED", objects[1])
    assert not can(authz, ALICE, "list", "pods", "dev")
    authz.apply_event("ADDED", objects[1])
    assert can(authz, ALICE, "list", "pods", "dev")
    assert authz.rebuilds == 3


def test_changing_a_role_changes_what_its_bindings_grant() -> None:
    authz = alice_reads_pods_in_dev()
    assert not can(authz, ALICE, "delete", "pods", "dev", "web")
    authz.apply_event("MODIFIED", role("pod-reader", [*POD_READER, {"apiGroups": [""], "resources": ["pods"],
                                                                     "verbs": ["delete"]}]))
    assert can(authz, ALICE, "delete", "pods", "dev", "web")
    authz.apply_event("DELETED", role("pod-reader", []))
    assert not can(authz, ALICE, "get", "pods", "dev", "web")


def test_other_kinds_and_bookmarks_do_not_invalidate() -> None:
    authz = alice_reads_pods_in_dev()
    can(authz, ALICE, "list", "pods", "dev")
    authz.apply_event("MODIFIED", from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}))
    authz.apply_event("BOOKMARK", role("pod-reader", []))
    can(authz, ALICE, "list", "pods", "dev")
    assert authz.rebuilds == 1


def test_fed_by_the_watch_cache_only_rbac_changes_drop_the_cached_view() -> None:
    """The apiserver's wiring (authorizer.attach): the view follows the watch cache; the many
    Pod writes between RBAC changes reuse it."""
    cache, authz = WatchCache(), RBACAuthorizer()
    attach(authz, cache)
    assert not can(authz, ALICE, "list", "pods", "dev")
    reader, read_pods = role("pod-reader", POD_READER), binding("read-pods", ("Role", "pod-reader"), USER_ALICE)
    cache.apply(Change("ADDED", "Role", "dev/pod-reader", 1, reader, None))
    cache.apply(Change("ADDED", "RoleBinding", "dev/read-pods", 2, read_pods, None))
    assert can(authz, ALICE, "list", "pods", "dev")
    rebuilds = authz.rebuilds
    pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "dev"}})
    for revision in range(3, 10):
        cache.apply(Change("MODIFIED" if revision > 3 else "ADDED", "Pod", "dev/web", revision, pod, None))
        assert can(authz, ALICE, "list", "pods", "dev")
    assert authz.rebuilds == rebuilds
    cache.apply(Change("DELETED", "RoleBinding", "dev/read-pods", 10, read_pods, read_pods))
    assert not can(authz, ALICE, "list", "pods", "dev")
    assert authz.rebuilds == rebuilds + 1


def test_replace_starts_over() -> None:
    authz = alice_reads_pods_in_dev()
    authz.replace([])
    assert not can(authz, ALICE, "list", "pods", "dev")


def test_names_share_one_memo_entry_unless_a_rule_names_objects() -> None:
    authz = alice_reads_pods_in_dev()
    for i in range(25):
        assert can(authz, ALICE, "get", "pods", "dev", f"p{i}")
    assert len(authz._memo) == 1
    named = RBACAuthorizer([role("one", [{"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get"],
                                          "resourceNames": ["p3"]}]),
                            binding("b", ("Role", "one"), USER_ALICE)], memo_limit=10)
    assert [can(named, ALICE, "get", "pods", "dev", f"p{i}", sub="status") for i in range(25)] == [
        i == 3 for i in range(25)]
    assert len(named._memo) <= 10  # bounded


# ---------------------------------------------------------- bootstrap policy


def bootstrapped() -> RBACAuthorizer:
    return RBACAuthorizer(policy())


def test_the_scheduler_binds_pods_but_cannot_delete_a_deployment() -> None:
    authz = bootstrapped()
    assert can(authz, SCHEDULER, "watch", "pods") and can(authz, SCHEDULER, "list", "nodes")
    assert can(authz, SCHEDULER, "create", "pods", "default", "web", sub="binding")
    assert can(authz, SCHEDULER, "update", "pods", "default", "web", sub="status")
    assert can(authz, SCHEDULER, "create", "events", "default")
    deployment = Attributes(SCHEDULER, "delete", "apps", "deployments", "", "default", "web")
    denied = authz.authorize(deployment)
    assert not denied.allowed
    assert forbidden_message(deployment, denied.reason) == (
        'deployments.apps "web" is forbidden: User "system:kube-scheduler" cannot delete resource "deployments" '
        'in API group "apps" in the namespace "default"')
    assert not can(authz, SCHEDULER, "delete", "pods", "default", "web")
    assert not can(authz, SCHEDULER, "update", "nodes", name="n1")


def test_the_controller_manager_runs_workloads_but_not_rbac() -> None:
    authz = bootstrapped()
    assert can(authz, CONTROLLERS, "create", "replicasets", "dev", group="apps")
    assert can(authz, CONTROLLERS, "create", "pods", "dev") and can(authz, CONTROLLERS, "delete", "pods", "dev", "x")
    assert can(authz, CONTROLLERS, "update", "deployments", "dev", "web", group="apps", sub="status")
    assert can(authz, CONTROLLERS, "create", "endpointslices", "dev", group="discovery.k8s.io")
    assert can(authz, CONTROLLERS, "update", "nodes", name="n1") and can(authz, CONTROLLERS, "watch", "leases",
                                                                         group="coordination.k8s.io")
    assert not can(authz, CONTROLLERS, "create", "clusterrolebindings", group="rbac.authorization.k8s.io")
    assert not can(authz, CONTROLLERS, "create", "pods", "dev", "x", sub="exec")


def test_the_proxy_reads_services_and_slices_only() -> None:
    authz = bootstrapped()
    assert can(authz, PROXY, "watch", "services") and can(authz, PROXY, "list", "endpointslices",
                                                          group="discovery.k8s.io")
    assert can(authz, PROXY, "get", "nodes", name="n1")
    assert not can(authz, PROXY, "create", "pods", "default") and not can(authz, PROXY, "update", "services",
                                                                           "default", "web")


def test_version_and_discovery_for_everyone_authenticated() -> None:
    authz = bootstrapped()
    version = attributes_for("Version", api_pb2.VersionRequest(), BOB)[0]
    discovery = attributes_for("Discovery", api_pb2.DiscoveryRequest(), BOB)[0]
    assert authz.authorize(version).allowed and authz.authorize(discovery).allowed
    anonymous_version = attributes_for("Version", api_pb2.VersionRequest(), ANONYMOUS)[0]
    assert authz.authorize(anonymous_version).allowed  # system:public-info-viewer
    assert not authz.authorize(attributes_for("Discovery", api_pb2.DiscoveryRequest(), ANONYMOUS)[0]).allowed
    assert not can(authz, BOB, "list", "pods", "default")


def test_the_user_facing_roles_nest() -> None:
    authz = RBACAuthorizer([*policy(), binding("viewers", ("ClusterRole", "view"), USER_ALICE),
                            binding("editors", ("ClusterRole", "edit"), [{"kind": "User", "name": "bob"}])])
    assert can(authz, ALICE, "get", "pods", "dev", "web", sub="log")
    assert not can(authz, ALICE, "create", "pods", "dev", "web", sub="exec")
    assert can(authz, BOB, "create", "pods", "dev", "web", sub="exec")
    assert can(authz, BOB, "delete", "deployments", "dev", "web", group="apps")
    assert not can(authz, BOB, "create", "rolebindings", "dev", group="rbac.authorization.k8s.io")
    assert not can(authz, BOB, "delete", "deployments", "prod", "web", group="apps")
