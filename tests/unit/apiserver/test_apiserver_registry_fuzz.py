"""Every API call of the registry, fed mutated objects and hostile names (hypothesis): the answer
is a result or a deliberate API error (Invalid/BadRequest, NotFound, AlreadyExists, Conflict,
Forbidden, TooLarge), never an internal error or an uncaught exception; and a refused write
leaves everything as it was: the store's items and revision, the watch cache, the ClusterIPs
and NodePorts held.

The registry runs over the in-memory store, seeded with one valid object of every kind, so
updates, deletes and binds meet real objects as well as missing ones."""

from __future__ import annotations

import functools
from typing import Any, Callable

import grpc
import pytest
from fuzz_testlib import FUZZ, ODD_NUMBERS, ODD_STRINGS, SEEDS, mutated_manifests
from hypothesis import given
from hypothesis import strategies as st

from apimachinery.convert import ConversionError, from_dict
from apimachinery.kinds import info_of
from apiserver import errors
from apiserver.registry.registry import Registry
from apiserver.storage import MUST_NOT_EXIST, Change
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache

DELIBERATE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
              grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED)
KINDS = sorted({seed["kind"] for seed in SEEDS})


@functools.cache
def seeded_items() -> list[Change]:
    """The store's contents once every seed is applied (computed once, loaded into each new store)."""
    registry = Registry(MemoryStore(), WatchCache(history_size=100), clock=lambda: 1_700_000_000.0)
    registry.apply([from_dict(seed) for seed in SEEDS])
    return [Change(item.key, item.value, MUST_NOT_EXIST) for item in registry.store.load()[0]]


def seeded_registry() -> Registry:
    store = MemoryStore()
    store.commit(seeded_items())
    return Registry(store, WatchCache(history_size=100), clock=lambda: 1_700_000_000.0)


@pytest.fixture(scope="module")
def pristine() -> list[Any]:
    return [from_dict(seed) for seed in SEEDS]


def snapshot(registry: Registry) -> tuple[Any, ...]:
    items, revision = registry.store.load()
    services = registry.strategies["Service"]
    return (revision, [(i.key, i.value, i.revision) for i in items], registry.cache.revision,
            services.cluster_ips.free(), services.node_ports.free())  # type: ignore[attr-defined]


def call(registry: Registry, op: Callable[[], Any], writes: bool = True) -> Any:
    """Run op; an error must be a deliberate API error, and a refused write must change nothing."""
    before = snapshot(registry)
    try:
        return op()
    except errors.APIError as err:
        assert err.code in DELIBERATE, f"internal error: {err.code} {err.message}"
        assert "\n" not in err.message and len(err.message.encode()) <= errors.MAX_MESSAGE_BYTES, err.message
        if writes:
            assert snapshot(registry) == before, f"a refused write changed the store: {err.message}"
        return err


def converted(manifest: dict[str, Any]) -> Any:
    try:
        return from_dict(manifest)
    except ConversionError:
        return None  # refused before any request (the conversion fuzz covers these)


@FUZZ
@given(manifest=mutated_manifests(), dry_run=st.booleans())
def test_create_and_apply_of_mutated_objects(manifest: dict[str, Any], dry_run: bool) -> None:
    registry = seeded_registry()
    obj = converted(manifest)
    if obj is None:
        return
    call(registry, lambda: registry.create(obj, dry_run=dry_run))
    call(registry, lambda: registry.apply([obj], dry_run=dry_run))
    call(registry, lambda: registry.apply([obj, obj]))


@FUZZ
@given(manifest=mutated_manifests(), dry_run=st.booleans())
def test_update_and_update_status_of_mutated_objects(manifest: dict[str, Any], dry_run: bool) -> None:
    registry = seeded_registry()
    obj = converted(manifest)
    if obj is None:
        return
    call(registry, lambda: registry.update(obj, dry_run=dry_run))
    call(registry, lambda: registry.update_status(obj, dry_run=dry_run))


