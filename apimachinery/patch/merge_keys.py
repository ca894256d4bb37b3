"""How each list field of the API merges: Kubernetes' ``patchStrategy``/``patchMergeKey``
struct tags (strategic merge patch) and ``+listType``/``+listMapKey`` markers (server-side
apply), written once for the kinds pykube serves.

A list field not named here is *atomic*: a patch or an apply replaces it whole (Kubernetes'
default for lists without tags: tolerations, command, args, rules, subjects...).

* ``MAP_LISTS``: lists of objects merged item by item, matched by a key field
  (``containers`` by ``name``). ``merge_key`` is strategic merge patch's patchMergeKey;
  ``keys`` are server-side apply's listMapKeys (``ports``: containerPort + protocol).
* ``SET_LISTS``: lists of scalars merged as sets (``finalizers``): patchStrategy merge on a
  primitive list, SSA's listType=set.
* ``RETAIN_KEYS``: objects with patchStrategy ``retainKeys`` (a union: a type and the member
  it selects): a patch that gives the object drops the keys it does not give.
* ``ATOMIC_STRUCTS``: objects marked ``+structType=atomic`` (a label selector): server-side
  apply owns them whole, as a leaf.

Fields are named by the proto message's full name and the field's JSON name, because one
message (``Condition``) serves several Kubernetes types, all keyed alike."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor

P = "pykube.v1."


@dataclass(frozen=True)
class MapList:
    merge_key: str
    keys: tuple[str, ...]


def _map(merge_key: str, *extra: str) -> MapList:
    return MapList(merge_key, (merge_key, *extra))


MAP_LISTS: dict[tuple[str, str], MapList] = {
    (P + "PodSpec", "containers"): _map("name"),
    (P + "Container", "env"): _map("name"),
    (P + "Container", "ports"): _map("containerPort", "protocol"),
    (P + "PodStatus", "conditions"): _map("type"),
    (P + "PodStatus", "podIPs"): _map("ip"),
    (P + "NodeStatus", "conditions"): _map("type"),
    (P + "NodeStatus", "addresses"): _map("type"),
    (P + "ServiceSpec", "ports"): _map("port", "protocol"),
    (P + "ServiceStatus", "conditions"): _map("type"),
    (P + "DeploymentStatus", "conditions"): _map("type"),
    (P + "ReplicaSetStatus", "conditions"): _map("type"),
    (P + "ObjectMeta", "ownerReferences"): _map("uid"),
}

SET_LISTS: frozenset[tuple[str, str]] = frozenset({
    (P + "ObjectMeta", "finalizers"),
    (P + "NodeSpec", "podCIDRs"),
})

RETAIN_KEYS: frozenset[tuple[str, str]] = frozenset({
    (P + "DeploymentSpec", "strategy"),
})


def map_list(message: Descriptor, field: FieldDescriptor) -> MapList | None:
    """The merge key of a list of objects, or None when the list is atomic."""
    return MAP_LISTS.get((message.full_name, field.json_name))


def is_set_list(message: Descriptor, field: FieldDescriptor) -> bool:
    return (message.full_name, field.json_name) in SET_LISTS


def retains_keys(message: Descriptor, field: FieldDescriptor) -> bool:
    return (message.full_name, field.json_name) in RETAIN_KEYS


# Objects Kubernetes marks ``+structType=atomic``: server-side apply owns and replaces
# them whole (``f:selector: {}``), as it does an atomic list.
ATOMIC_STRUCTS: frozenset[str] = frozenset({
    P + "LabelSelector",
    P + "ObjectReference",
    P + "RoleRef",
})
