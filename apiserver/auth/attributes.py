"""What a request asks to do, in Kubernetes' authorization terms, and how a denial reads.

Kubernetes authorizes every request by its ``authorizer.Attributes``: the user, a verb
(get list watch create update patch delete), the resource's API group, resource and
subresource, namespace and name; or, for a non-resource request, a verb and a URL path.
pykube's API is gRPC, not REST, so ``attributes_for`` maps each call of ``pykube.v1.API``
to the attributes of the REST request Kubernetes would have received for it:

=============  ===========================================================================
Create          create <resource> in the object's namespace (no name: as a POST to the
                collection, so resourceNames cannot restrict create, as in Kubernetes)
Get             get <resource> <name>
List, Watch,    list / watch <resource>, in the namespace or cluster-wide (empty namespace);
WatchBatches    a ``metadata.name=x`` field selector names the object, as Kubernetes does
Update          update <resource> <name>
UpdateStatus    update <resource>/status <name>
Delete          delete <resource> <name>
Apply           per object: patch when it exists, create when it does not (pykube's Apply is
                kubectl's client-side apply done on the server: GET, then PATCH or POST).
                Without an ``exists`` lookup both are required (allowed either way)
Bind            create pods/binding <pod>
Batch           each op as its call alone (``batch_op_attributes``: one list per op, so a
                denied op is answered on its own, as Batch answers every op)
Logs            get pods/log <pod>
Exec            create pods/exec <pod> (Kubernetes >= 1.30 checks create, not get)
PortForward     create pods/portforward <pod>
Version         get, non-resource path /version (system:public-info-viewer allows it)
Discovery       get, non-resource path /apis (system:discovery allows it)
SelfSubject-    create selfsubjectaccessreviews.authorization.k8s.io (system:basic-user allows
AccessReview    it); with --as first impersonate users/groups/serviceaccounts (access_review.py)
=============  ===========================================================================

Exec and PortForward are client streams: their attributes come from the first message
(the ``start``), which the caller reads before authorizing.

``Attributes.path`` is this module's addition to the shared contract (Kubernetes'
GetPath): set only for non-resource requests, which have no resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from google.protobuf.message import Message

from apimachinery.identity import ANONYMOUS, UserInfo, authenticated_user
from apimachinery.kinds import BY_KIND, KindInfo, UnknownKindError, info_of, unwrap
from apimachinery.selectors import FieldSelector, SelectorError
from protos import api_pb2, kubelet_pb2


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str            # get list watch create update patch delete deletecollection (Kubernetes verbs)
    api_group: str       # "" for core, "apps", "rbac.authorization.k8s.io", ...
    resource: str        # plural lower case: "pods", "nodes", "leases"
    subresource: str = ""  # "status", "binding", "log", "exec", "portforward", "eviction"
    namespace: str = ""
    name: str = ""
    path: str = ""       # a non-resource request's URL path ("/version"); "" for resource requests

    @property
    def is_resource_request(self) -> bool:
        return not self.path


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> Decision: ...


ALLOW = Decision(True)
NO_OPINION = Decision(False)


class UnmappedCallError(ValueError):
    """A call this module has no attributes for: deny it rather than guess."""


# ------------------------------------------------------------------ wording


def qualified_resource(attrs: Attributes) -> str:
    """Kubernetes' GroupResource.String(): ``pods``, ``deployments.apps`` (no subresource)."""
    return f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """The message of Kubernetes' 403, as its authorization filter words it:

    pods "x" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "dev"
    nodes is forbidden: User "system:node:n1" cannot list resource "nodes" in API group "" at the cluster scope
    forbidden: User "bob" cannot get path "/version"

    An authorizer's reason, when there is one, follows after ": "."""
    user = attrs.user.name
    if not attrs.is_resource_request:
        detail = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope")
        detail = f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'
    if reason:
        detail = f"{detail}: {reason}"
    if not attrs.is_resource_request or not attrs.resource:
        return f"forbidden: {detail}"
    if attrs.name:
        return f'{qualified_resource(attrs)} "{attrs.name}" is forbidden: {detail}'
    return f"{qualified_resource(attrs)} is forbidden: {detail}"


