"""The default RBAC policy, as Kubernetes' bootstrappolicy: ClusterRoles and
ClusterRoleBindings the apiserver creates at start when they are absent, labelled
``kubernetes.io/bootstrapping: rbac-defaults``.

Each component gets least privilege for what pykube's component actually calls:

* ``system:kube-scheduler`` (User system:kube-scheduler): reads Pods and Nodes, binds Pods
  (pods/binding), updates Pod status, writes Events, and its leader-election Lease. Unlike
  Kubernetes' role it cannot delete Pods (pykube's scheduler does not preempt); like it, it
  cannot touch Deployments.
* ``system:kube-controller-manager`` (User system:kube-controller-manager): pykube runs all
  controllers under one identity (Kubernetes' --use-service-account-credentials=false), so the
  role is Kubernetes' own (list/watch everything for the shared informers, Events, its Lease)
  plus what pykube's controllers write: Deployment → ReplicaSets → Pods, their status,
  EndpointSlices, Nodes (IPAM podCIDR, lifecycle taints, status) and Pod eviction (delete),
  and the garbage collector's owner-reference updates and deletes of the kinds it tracks.
* ``system:node-proxier`` (User system:kube-proxy): reads Services, EndpointSlices, Nodes;
  writes Events.
* ``system:node``: the kubelet's rules. Not bound (as in Kubernetes since 1.8): the Node
  authorizer applies them, restricted to the node's own objects.
* ``system:discovery``, ``system:basic-user`` (system:authenticated) and
  ``system:public-info-viewer`` (authenticated and unauthenticated): version and discovery.
* ``cluster-admin`` (Group system:masters; that group is also a superuser before RBAC),
  and the user-facing ``admin``, ``edit``, ``view`` for RoleBindings, written out in full
  over pykube's kinds (no aggregationRule).
"""

from __future__ import annotations

from typing import Callable, Iterable

from google.protobuf.message import Message

from apimachinery.kinds import RBAC_GROUP
from apiserver.auth.rbac import Rule
from protos import meta_pb2, rbac_pb2

BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
CORE, APPS, COORDINATION, DISCOVERY = "", "apps", "coordination.k8s.io", "discovery.k8s.io"
BATCH = "batch"
STORAGE = "storage.k8s.io"
EVENTS_RULE = Rule.make(("create", "update", "patch"), (CORE, "events.k8s.io"), ("events",))


def _rule(verbs: Iterable[str], groups: Iterable[str], resources: Iterable[str], names: Iterable[str] = ()) -> Rule:
    return Rule.make(verbs, groups, resources, names)


def _urls(verbs: Iterable[str], urls: Iterable[str]) -> Rule:
    return Rule.make(verbs, non_resource_urls=urls)


# What a kubelet (and a pykube-proxy running with its node's identity) calls; the Node
# authorizer and NodeRestriction narrow these to the node's own objects.
NODE_RULES: tuple[Rule, ...] = (
    _rule(READ, (CORE,), ("services",)),
    _rule(READ, (DISCOVERY,), ("endpointslices",)),
    _rule(("create", *READ), (CORE,), ("nodes",)),
    _rule(("update", "patch"), (CORE,), ("nodes", "nodes/status")),
    EVENTS_RULE,
    _rule(READ, (CORE,), ("pods",)),
    _rule(("delete",), (CORE,), ("pods",)),  # only to confirm a graceful deletion (see auth/node.py)
    _rule(("update", "patch"), (CORE,), ("pods/status",)),
    _rule(("get", "create", "update", "patch", "delete"), (COORDINATION,), ("leases",)),
)

