"""The per-kind strategy: how objects of one kind are defaulted, validated and
prepared for create/update, as Kubernetes' registry strategies do it.

The apiserver's request handling (``apiserver.registry.Registry``) is generic; what is
special about a kind lives in a Strategy subclass in a module of its own."""

from __future__ import annotations

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, kind_info
from apiserver.registry import validation as v
from protos import meta_pb2

ANNOTATIONS_MAX_BYTES = 256 * 1024


class Strategy:
    kind: str = ""
    # Names of this kind: DNS-1123 subdomain for most kinds, label for Namespaces.
    name_is_label: bool = False

    def __init__(self) -> None:
        self.info: KindInfo = kind_info(self.kind)
        fields = self.info.message.DESCRIPTOR.fields_by_name
        self.has_spec = "spec" in fields
        self.has_status = self.info.has_status

    # ---------------------------------------------------------------- hooks

    def default(self, obj: Message) -> None:
        """Fill in the defaults Kubernetes fills in (restartPolicy, replicas, ...)."""

    def validate(self, obj: Message) -> list[v.FieldError]:
        """Kind-specific rules for a whole object (metadata is checked generically)."""
        return []

    def validate_update(self, new: Message, old: Message) -> list[v.FieldError]:
        """Extra rules for an update, such as immutable fields."""
        return []

    def initial_status(self, obj: Message) -> None:
        """The status an object starts with (a new Pod is Pending)."""

    # ------------------------------------------ what an object holds beyond itself
    # A Service holds a ClusterIP and NodePorts no other Service may hold. The registry keeps
    # such holdings equal to what is stored: reserve() for each write it plans (after
    # validation), release(kept=new, dropped=old) once the write is committed (new is None
    # for a delete), release(kept=old, dropped=new) when a planned write is abandoned (a dry
    # run, a failed commit, another object of the same apply refused), and restore() for
    # every stored object when it loads. Kinds that hold nothing leave these as they are.

    def reserve(self, new: Message, old: Message | None) -> list[v.FieldError]:
        """Take what new holds beyond old, filling in values new leaves to the server.
        On errors nothing is taken."""
        return []

    def release(self, kept: Message | None, dropped: Message | None) -> None:
        """Give back what dropped holds and kept does not."""

    def restore(self, obj: Message) -> None:
        """Take what a stored object holds (the registry is loading)."""

    # ------------------------------------------------------- generic parts

    def prepare_for_create(self, obj: Message) -> None:
        """Clients do not set status on create: the owning controller does."""
        if self.has_status:
            obj.ClearField("status")
            self.initial_status(obj)

    def prepare_for_update(self, new: Message, old: Message) -> None:
        """Update never changes status (that is UpdateStatus' job)."""
        if self.has_status:
            new.ClearField("status")
            if old.HasField("status"):
                new.status.CopyFrom(old.status)

    def prepare_for_status_update(self, new: Message, old: Message) -> Message:
        """UpdateStatus takes only status: the result is the old object with new status."""
        result = type(old)()
        result.CopyFrom(old)
        if self.has_status:
            result.ClearField("status")
            if new.HasField("status"):
                result.status.CopyFrom(new.status)
        return result

    def spec_changed(self, new: Message, old: Message) -> bool:
        """A spec change bumps metadata.generation."""
        if self.has_spec:
            return new.spec != old.spec
        return False

    def validate_name(self, name: str) -> list[v.FieldError]:
        """metadata.name's rule: a DNS-1123 subdomain for most kinds, a label for Namespaces
        (RBAC kinds override it: any path segment)."""
        if self.name_is_label:
            return v.dns1123_label("metadata.name", name)
        return v.dns1123_subdomain("metadata.name", name)

    def validate_metadata(self, meta: meta_pb2.ObjectMeta) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        if not meta.name:
            errs.append(v.required("metadata.name", "name or generateName is required"))
        else:
            errs += self.validate_name(meta.name)
        if self.info.namespaced:
            errs += v.dns1123_label("metadata.namespace", meta.namespace)
        errs += v.labels("metadata.labels", meta.labels)
        for key in meta.annotations:
            errs += v.qualified_name("metadata.annotations", key)
        size = sum(len(k) + len(val) for k, val in meta.annotations.items())
        if size > ANNOTATIONS_MAX_BYTES:
            errs.append(v.too_long("metadata.annotations", ANNOTATIONS_MAX_BYTES))
        controllers = 0
        for i, ref in enumerate(meta.owner_references):
            path = f"metadata.ownerReferences[{i}]"
            for field, value in (("apiVersion", ref.api_version), ("kind", ref.kind),
                                 ("name", ref.name), ("uid", ref.uid)):
                if not value:
                    errs.append(v.required(f"{path}.{field}"))
            controllers += ref.controller
        if controllers > 1:
            errs.append(v.invalid("metadata.ownerReferences", controllers,
                                  "Only one reference can have Controller set to true"))
        for i, finalizer in enumerate(meta.finalizers):
            errs += v.qualified_name(f"metadata.finalizers[{i}]", finalizer)
        return errs