# ------------------------------------------------------------------ mapping


def group_of(info: KindInfo) -> str:
    return info.api_version.rpartition("/")[0]


def _kind(kind: str) -> KindInfo | None:
    return BY_KIND.get(kind)


def _resource(user: UserInfo, verb: str, kind: str, namespace: str, name: str,
              subresource: str = "", *, default_namespace: bool = True) -> Attributes:
    """Attributes for a request on kind. Namespaced kinds default to "default" as the
    registry does for one object (a collection's empty namespace means every namespace)."""
    info = _kind(kind)
    if info is None:  # unknown to the server: still a request (it will answer NotFound if allowed)
        return Attributes(user, verb, "", kind.lower(), subresource, namespace, name)
    if not info.namespaced:
        namespace = ""
    elif default_namespace:
        namespace = namespace or "default"
    return Attributes(user, verb, group_of(info), info.plural, subresource, namespace, name)


def _object(user: UserInfo, verb: str, wrapped: api_pb2.Object, subresource: str = "",
            with_name: bool = True) -> Attributes:
    try:
        obj: Message = unwrap(wrapped)
        info = info_of(obj)
    except UnknownKindError:
        return Attributes(user, verb, "", "", subresource)  # an empty object: INVALID_ARGUMENT later
    meta = obj.metadata  # type: ignore[attr-defined]
    return _resource(user, verb, info.kind, meta.namespace, meta.name if with_name else "", subresource)


def _collection(user: UserInfo, verb: str, kind: str, namespace: str, field_selector: str) -> Attributes:
    """list/watch: a single ``metadata.name=x`` selector term names the object (Kubernetes'
    RequestInfo does the same, so resourceNames can allow watching one object)."""
    name = ""
    if field_selector:
        try:
            name = FieldSelector.parse(field_selector, kind).required_value("metadata.name") or ""
        except SelectorError:
            name = ""  # the call itself will be refused as a bad request
    return _resource(user, verb, kind, namespace, name, default_namespace=False)


Exists = Callable[[str, str, str], bool]  # (kind, namespace, name) -> is it stored?


def _apply(user: UserInfo, request: api_pb2.ApplyRequest, exists: Exists | None) -> list[Attributes]:
    out: list[Attributes] = []
    for wrapped in request.objects:
        patch = _object(user, "patch", wrapped)
        create = _object(user, "create", wrapped, with_name=False)
        if exists is None:
            out += [patch, create]
            continue
        try:
            obj = unwrap(wrapped)
            kind, meta = info_of(obj).kind, obj.metadata  # type: ignore[attr-defined]
        except UnknownKindError:
            out.append(create)
            continue
        out.append(patch if exists(kind, patch.namespace, meta.name) else create)
    return out


def batch_op_attributes(op: api_pb2.BatchOp, user: UserInfo) -> list[Attributes]:
    """One op of a Batch, as its own call: Create, Update, UpdateStatus, Delete or Bind."""
    which = op.WhichOneof("op")
    if which == "create":
        return [_object(user, "create", op.create.object, with_name=False)]
    if which == "update":
        return [_object(user, "update", op.update.object)]
    if which == "update_status":
        return [_object(user, "update", op.update_status.object, "status")]
    if which == "delete":
        return [_resource(user, "delete", op.delete.kind, op.delete.namespace, op.delete.name)]
    if which == "bind":
        return [_resource(user, "create", "Pod", op.bind.namespace, op.bind.name, "binding")]
    return []  # an empty op: answered INVALID_ARGUMENT, nothing to authorize


def _pod_stream(user: UserInfo, verb: str, subresource: str, start: Message | None) -> list[Attributes]:
    if start is None:
        raise UnmappedCallError(f"pods/{subresource}: the first message must say which Pod")
    return [_resource(user, verb, "Pod", start.namespace, start.pod, subresource)]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ access reviews

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
AUTHORIZATION_GROUP = "authorization.k8s.io"
NO_USER_MESSAGE = "requested impersonation of groups without impersonating a user"


class ImpersonationError(UnmappedCallError):
    """An impersonation request that makes no sense (groups without a user)."""


