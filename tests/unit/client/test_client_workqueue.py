"""The work queue: de-duplication, no key processed twice at once, back-off."""

from __future__ import annotations

import asyncio

from client.workqueue import WorkQueue


def test_keys_are_deduplicated_and_ordered():
    async def scenario():
        q = WorkQueue()
        for key in ("a", "b", "a", "c", "b"):
            q.add(key)
        assert len(q) == 3
        return [await q.get() for _ in range(3)]
    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_a_key_added_while_processing_comes_back_after_done():
    async def scenario():
        q = WorkQueue()
        q.add("a")
        key = await q.get()
        q.add("a")  # changed again while we work on it
        assert len(q) == 0  # not handed to a second worker meanwhile
        q.done(key)
        assert len(q) == 1
        return await q.get()
    assert asyncio.run(scenario()) == "a"


def test_rate_limited_requeue_backs_off_and_forget_resets():
    async def scenario():
        q = WorkQueue(base_delay=0.01, max_delay=1.0)
        q.add_rate_limited("a")
        q.add_rate_limited("a")
        assert q.failures("a") == 2
        assert len(q) == 0  # not yet: it waits out its back-off
        key = await asyncio.wait_for(q.get(), 1.0)
        q.forget(key)
        return key, q.failures("a")
    assert asyncio.run(scenario()) == ("a", 0)
