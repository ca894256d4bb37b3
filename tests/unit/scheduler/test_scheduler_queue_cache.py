"""The scheduling queue (FIFO, back-off, moves on cluster events) and the cache
(assume, confirm, forget, expire), on a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from scheduler_testlib import node, pod

from scheduler.cache import SchedulerCache
from scheduler.nodeinfo import PodInfo
from scheduler.queue import SchedulingQueue, backoff_duration, wants_scheduling


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(queue: SchedulingQueue) -> list[str]:
    names = []
    while (entry := queue.pop_nowait()) is not None:
        names.append(entry.pod.metadata.name)
    return names


# ------------------------------------------------------------------------ queue


def test_which_pods_the_scheduler_takes():
    assert wants_scheduling(pod("a"))
    unnamed = pod("b")
    unnamed.spec.scheduler_name = ""
    assert wants_scheduling(unnamed)
    assert not wants_scheduling(pod("c", node_name="n1"))
    other = pod("d")
    other.spec.scheduler_name = "gpu-scheduler"
    assert not wants_scheduling(other)
    assert wants_scheduling(other, "gpu-scheduler")
    leaving = pod("e")
    leaving.metadata.deletion_timestamp.seconds = 5
    assert not wants_scheduling(leaving)


def test_active_queue_is_fifo_by_creation_then_arrival():
    queue = SchedulingQueue()
    for name, created in (("late", 30), ("first", 10), ("second-a", 20), ("second-b", 20)):
        queue.add(pod(name, created=created))
    assert drain(queue) == ["first", "second-a", "second-b", "late"]


def test_updates_replace_the_stored_pod_without_duplicating_it():
    queue = SchedulingQueue()
    p = pod("a")
    queue.add(p)
    newer = pod("a", uid=p.metadata.uid)
    newer.metadata.labels["v"] = "2"
    queue.add(newer)
    assert len(queue) == 1
    assert queue.pop_nowait().pod.metadata.labels["v"] == "2"
    queue.add(p)
    queue.delete(p.metadata.uid)
    assert queue.pop_nowait() is None and len(queue) == 0


def test_backoff_doubles_to_the_cap():
    assert [backoff_duration(n, 1.0, 10.0) for n in range(7)] == [0, 1, 2, 4, 8, 10, 10]


def test_unschedulable_pods_wait_out_their_backoff():
    clock = Clock()
    queue = SchedulingQueue(initial_backoff=1.0, max_backoff=10.0, clock=clock)
    queue.add(pod("a"))
    entry = queue.pop_nowait()
    delays = []
    for _ in range(5):
        delays.append(queue.add_unschedulable(entry))
        assert queue.pop_nowait() is None and queue.backoff_count() == 1
        clock.now += delays[-1] - 0.01
        assert queue.flush_backoff() == 0
        clock.now += 0.01
        assert queue.flush_backoff() == 1
        entry = queue.pop_nowait()
        assert entry.pod.metadata.name == "a"
    assert delays == [1, 2, 4, 8, 10]


def test_cluster_events_move_waiting_pods_back_at_once():
    clock = Clock()
    queue = SchedulingQueue(clock=clock)
    for name in ("a", "b"):
        queue.add(pod(name))
    for entry in (queue.pop_nowait(), queue.pop_nowait()):
        queue.add_unschedulable(entry)
    assert queue.move_all_to_active() == 2
    assert drain(queue) == ["a", "b"]
    assert queue.flush_backoff() == 0  # their old back-off entries are gone


def test_a_changed_spec_ends_the_backoff_a_label_does_not():
    queue = SchedulingQueue(clock=Clock())
    p = pod("a")
    queue.add(p)
    queue.add_unschedulable(queue.pop_nowait())
    relabelled = pod("a", uid=p.metadata.uid)
    relabelled.metadata.labels["x"] = "y"
    queue.add(relabelled)
    assert queue.pop_nowait() is None
    tolerant = pod("a", uid=p.metadata.uid, tolerations=[("gpu", "Exists", "", "")])
    queue.add(tolerant)
    assert queue.pop_nowait().pod.spec.tolerations[0].key == "gpu"


def test_pop_waits_for_a_pod_or_the_end_of_a_backoff():
    async def scenario():
        backoff = 0.05
        queue = SchedulingQueue(initial_backoff=backoff)
        waiter = asyncio.create_task(queue.pop())
        await asyncio.sleep(2 * backoff)  # longer than the queue's only timer: an empty queue still waits
        assert not waiter.done()
        queue.add(pod("a"))
        entry = await asyncio.wait_for(waiter, 1)
        queue.add_unschedulable(entry)
        started = asyncio.get_running_loop().time()
        again = await asyncio.wait_for(queue.pop(), 1)
        assert again.uid == entry.uid and again.attempts == 1
        assert asyncio.get_running_loop().time() - started >= 0.04
    asyncio.run(scenario())


# ------------------------------------------------------------------------ cache


def test_assumed_pods_count_until_confirmed_by_the_informer():
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    p = pod("a", "rs", cpu="1")
    cache.assume(PodInfo.of(p), "n1")
    n1 = cache.node_info("n1")
    assert (n1.requested_cpu, n1.owner_counts, cache.is_assumed(p.metadata.uid)) == (1000, {"rs": 1}, True)
    # A late event from before the Bind (still unbound) keeps the assumption.
    assert cache.set_pod(p) is False and cache.is_assumed(p.metadata.uid)
    bound = pod("a", "rs", cpu="1", uid=p.metadata.uid, node_name="n1")
    assert cache.set_pod(bound) is False
    assert not cache.is_assumed(p.metadata.uid) and n1.requested_cpu == 1000
    # Once confirmed, a failed Bind's forget (a lost race) leaves it counted.
    assert cache.forget(p.metadata.uid) is False and n1.pod_count == 1


def test_forget_drops_an_assumption():
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    p = PodInfo.of(pod("a", "rs", memory="1Gi"))
    cache.assume(p, "n1")
    assert cache.forget(p.uid) is True
    n1 = cache.node_info("n1")
    assert (n1.pod_count, n1.requested_memory, n1.owner_counts) == (0, 0, {})
    with pytest.raises(ValueError):
        cache.assume(p, "n1")
        cache.assume(p, "n1")


def test_bound_elsewhere_moves_the_pod():
    cache = SchedulerCache()
    for name in ("n1", "n2"):
        cache.set_node(node(name))
    p = pod("a", "rs")
    cache.assume(PodInfo.of(p), "n1")
    assert cache.set_pod(pod("a", "rs", uid=p.metadata.uid, node_name="n2")) is True  # n1 has room again
    assert cache.counts() == {"n1": 0, "n2": 1}
    assert not cache.is_assumed(p.metadata.uid)


def test_assumed_pods_expire_only_after_their_bind_finished():
    clock = Clock()
    cache = SchedulerCache(assumed_ttl=30, clock=clock)
    cache.set_node(node("n1"))
    p = PodInfo.of(pod("a"))
    cache.assume(p, "n1")
    clock.now += 3600
    assert cache.cleanup_expired() == []  # the Bind is still running: no deadline yet
    cache.finish_binding(p.uid)
    clock.now += 29
    assert cache.cleanup_expired() == []
    clock.now += 1
    assert cache.cleanup_expired() == [p.uid]
    assert cache.counts() == {"n1": 0}


def test_leaving_and_finished_pods_stop_counting():
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    running = pod("a", node_name="n1")
    cache.set_pod(running)
    assert cache.counts() == {"n1": 1}
    leaving = pod("a", uid=running.metadata.uid, node_name="n1")
    leaving.metadata.deletion_timestamp.seconds = 1
    assert cache.set_pod(leaving) is True
    assert cache.counts() == {"n1": 0}
    assert cache.set_pod(leaving) is False  # nothing more to free
    failed = pod("b", node_name="n1")
    failed.status.phase = "Failed"
    assert cache.set_pod(failed) is False and cache.counts() == {"n1": 0}
    ok = pod("c", node_name="n1")
    cache.set_pod(ok)
    assert cache.remove_pod(ok) is True and cache.remove_pod(ok) is False


def test_pods_on_unknown_nodes_wait_as_ghosts():
    cache = SchedulerCache()
    cache.set_pod(pod("a", "rs", node_name="later", cpu="1"))
    assert cache.node_infos() == []  # a ghost is not a candidate
    assert cache.set_node(node("later")) is True  # a new node is news for waiting Pods
    assert [n.name for n in cache.node_infos()] == ["later"]
    assert cache.node_info("later").requested_cpu == 1000
    cache.remove_node("later")
    assert cache.node_infos() == [] and cache.counts() == {"later": 1}


def test_node_heartbeats_are_not_news_but_readiness_is():
    cache = SchedulerCache()
    n = node("n1")
    assert cache.set_node(n) is True
    n.status.conditions[0].last_heartbeat_time.seconds = 99
    assert cache.set_node(n) is False
    n.status.conditions[0].status = "Unknown"
    assert cache.set_node(n) is True
    n.status.conditions[0].status = "True"
    assert cache.set_node(n) is True
