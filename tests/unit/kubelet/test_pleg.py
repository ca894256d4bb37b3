"""The PLEG's relist against writes made while it was listing.

A relist's listing is already old when it arrives: a pod worker may have made a sandbox, or the
event stream seen a container die, between the runtime's answer and the cache update. Those
newer writes must survive, or the worker would see its fresh sandbox as lost and restart its
containers (a spurious restart, seen under load)."""

from __future__ import annotations

import asyncio

from kubelet.pleg import PLEG, RuntimeCache
from kubelet.runtime import EXITED, RUNNING, ContainerStatus, Sandbox

UID = "0b5c1e6e-0000-4000-8000-000000000001"


def sandbox(sid: str, ready: bool = True) -> Sandbox:
    return Sandbox(sid, UID, "web", "default", "10.88.1.2", ready)


def container(cid: str, state: str = RUNNING) -> ContainerStatus:
    return ContainerStatus(cid, UID, "web", "default", "main", 0, "img", "sha256:1", state)


class SlowRuntime:
    """Lists what it was given; while the container list is 'in flight', runs ``meanwhile``."""

    def __init__(self, sandboxes, containers, meanwhile=lambda: None) -> None:
        self.sandboxes, self.containers, self.meanwhile = sandboxes, containers, meanwhile

    async def list_sandboxes(self):
        return list(self.sandboxes)

    async def list_containers(self):
        await asyncio.sleep(0)
        self.meanwhile()
        return list(self.containers)


def relist(cache: RuntimeCache, runtime: SlowRuntime) -> list[str]:
    notified: list[str] = []
    asyncio.run(PLEG(runtime, cache, notified.append).relist())  # type: ignore[arg-type]
    return notified


def test_a_sandbox_made_while_the_relist_was_listing_is_kept():
    cache = RuntimeCache()
    made = sandbox("s1")
    notified = relist(cache, SlowRuntime([], [], meanwhile=lambda: cache.set_sandbox(made)))
    assert cache.sandboxes == {UID: made}
    assert notified == []  # nothing the worker does not already know


def test_a_container_death_seen_while_listing_is_not_undone_by_the_older_listing():
    cache = RuntimeCache()
    cache.set_container(container("c1"))
    dead = container("c1", EXITED)
    relist(cache, SlowRuntime([sandbox("s1")], [container("c1")], meanwhile=lambda: cache.set_container(dead)))
    assert cache.containers == {"c1": dead}
    assert cache.sandboxes == {UID: sandbox("s1")}


def test_a_container_removed_while_listing_stays_removed():
    cache = RuntimeCache()
    cache.set_container(container("c1"))
    relist(cache, SlowRuntime([], [container("c1")], meanwhile=lambda: cache.drop_container("c1")))
    assert cache.containers == {}


def test_older_writes_give_way_to_the_listing_and_changes_are_notified():
    cache = RuntimeCache()
    cache.set_sandbox(sandbox("s1"))
    cache.set_container(container("c1"))
    notified = relist(cache, SlowRuntime([sandbox("s1", ready=False)], []))
    assert cache.sandboxes == {UID: sandbox("s1", ready=False)} and cache.containers == {}
    assert notified == [UID]
    assert cache.written == {}  # stamps older than the listing are forgotten
