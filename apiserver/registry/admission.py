"""Admission: the checks a write must pass once the registry knows the objects it would
store, run for the user the filter chain authenticated (``auth.request_user``).

Kubernetes runs these as admission plugins and registry strategies after authorization:

* DefaultStorageClass (``mutate``, on create): a PersistentVolumeClaim without
  ``storageClassName`` gets the default StorageClass's name; StorageObjectInUseProtection:
  new claims and volumes get the pvc-/pv-protection finalizers.

* NodeRestriction (``auth.node.NodeRestriction.admit``): a kubelet (group system:nodes)
  writes only its own Node, without taints or labels that steer workloads onto it, its
  own Lease, and the status of Pods bound to it.
* RBAC escalation prevention (``auth.escalation``): a Role or ClusterRole is written only
  by someone who holds its rules (or may ``escalate``), a RoleBinding or
  ClusterRoleBinding only by someone who holds the role's rules (or may ``bind`` it).
  Only with the RBAC authorizer: under AlwaysAllow everyone may do anything anyway.

A refusal raises ``errors.PermissionDenied`` (Kubernetes' 403 Forbidden) with Kubernetes' message before
anything is written; the registry calls ``admit`` while planning a write, so a refused
op of a Batch or object of an Apply writes nothing. Without a user (the apiserver's own
writes: bootstrap policy, namespace cleanup) nothing is checked; system:masters, the
plaintext server's system:unsecured included, passes both."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo
from apiserver import errors
from apiserver.auth import request_user
from apiserver.auth.attributes import Attributes, Authorizer, group_of
from apiserver.auth.escalation import check_binding, check_role
from apiserver.auth.modes import UnionAuthorizer
from apiserver.auth.node import NodeRestriction, node_identity
from apiserver.auth.rbac import RBACAuthorizer
from apiserver.registry.storage import default_storage_class, in_use_protection
from protos import api_pb2

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")


def find_rbac(authorizer: Authorizer | None) -> RBACAuthorizer | None:
    """The RBAC authorizer among authorizer (a union of several, or one), if any."""
    if isinstance(authorizer, RBACAuthorizer):
        return authorizer
    if isinstance(authorizer, UnionAuthorizer):
        return next((a for a in authorizer.authorizers if isinstance(a, RBACAuthorizer)), None)
    return None


def _only_gc_fields_changed(new: Message, old: Message | None) -> bool:
    """Kubernetes' IsOnlyMutatingGCFields: an update touching only ownerReferences and
    finalizers (the garbage collector's) is not checked for escalation."""
    if old is None:
        return False
    clone = type(new)()
    clone.CopyFrom(new)
    meta, old_meta = clone.metadata, old.metadata  # type: ignore[attr-defined]
    del meta.owner_references[:]
    meta.owner_references.extend(old_meta.owner_references)
    del meta.finalizers[:]
    meta.finalizers.extend(old_meta.finalizers)
    meta.resource_version = old_meta.resource_version
    return clone == old


class Admission:
    """The registry's admission chain; ``authorizer`` is the server's (for escalate/bind)."""

    def __init__(self, authorizer: Authorizer | None = None) -> None:
        self.authorizer = authorizer
        self.rbac = find_rbac(authorizer)

    def mutate(self, info: KindInfo, new: Message, items: Callable[[str], Iterable[Message]]) -> None:
        """The mutating admission plugins on a create, for every user (the apiserver's own
        writes included): DefaultStorageClass, StorageObjectInUseProtection. ``items(kind)`` lists the stored objects."""
        if info.kind == "PersistentVolumeClaim":
            default_storage_class(new, list(items("StorageClass")))  # type: ignore[arg-type]
        if info.kind in ("PersistentVolumeClaim", "PersistentVolume"):
            in_use_protection(new)  # type: ignore[arg-type]

    def admit(self, info: KindInfo, verb: str, old: Message | None, new: Message | None,
              subresource: str = "", grace_period_seconds: int | None = None) -> None:
        """Raise Forbidden when the current user may not make this write of info's kind:
        verb create/update/patch/delete, old the stored object (None for a create), new
        the object to store (None for a delete)."""
        user = request_user.current()
        if user is None:
            return
        if node_identity(user) is not None:
            obj = new if new is not None else old
            meta = obj.metadata  # type: ignore[union-attr]
            attrs = Attributes(user, verb, group_of(info), info.plural, subresource, meta.namespace, meta.name)
            options = None
            if verb == "delete":
                options = api_pb2.DeleteRequest()
                if grace_period_seconds is not None:
                    options.grace_period_seconds = grace_period_seconds
            refusal = NodeRestriction.admit(attrs, old, new, options)
            if refusal:
                raise errors.PermissionDenied(refusal)
        if self.rbac is None or new is None or subresource or verb == "delete":
            return
        if info.kind in ROLE_KINDS + BINDING_KINDS and not _only_gc_fields_changed(new, old):
            check = check_role if info.kind in ROLE_KINDS else check_binding
            refusal = check(user, new, self.authorizer, self.rbac)  # type: ignore[arg-type]
            if refusal:
                raise errors.PermissionDenied(refusal)
