"""The plan for one Service: (Service, Pods, its existing slices) → slices to create, update, delete.

Kubernetes' endpointslice reconciler (reconcileByPortMapping, getSliceToFill,
finalize), kept close to the original so that the number of writes is as small:

1. Existing slices not controlled by this Service (a namesake's leftovers) and
   slices whose ports no Pod resolves to any more are to be deleted.
2. For each set of ports, the existing slices with those ports keep the endpoints
   still desired (taking the new version of any that changed) and drop the rest;
   a slice left empty is deleted, a changed one updated, an unchanged one kept.
3. Endpoints not placed yet fill the slices being updated anyway (fullest first),
   then, if fewer than a slice's worth remain, the unchanged slice that fits them
   most closely, then new slices of at most max_endpoints each.
4. A Service with no endpoints keeps one placeholder slice (no endpoints, no ports),
   so readers can tell "no endpoints" from "not synced yet".
5. Creates are turned into updates of slices about to be deleted (fewer writes, and
   slice names stay stable).

Nothing is written when nothing changed: every kept slice is compared with what
it would become. Endpoints keep their order within a slice; new ones are appended
in Pod-name order, so the plan is deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field

from apimachinery.objects import controller_ref, new_controller_ref
from controllers.endpointslice.endpoints import (
    ADDRESS_TYPE,
    PortKey,
    desired_endpoints,
    endpoint_key,
    port_key,
    same_endpoint,
    slice_labels,
)
from protos import core_pb2, discovery_pb2, meta_pb2

MAX_ENDPOINTS_PER_SLICE = 100  # --max-endpoints-per-slice


@dataclass
class SlicePlan:
    create: list[discovery_pb2.EndpointSlice] = field(default_factory=list)
    update: list[discovery_pb2.EndpointSlice] = field(default_factory=list)
    delete: list[discovery_pb2.EndpointSlice] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def owned_by(slice_: discovery_pb2.EndpointSlice, service: core_pb2.Service) -> bool:
    ref = controller_ref(slice_)
    return ref is not None and ref.kind == "Service" and ref.uid == service.metadata.uid


def new_slice(service: core_pb2.Service, ports: list[discovery_pb2.EndpointPort]) -> discovery_pb2.EndpointSlice:
    """newEndpointSlice: generateName "<service>-", the labels, the controller reference."""
    meta = meta_pb2.ObjectMeta(generate_name=f"{service.metadata.name}-", namespace=service.metadata.namespace,
                               labels=slice_labels(service), owner_references=[new_controller_ref(service)])
    return discovery_pb2.EndpointSlice(metadata=meta, address_type=ADDRESS_TYPE, ports=ports)


def _copy(slice_: discovery_pb2.EndpointSlice) -> discovery_pb2.EndpointSlice:
    out = discovery_pb2.EndpointSlice()
    out.CopyFrom(slice_)
    return out


def _set_endpoints(slice_: discovery_pb2.EndpointSlice, endpoints: list[discovery_pb2.Endpoint]) -> None:
    del slice_.endpoints[:]
    slice_.endpoints.extend(endpoints)


def _with_labels(slice_: discovery_pb2.EndpointSlice, service: core_pb2.Service) -> bool:
    """Bring the slice's labels up to date (on a copy the caller owns); True if they changed."""
    wanted = slice_labels(service)
    if dict(slice_.metadata.labels) == wanted:
        return False
    slice_.metadata.labels.clear()
    slice_.metadata.labels.update(wanted)
    return True


def _slice_to_fill(unchanged: list[discovery_pb2.EndpointSlice], count: int,
                   max_endpoints: int) -> discovery_pb2.EndpointSlice | None:
    """getSliceToFill: the unchanged slice with the least room that still holds `count` more."""
    fitting = [s for s in unchanged if max_endpoints - len(s.endpoints) >= count]
    return min(fitting, key=lambda s: max_endpoints - len(s.endpoints), default=None)


