"""What a request asks to do (Kubernetes' authorizer.Attributes), and who may decide.

STAND-IN: the rbac branch of issue 12 owns this module (the real ``attributes_for``,
``Authorizer``, ``Decision`` and ``forbidden_message``). This minimal version has the
shared contract's shapes so the request filters (apiserver/filters.py) can be built and
tested before the branches meet; the integrator keeps rbac's.

``attributes_for(method, request, user)`` maps one call of pykube.v1.API to the
Kubernetes requests it stands for: one for most calls, one per object or op for Apply
and Batch, none for Version and Discovery (public information, as Kubernetes'
system:public-info-viewer and system:discovery roles grant to everyone). For the
client-streaming calls (Exec, PortForward) ``request`` is the stream's first message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from apimachinery.identity import UserInfo
from apimachinery.kinds import BY_KIND, KindInfo, info_of, unwrap, UnknownKindError


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str            # get list watch create update patch delete deletecollection (Kubernetes verbs)
    api_group: str       # "" for core, "apps", "rbac.authorization.k8s.io", ...
    resource: str        # plural lower case: "pods", "nodes", "leases"
    subresource: str = ""  # "status", "binding", "log", "exec", "portforward", "eviction"
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> Decision: ...


def _group(info: KindInfo) -> str:
    return info.api_version.rpartition("/")[0]


def _named(user: UserInfo, verb: str, kind: str, namespace: str, name: str, subresource: str = "",
           default_namespace: bool = True) -> Attributes:
    info = BY_KIND.get(kind)
    if info is None:  # the handler answers it; authorize what was asked for
        return Attributes(user, verb, "", kind.lower(), subresource, namespace, name)
    if info.namespaced:
        namespace = namespace or ("default" if default_namespace else "")
    else:
        namespace = ""
    return Attributes(user, verb, _group(info), info.plural, subresource, namespace, name)


def _of_object(user: UserInfo, verb: str, wrapped: Any, subresource: str = "", with_name: bool = True) -> Attributes:
    try:
        info = info_of(wrapped)
    except UnknownKindError:
        return Attributes(user, verb, "", "", subresource)
    meta = unwrap(wrapped).metadata
    return _named(user, verb, info.kind, meta.namespace, meta.name if with_name else "", subresource)


def _pods(user: UserInfo, verb: str, subresource: str, namespace: str, name: str) -> Attributes:
    return _named(user, verb, "Pod", namespace, name, subresource)


def _start(user: UserInfo, subresource: str, first: Any) -> Attributes:
    start = first.start if first is not None else None
    return _pods(user, "create", subresource, start.namespace if start is not None else "",
                 start.pod if start is not None else "")


def _batch_op(user: UserInfo, op: Any) -> list[Attributes]:
    which = op.WhichOneof("op")
    if which is None:
        return []
    return _ONE[_BATCH_METHODS[which]](user, getattr(op, which))


_ONE: dict[str, Any] = {
    # Kubernetes authorizes a create on the collection: resourceNames cannot restrict it.
    "Create": lambda u, r: [_of_object(u, "create", r.object, with_name=False)],
    "Get": lambda u, r: [_named(u, "get", r.kind, r.namespace, r.name)],
    "List": lambda u, r: [_named(u, "list", r.kind, r.namespace, "", default_namespace=False)],
    "Watch": lambda u, r: [_named(u, "watch", r.kind, r.namespace, "", default_namespace=False)],
    "WatchBatches": lambda u, r: [_named(u, "watch", r.kind, r.namespace, "", default_namespace=False)],
    "Update": lambda u, r: [_of_object(u, "update", r.object)],
    "UpdateStatus": lambda u, r: [_of_object(u, "update", r.object, "status")],
    "Delete": lambda u, r: [_named(u, "delete", r.kind, r.namespace, r.name)],
    # Server-side apply is a patch in Kubernetes.
    "Apply": lambda u, r: [_of_object(u, "patch", o) for o in r.objects],
    "Bind": lambda u, r: [_pods(u, "create", "binding", r.namespace, r.name)],
    "Batch": lambda u, r: [a for op in r.ops for a in _batch_op(u, op)],
    "Version": lambda u, r: [],
    "Discovery": lambda u, r: [],
    "Logs": lambda u, r: [_pods(u, "get", "log", r.namespace, r.pod)],
    # For these two `r` is the stream's first message (None if the client sent none).
    "Exec": lambda u, r: [_start(u, "exec", r)],
    "PortForward": lambda u, r: [_start(u, "portforward", r)],
}
_BATCH_METHODS = {"create": "Create", "update": "Update", "update_status": "UpdateStatus", "delete": "Delete",
                  "bind": "Bind"}


def attributes_for(method_name: str, request: Any, user: UserInfo) -> list[Attributes]:
    """The Kubernetes requests one API call stands for (see the module docstring)."""
    return _ONE[method_name](user, request)


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """Kubernetes' wording for a denied request (responsewriters.forbiddenMessage +
    errors.NewForbidden): ``pods "web" is forbidden: User "alice" cannot get resource
    "pods" in API group "" in the namespace "default"``."""
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    why = (f'User "{attrs.user.name}" cannot {attrs.verb} resource "{resource}" '
           f'in API group "{attrs.api_group}" {where}')
    if reason:
        why = f"{why}: {reason}"
    group_resource = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{group_resource} "{attrs.name}"' if attrs.name else group_resource
    return f"{subject} is forbidden: {why}"
