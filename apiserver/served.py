"""What the API serves on each kind: its verbs and its subresources, one definition read by
both faces' discovery (the gRPC Discovery call in service.py, the HTTP discovery documents
in rest/discovery.py) so that they never disagree.

Verbs are Kubernetes' (``kubectl api-resources -o wide`` prints them). Over HTTP every kind
takes the eight standard verbs; Kubernetes gives Namespaces no ``deletecollection``, and
neither does pykube. The gRPC face has no Patch and no DeleteCollection call (pykubectl
sends whole objects), so it announces the verbs without those two.

Subresources are the paths under one object (``pods/{name}/status``): the status of every
kind that has one, the Pod's binding (the scheduler's), eviction (``kubectl drain``), log
and exec, and the scale of Deployments, ReplicaSets and StatefulSets (``kubectl scale``). Some answer
with a kind of another group: an eviction is a ``policy/v1`` Eviction, a scale an
``autoscaling/v1`` Scale, and discovery says so (kubectl looks for exactly that).
"""

from __future__ import annotations

from dataclasses import dataclass

from apimachinery.kinds import KindInfo

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# The verbs that are HTTP requests only: no gRPC call does them.
HTTP_ONLY_VERBS = frozenset({"patch", "deletecollection"})
GRPC_VERBS = tuple(verb for verb in VERBS if verb not in HTTP_ONLY_VERBS)
# Kinds without deletecollection (Kubernetes deletes namespaces one by one).
NO_DELETECOLLECTION = frozenset({"Namespace"})

STATUS_VERBS = ("get", "patch", "update")
SCALE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """One subresource of a kind: its name, the kind it takes and answers with (its group
    and version, when not the parent's), and its verbs."""

    name: str                # "status", "eviction"
    kind: str                # "Pod", "Eviction"
    verbs: tuple[str, ...]
    group: str | None = None  # None: the parent's group and version
    version: str | None = None


# Subresources beyond status, by the parent kind.
_EXTRA: dict[str, tuple[Subresource, ...]] = {
    "Pod": (
        Subresource("binding", "Binding", ("create",)),
        Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
        Subresource("exec", "PodExecOptions", ("create", "get")),
        Subresource("log", "Pod", ("get",)),
    ),
    "Deployment": (Subresource("scale", "Scale", SCALE_VERBS, group="autoscaling", version="v1"),),
    "ReplicaSet": (Subresource("scale", "Scale", SCALE_VERBS, group="autoscaling", version="v1"),),
    "StatefulSet": (Subresource("scale", "Scale", SCALE_VERBS, group="autoscaling", version="v1"),),
}


def verbs(info: KindInfo, http: bool = True) -> tuple[str, ...]:
    """The verbs served on info's kind: over HTTP (http=True) or as gRPC calls."""
    served = VERBS if http else GRPC_VERBS
    if info.kind in NO_DELETECOLLECTION:
        served = tuple(verb for verb in served if verb != "deletecollection")
    return served


def subresources(info: KindInfo) -> tuple[Subresource, ...]:
    """info's kind's subresources over HTTP, by name."""
    found = list(_EXTRA.get(info.kind, ()))
    if info.has_status:
        found.append(Subresource("status", info.kind, STATUS_VERBS))
    return tuple(sorted(found, key=lambda sub: sub.name))