def _reconcile_ports(service: core_pb2.Service, ports: list[discovery_pb2.EndpointPort],
                     desired: dict, existing: list[discovery_pb2.EndpointSlice], max_endpoints: int,
                     plan: SlicePlan) -> None:
    """reconcileByPortMapping for the slices of one set of ports."""
    desired = dict(desired)
    to_update: list[discovery_pb2.EndpointSlice] = []
    unchanged: list[discovery_pb2.EndpointSlice] = []
    for current in existing:
        kept = []
        changed = False
        for endpoint in current.endpoints:
            want = desired.pop(endpoint_key(endpoint), None)
            if want is None:
                changed = True  # no longer desired (or a duplicate): dropped
                continue
            kept.append(want)
            changed = changed or not same_endpoint(want, endpoint)
        if changed and not kept:
            plan.delete.append(current)
            continue
        updated = _copy(current)
        labels_changed = _with_labels(updated, service)
        if changed:
            _set_endpoints(updated, kept)
        if changed or labels_changed:
            to_update.append(updated)
        else:
            unchanged.append(current)

    # Endpoints left over go first into the slices written anyway, the fullest first.
    for updated in sorted(to_update, key=lambda s: -len(s.endpoints)):
        while desired and len(updated.endpoints) < max_endpoints:
            updated.endpoints.append(desired.pop(next(iter(desired))))
    plan.update.extend(to_update)

    while desired:
        target = None
        if len(desired) < max_endpoints:
            fit = _slice_to_fill(unchanged, len(desired), max_endpoints)
            if fit is not None:
                unchanged.remove(fit)
                target = _copy(fit)
                plan.update.append(target)
        if target is None:
            target = new_slice(service, ports)
            plan.create.append(target)
        while desired and len(target.endpoints) < max_endpoints:
            target.endpoints.append(desired.pop(next(iter(desired))))


def _placeholder_equal(slice_: discovery_pb2.EndpointSlice, service: core_pb2.Service) -> bool:
    """placeholderSliceCompare: no endpoints, no ports, the labels and owner it should have."""
    return (not slice_.endpoints and not slice_.ports and slice_.address_type == ADDRESS_TYPE
            and dict(slice_.metadata.labels) == slice_labels(service) and owned_by(slice_, service))


def plan_endpoint_slices(service: core_pb2.Service, pods: list[core_pb2.Pod],
                         existing: list[discovery_pb2.EndpointSlice],
                         max_endpoints: int = MAX_ENDPOINTS_PER_SLICE) -> SlicePlan:
    """What to write so that the Service's managed slices hold exactly its endpoints.

    `existing` are the slices this controller manages for the Service (by label);
    `pods` may be every Pod of the namespace. A Service without selector gets none."""
    plan = SlicePlan()
    if not service.spec.selector:
        plan.delete = list(existing)
        return plan
    by_ports: dict[PortKey, list[discovery_pb2.EndpointSlice]] = {}
    for current in sorted(existing, key=lambda s: s.metadata.name):
        if owned_by(current, service) and current.address_type == ADDRESS_TYPE:
            by_ports.setdefault(port_key(current.ports), []).append(current)
        else:
            plan.delete.append(current)
    desired = desired_endpoints(service, pods)
    for key, (ports, endpoints) in desired.items():
        _reconcile_ports(service, ports, endpoints, by_ports.pop(key, []), max_endpoints, plan)
    for leftover in by_ports.values():
        plan.delete.extend(leftover)

    if len(plan.delete) == len(existing) and not plan.create:
        placeholder = new_slice(service, [])
        if len(plan.delete) == 1 and _placeholder_equal(plan.delete[0], service):
            plan.delete.clear()  # the placeholder is already there
        else:
            plan.create.append(placeholder)
    _recycle_deletes(plan)
    return plan


def _recycle_deletes(plan: SlicePlan) -> None:
    """finalize: a slice to create takes the place of one to delete (one update, not two writes)."""
    while plan.create and plan.delete:
        created, doomed = plan.create.pop(0), plan.delete.pop(0)
        recycled = _copy(doomed)
        recycled.metadata.labels.clear()
        recycled.metadata.labels.update(created.metadata.labels)
        del recycled.metadata.owner_references[:]
        recycled.metadata.owner_references.extend(created.metadata.owner_references)
        recycled.address_type = created.address_type
        del recycled.ports[:]
        recycled.ports.extend(created.ports)
        _set_endpoints(recycled, list(created.endpoints))
        plan.update.append(recycled)
