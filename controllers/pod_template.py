"""The Pod a workload controller makes from its template: Kubernetes' GetPodFromTemplate
(pkg/controller/controller_utils.go), shared by the ReplicaSet, Job, DaemonSet and
StatefulSet controllers.

generateName "<owner>-", the template's labels, annotations, finalizers and spec, and the
owner's controller reference. Each controller adds what is its own (a DaemonSet's node and
tolerations, a StatefulSet's name and identity, the revision labels)."""

from __future__ import annotations

from google.protobuf.message import Message

from apimachinery.objects import new_controller_ref
from protos import core_pb2, meta_pb2


def pod_from_template(owner: Message) -> core_pb2.Pod:
    """A new Pod of ``owner`` (any kind with ``spec.template``: a PodTemplateSpec)."""
    template = owner.spec.template  # type: ignore[attr-defined]
    meta = owner.metadata  # type: ignore[attr-defined]
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(
        generate_name=f"{meta.name}-", namespace=meta.namespace,
        labels=dict(template.metadata.labels), annotations=dict(template.metadata.annotations),
        finalizers=list(template.metadata.finalizers), owner_references=[new_controller_ref(owner)]))
    pod.spec.CopyFrom(template.spec)
    return pod
