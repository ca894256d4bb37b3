"""The apiserver's authorizer chain, as ``--authorization-mode=Node,RBAC``: the Node
authorizer settles kubelets' requests, RBAC everything else; the first to allow wins.
Also the executors around the pure parts: feeding RBAC from the watch cache, and
creating the bootstrap policy at start."""

from __future__ import annotations

import structlog

from apimachinery.kinds import kind_info
from apiserver import errors
from apiserver.auth import bootstrap
from apiserver.auth.attributes import Authorizer
from apiserver.auth.modes import AlwaysAllow, AlwaysDeny, UnionAuthorizer
from apiserver.auth.node import NodeAuthorizer
from apiserver.auth.node_graph import ConfigGraph
from apiserver.auth.rbac import RBAC_KINDS, RBACAuthorizer
from apiserver.registry.registry import Registry, object_key
from apiserver.watchcache import Change, WatchCache

log = structlog.get_logger("auth")


def attach(rbac: RBACAuthorizer, cache: WatchCache) -> None:
    """Keep rbac's view equal to the watch cache: everything now, then every change."""
    rbac.replace(obj for kind in RBAC_KINDS for obj in cache.items(kind))

    def on_change(change: Change) -> None:
        if change.kind in RBAC_KINDS:
            rbac.apply_event(change.type, change.obj)

    cache.listeners.append(on_change)


def pod_node_lookup(cache: WatchCache):  # -> PodNode
    pods = kind_info("Pod")

    def pod_node(namespace: str, name: str) -> str | None:
        pod = cache.get("Pod", object_key(pods, namespace or "default", name))
        return None if pod is None else pod.spec.node_name  # type: ignore[attr-defined]
    return pod_node


def config_graph(cache: WatchCache) -> ConfigGraph:
    """The ConfigMaps, Secrets and claims each node's Pods refer to, and the volumes bound to
    those claims, kept equal to the watch cache."""
    graph = ConfigGraph()
    graph.replace(cache.items("Pod"))  # type: ignore[arg-type]
    graph.replace_claims(cache.items("PersistentVolumeClaim"))  # type: ignore[arg-type]

    def on_change(change: Change) -> None:
        if change.kind == "Pod":
            if change.type == "DELETED":
                graph.remove(change.obj)  # type: ignore[arg-type]
            else:
                graph.set(change.obj)  # type: ignore[arg-type]
        elif change.kind == "PersistentVolumeClaim":
            if change.type == "DELETED":
                graph.remove_claim(change.obj)  # type: ignore[arg-type]
            else:
                graph.set_claim(change.obj)  # type: ignore[arg-type]

    cache.listeners.append(on_change)
    return graph


def node_authorizer(cache: WatchCache) -> NodeAuthorizer:
    return NodeAuthorizer(pod_node_lookup(cache), config_graph(cache).allows)


def new_authorizer(cache: WatchCache) -> tuple[UnionAuthorizer, RBACAuthorizer]:
    """Node, then RBAC, both over the watch cache."""
    rbac = RBACAuthorizer()
    attach(rbac, cache)
    return UnionAuthorizer(node_authorizer(cache), rbac), rbac


MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")


def authorizer_for(modes: str, cache: WatchCache) -> Authorizer:
    """The authorizer for ``--authorization-mode`` ("AlwaysAllow", "Node,RBAC", ...): any of
    them may allow a request, asked in the order given."""
    names = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODES]
    if not names or unknown:
        raise ValueError(f'unknown authorization mode "{",".join(unknown) or modes}" (known: {", ".join(MODES)})')
    made: list[Authorizer] = []
    for name in names:
        if name == "RBAC":
            rbac = RBACAuthorizer()
            attach(rbac, cache)
            made.append(rbac)
        elif name == "Node":
            made.append(node_authorizer(cache))
        else:
            made.append(AlwaysAllow() if name == "AlwaysAllow" else AlwaysDeny())
    return made[0] if len(made) == 1 else UnionAuthorizer(*made)


def ensure_bootstrap_policy(registry: Registry) -> list[str]:
    """Create the bootstrap ClusterRoles and ClusterRoleBindings that are absent; returns
    what was created (as kind/name)."""
    def exists(kind: str, name: str) -> bool:
        return registry.cache.get(kind, object_key(kind_info(kind), "", name)) is not None

    created = []
    for obj in bootstrap.missing(exists):
        try:
            registry.create(obj)
        except errors.AlreadyExists:
            continue
        created.append(f"{type(obj).__name__}/{obj.metadata.name}")  # type: ignore[attr-defined]
    if created:
        log.info("created the bootstrap RBAC policy", objects=len(created))
    return created