SCHEDULER_RULES: tuple[Rule, ...] = (
    EVENTS_RULE,
    # volume binding (issue 14): the claims, volumes and classes of Pods; selected-node on a claim
    _rule(READ, (CORE,), ("persistentvolumeclaims", "persistentvolumes")),
    _rule(READ, (STORAGE,), ("storageclasses",)),
    _rule(("update", "patch"), (CORE,), ("persistentvolumeclaims",)),
    _rule(("create",), (COORDINATION,), ("leases",)),
    _rule(("get", "update"), (COORDINATION,), ("leases",), ("kube-scheduler",)),
    _rule(READ, (CORE,), ("nodes", "pods", "namespaces")),
    _rule(("create",), (CORE,), ("pods/binding", "bindings")),
    _rule(("update", "patch"), (CORE,), ("pods/status",)),
)

CONTROLLER_MANAGER_RULES: tuple[Rule, ...] = (
    EVENTS_RULE,
    _rule(("create",), (COORDINATION,), ("leases",)),
    _rule(("get", "update"), (COORDINATION,), ("leases",), ("kube-controller-manager",)),
    _rule(("list", "watch"), ("*",), ("*",)),  # the shared informers (and the garbage collector)
    _rule(("get",), (CORE, APPS, DISCOVERY, COORDINATION), ("namespaces", "nodes", "pods", "services",
                                                          "deployments", "replicasets", "endpointslices",
                                                          "leases", "daemonsets", "statefulsets")),
    # deployment and replicaset controllers; the garbage collector's updates and deletes
    _rule(("update", "patch", "delete"), (APPS,), ("deployments",)),
    _rule(("update", "patch"), (APPS,), ("deployments/status", "replicasets/status", "daemonsets/status",
                                         "statefulsets/status")),
    _rule(("update", "patch", "delete"), (APPS,), ("daemonsets", "statefulsets")),
    _rule(("create", "update", "patch", "delete"), (APPS,), ("replicasets",)),
    _rule(("create", "update", "patch", "delete"), (CORE,), ("pods",)),
    _rule(("update", "patch"), (CORE,), ("pods/status",)),
    _rule(("update", "patch", "delete"), (CORE,), ("services",)),
    # endpointslice controller
    _rule(("create", "update", "patch", "delete"), (DISCOVERY,), ("endpointslices",)),
    # node IPAM (podCIDR) and node lifecycle (taints, status)
    _rule(("update", "patch"), (CORE,), ("nodes", "nodes/status")),
    # job and cronjob controllers (issue 14)
    _rule(("get", "create", "update", "patch", "delete"), (BATCH,), ("jobs", "cronjobs")),
    _rule(("update", "patch"), (BATCH,), ("jobs/status", "cronjobs/status")),
    # PersistentVolume binder and the local-path provisioner (issue 14); the statefulset controller's claims
    _rule(("get", "create", "update", "patch", "delete"), (CORE,), ("persistentvolumes",)),
    _rule(("get", "create", "update", "patch"), (CORE,), ("persistentvolumeclaims",)),
    _rule(("update", "patch"), (CORE,), ("persistentvolumes/status", "persistentvolumeclaims/status")),
    _rule(("get", "create"), (STORAGE,), ("storageclasses",)),
)

PROXIER_RULES: tuple[Rule, ...] = (
    _rule(("list", "watch"), (CORE,), ("services",)),
    _rule(("list", "watch"), (DISCOVERY,), ("endpointslices",)),
    _rule(READ, (CORE,), ("nodes",)),
    EVENTS_RULE,
)