names = st.one_of(st.sampled_from(ODD_STRINGS), st.sampled_from(["web", "n1", "team-a", "web-1", "web-abc",
                                                                  "multi-worker", "client-node-port"]))


@FUZZ
@given(kind=st.sampled_from(KINDS + ["Gadget", ""]), namespace=names, name=names,
       grace=st.one_of(st.none(), st.sampled_from([n for n in ODD_NUMBERS if isinstance(n, int)])),
       propagation=st.sampled_from(["", "Background", "Foreground", "Orphan", "Sometimes", "\x00"]),
       uid=st.sampled_from(["", "x"]), resource_version=st.sampled_from(["", "1", "-1", "x", "99999999999999999999"]),
       dry_run=st.booleans())
def test_delete_with_hostile_arguments(kind: str, namespace: str, name: str, grace: int | None, propagation: str,
                                       uid: str, resource_version: str, dry_run: bool) -> None:
    registry = seeded_registry()
    call(registry, lambda: registry.delete(kind, namespace, name, uid=uid, resource_version=resource_version,
                                           grace_period_seconds=grace, propagation_policy=propagation,
                                           dry_run=dry_run))


@FUZZ
@given(kind=st.sampled_from(KINDS + ["Gadget", "", "pods"]), namespace=names, name=names,
       selector=st.one_of(st.sampled_from(["", "app=web", "app in (a,b)", "!app", "a=b=c", "((", "app notin",
                                           "metadata.name=web", "x" * 5000, "a\x00=b", "é=1", ",,", "=",
                                           "spec.nodeName=n1", "status.phase!=Running"]), st.text(max_size=30)))
def test_reads_with_hostile_arguments(kind: str, namespace: str, name: str, selector: str) -> None:
    registry = seeded_registry()
    call(registry, lambda: registry.get(kind, namespace, name), writes=False)
    call(registry, lambda: registry.list(kind, namespace, label_selector=selector), writes=False)
    call(registry, lambda: registry.list(kind, namespace, field_selector=selector), writes=False)


@FUZZ
@given(namespace=names, name=names, node=names, uid=st.sampled_from(["", "x"]))
def test_bind_with_hostile_arguments(namespace: str, name: str, node: str, uid: str) -> None:
    registry = seeded_registry()
    call(registry, lambda: registry.bind(namespace, name, node, uid))


def test_refused_writes_of_each_seed_leave_the_store_unchanged(pristine: list[Any]) -> None:
    """The deterministic core of the above: every seed re-created (AlreadyExists), and made
    invalid by a bad name, is refused without a trace."""
    registry = seeded_registry()
    for obj in pristine:
        assert isinstance(call(registry, lambda: registry.create(obj)), errors.AlreadyExists), info_of(obj).kind
        bad = type(obj)()
        bad.CopyFrom(obj)
        bad.metadata.name = "../../etc/passwd"
        err = call(registry, lambda: registry.create(bad))
        assert isinstance(err, errors.Invalid) and 'metadata.name: Invalid value: "../../etc/passwd"' in err.message


@pytest.mark.parametrize(("name", "message"), [
    ("..", "Name parameter invalid: \"..\": may not be '..'"),
    (".", "Name parameter invalid: \".\": may not be '.'"),
    ("a/b", "Name parameter invalid: \"a/b\": may not contain '/'"),
    ("../x%", "Name parameter invalid: \"../x%\": may not contain '/';may not contain '%'"),
    ("", "Name parameter required."),
])
def test_request_names_get_kubernetes_key_checks(name: str, message: str) -> None:
    registry = seeded_registry()
    for op in (lambda: registry.get("Pod", "default", name), lambda: registry.delete("Pod", "default", name),
               lambda: registry.bind("default", name, "n1")):
        err = call(registry, op)
        assert isinstance(err, errors.BadRequest) and err.message == message