def impersonated(request: api_pb2.SelfSubjectAccessReviewRequest) -> UserInfo | None:
    """The user the review is for when it impersonates one (Kubernetes' impersonation filter:
    the groups asked for, a service account's groups, and system:authenticated)."""
    name, groups = request.impersonate_user, list(request.impersonate_groups)
    if not name:
        if groups:
            raise ImpersonationError(NO_USER_MESSAGE)
        return None
    if name == ANONYMOUS.name:
        return UserInfo(name, tuple(dict.fromkeys(groups)))
    if name.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace = name[len(SERVICE_ACCOUNT_PREFIX):].partition(":")[0]
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return authenticated_user(name, groups)


def review_attributes(request: api_pb2.SelfSubjectAccessReviewRequest, caller: UserInfo) -> list[Attributes]:
    """What the call must be allowed: impersonation by the caller, then creating the review."""
    out = []
    target = impersonated(request)
    if target is not None:
        name = request.impersonate_user
        if name.startswith(SERVICE_ACCOUNT_PREFIX):
            namespace, _, account = name[len(SERVICE_ACCOUNT_PREFIX):].partition(":")
            out.append(Attributes(caller, "impersonate", "", "serviceaccounts", "", namespace, account))
        else:
            out.append(Attributes(caller, "impersonate", "", "users", "", "", name))
        out += [Attributes(caller, "impersonate", "", "groups", "", "", group)
                for group in dict.fromkeys(request.impersonate_groups)]
    out.append(Attributes(target or caller, "create", AUTHORIZATION_GROUP, "selfsubjectaccessreviews"))
    return out


def attributes_for(method_name: str, request: Message, user: UserInfo,
                   exists: Exists | None = None) -> list[Attributes]:
    """The attributes a call must be authorized for (every one of them).

    method_name: the RPC's name ("Create") or full gRPC method ("/pykube.v1.API/Create");
    request: its request message (for Exec and PortForward, the first stream message);
    exists: for Apply, whether an object is stored (see the module docstring)."""
    method = method_name.rpartition("/")[2]
    r = request
    if method == "Create":
        return [_object(user, "create", r.object, with_name=False)]  # type: ignore[attr-defined]
    if method == "Get":
        return [_resource(user, "get", r.kind, r.namespace, r.name)]  # type: ignore[attr-defined]
    if method == "List":
        return [_collection(user, "list", r.kind, r.namespace, r.field_selector)]  # type: ignore[attr-defined]
    if method in ("Watch", "WatchBatches"):
        return [_collection(user, "watch", r.kind, r.namespace, r.field_selector)]  # type: ignore[attr-defined]
    if method == "Update":
        return [_object(user, "update", r.object)]  # type: ignore[attr-defined]
    if method == "UpdateStatus":
        return [_object(user, "update", r.object, "status")]  # type: ignore[attr-defined]
    if method == "Delete":
        return [_resource(user, "delete", r.kind, r.namespace, r.name)]  # type: ignore[attr-defined]
    if method == "Apply":
        return _apply(user, r, exists)  # type: ignore[arg-type]
    if method == "Bind":
        return [_resource(user, "create", "Pod", r.namespace, r.name, "binding")]  # type: ignore[attr-defined]
    if method == "Batch":
        return [attrs for op in r.ops for attrs in batch_op_attributes(op, user)]  # type: ignore[attr-defined]
    if method == "Logs":
        return [_resource(user, "get", "Pod", r.namespace, r.pod, "log")]  # type: ignore[attr-defined]
    if method == "Exec":
        start = r.start if isinstance(r, kubelet_pb2.ExecInput) and r.HasField("start") else None
        return _pod_stream(user, "create", "exec", start)
    if method == "PortForward":
        start = r.start if isinstance(r, kubelet_pb2.PortForwardInput) and r.HasField("start") else None
        return _pod_stream(user, "create", "portforward", start)
    if method == "Version":
        return [Attributes(user, "get", "", "", path="/version")]
    if method == "Discovery":
        return [Attributes(user, "get", "", "", path="/apis")]
    if method == "SelfSubjectAccessReview":
        return review_attributes(r, user)  # type: ignore[arg-type]
    raise UnmappedCallError(f"no authorization attributes for the call {method_name!r}")