VIEW_RULES: tuple[Rule, ...] = (
    _rule(READ, (CORE,), ("pods", "pods/status", "pods/log", "services", "services/status", "events",
                          "namespaces", "namespaces/status")),
    _rule(READ, (DISCOVERY,), ("endpointslices",)),
    _rule(READ, (APPS,), ("deployments", "deployments/status", "deployments/scale", "replicasets",
                          "replicasets/status", "replicasets/scale", "daemonsets", "daemonsets/status",
                          "statefulsets", "statefulsets/status", "statefulsets/scale")),
    _rule(READ, (BATCH,), ("jobs", "jobs/status", "cronjobs", "cronjobs/status")),
    _rule(READ, (CORE,), ("persistentvolumeclaims", "persistentvolumeclaims/status")),
)
EDIT_RULES: tuple[Rule, ...] = (
    *VIEW_RULES,
    _rule(WRITE, (CORE,), ("pods", "services")),
    _rule(("create", "get"), (CORE,), ("pods/exec", "pods/portforward", "pods/attach")),
    _rule(WRITE, (DISCOVERY,), ("endpointslices",)),
    _rule(WRITE, (APPS,), ("deployments", "deployments/scale", "replicasets", "replicasets/scale",
                           "daemonsets", "statefulsets", "statefulsets/scale")),
    _rule(WRITE, (BATCH,), ("jobs", "cronjobs")),
    _rule(WRITE, (CORE,), ("persistentvolumeclaims",)),
)
ADMIN_RULES: tuple[Rule, ...] = (
    *EDIT_RULES,
    _rule((*READ, *WRITE), (RBAC_GROUP,), ("roles", "rolebindings")),
    _rule(("create",), ("authorization.k8s.io",), ("localsubjectaccessreviews",)),
)

DISCOVERY_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                  "/readyz", "/version", "/version/")
PUBLIC_INFO_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")

CLUSTER_ROLES: dict[str, tuple[Rule, ...]] = {
    "cluster-admin": (_rule(("*",), ("*",), ("*",)), _urls(("*",), ("*",))),
    "admin": ADMIN_RULES,
    "edit": EDIT_RULES,
    "view": VIEW_RULES,
    "system:discovery": (_urls(("get",), DISCOVERY_URLS),),
    "system:public-info-viewer": (_urls(("get",), PUBLIC_INFO_URLS),),
    "system:basic-user": (
        _rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
        _rule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",)),
    ),
    "system:kube-scheduler": SCHEDULER_RULES,
    "system:kube-controller-manager": CONTROLLER_MANAGER_RULES,
    "system:node-proxier": PROXIER_RULES,
    "system:node": NODE_RULES,
}

# binding name -> (ClusterRole, subjects as (kind, name))
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "cluster-admin": ("cluster-admin", (("Group", "system:masters"),)),
    "system:discovery": ("system:discovery", (("Group", "system:authenticated"),)),
    "system:basic-user": ("system:basic-user", (("Group", "system:authenticated"),)),
    "system:public-info-viewer": ("system:public-info-viewer", (("Group", "system:authenticated"),
                                                                ("Group", "system:unauthenticated"))),
    "system:kube-scheduler": ("system:kube-scheduler", (("User", "system:kube-scheduler"),)),
    "system:kube-controller-manager": ("system:kube-controller-manager",
                                       (("User", "system:kube-controller-manager"),)),
    "system:node-proxier": ("system:node-proxier", (("User", "system:kube-proxy"),)),
}


def _meta(name: str) -> meta_pb2.ObjectMeta:
    return meta_pb2.ObjectMeta(name=name, labels=BOOTSTRAP_LABELS, annotations=AUTOUPDATE)


def cluster_roles() -> list[rbac_pb2.ClusterRole]:
    return [rbac_pb2.ClusterRole(metadata=_meta(name), rules=[rule.to_proto() for rule in rules])
            for name, rules in CLUSTER_ROLES.items()]


def cluster_role_bindings() -> list[rbac_pb2.ClusterRoleBinding]:
    return [rbac_pb2.ClusterRoleBinding(
        metadata=_meta(name),
        role_ref=rbac_pb2.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=role),
        subjects=[rbac_pb2.Subject(kind=kind, api_group=RBAC_GROUP, name=subject) for kind, subject in subjects])
        for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items()]


def policy() -> list[Message]:
    """Every bootstrap object: roles before the bindings that name them."""
    return [*cluster_roles(), *cluster_role_bindings()]


def missing(exists: Callable[[str, str], bool]) -> list[Message]:
    """The bootstrap objects to create: those whose (kind, name) is not stored. An existing
    one is left as it is (an administrator may have changed it)."""
    return [obj for obj in policy() if not exists(type(obj).__name__, obj.metadata.name)]  # type: ignore[attr-defined]
