"""The scheduler: informers → cache + queue → framework → assume → PreBind → Bind.

One loop pops the oldest unbound Pod, runs a scheduling cycle against the cache
(synchronously: nothing can change the cache between filtering and assuming),
assumes the Pod on the chosen node and starts its Bind as a separate task. The
loop does not wait for the Bind: the next Pod is scheduled at once against a cache
that already counts the previous one, and many Binds are in flight together.

Per Pod the work is O(nodes) through cheap plugins, with no API reads (the
informers' caches are the only source); the only writes are the Bind and an Event.
Binds go through a Batcher: under a burst, the Binds of many Pods travel in one
Batch call (each still answered on its own), as the recorder batches Events.

When a Bind fails the assumption is forgotten. ABORTED ("already assigned", a
changed uid, "being deleted") means someone else settled the Pod's fate and the
informer will report it; any other error re-queues the Pod with back-off.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import structlog
from google.protobuf.message import Message

from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.batcher import Batcher
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import Informer, SharedInformers
from protos import core_pb2
from scheduler.cache import SchedulerCache
from scheduler.framework import Framework, Profile, SchedulerConfig, ScheduleResult
from scheduler.interface import Registry
from scheduler.nodeinfo import PodInfo
from scheduler.plugins import REGISTRY
from scheduler.queue import QueuedPod, SchedulingQueue, wants_scheduling

log = structlog.get_logger("scheduler")


class Scheduler:
    def __init__(self, api: AsyncAPI, config: SchedulerConfig | None = None, *,
                 informers: SharedInformers | None = None, recorder: EventRecorder | None = None,
                 event_workers: int = 2, registry: Registry = REGISTRY) -> None:
        self.api = api
        self.config = config or SchedulerConfig()
        self.profile = Profile.from_config(self.config, registry)
        self.framework = Framework(self.profile)
        self.cache = SchedulerCache(self.config.assumed_ttl)
        self.queue = SchedulingQueue(self.config.initial_backoff, self.config.max_backoff)
        self._own_informers = informers is None
        self.informers = informers or SharedInformers(api)
        self.pod_informer: Informer = self.informers.get("Pod")
        self.node_informer: Informer = self.informers.get("Node")
        self.pod_informer.add_handler(self.on_pod)
        self.node_informer.add_handler(self.on_node)
        # Plugins that read more kinds (VolumeBinding: claims, volumes, classes) get their
        # informers; a change of one may make a waiting Pod schedulable.
        plugins = {id(p): p for p in [*self.profile.filters, *(p for p, _ in self.profile.scores)]}.values()
        self._pre_binders = [p for p in plugins if hasattr(p, "pre_bind")]
        for plugin in plugins:
            if hasattr(plugin, "attach"):
                plugin.attach(api, self.informers.get)
                for kind in getattr(plugin, "watches", ()):
                    self.informers.get(kind).add_handler(self.on_other)
        self.recorder = recorder or EventRecorder(api, component=self.profile.scheduler_name,
                                                  host=socket.gethostname())
        self.event_workers = event_workers
        self.binder = Batcher(api, max_batch=500, max_in_flight=self.config.parallel_binds)
        self.stats: Counter = Counter()  # scheduled, unschedulable, bind_errors, bind_conflicts, expired
        self._in_flight: dict[str, QueuedPod] = {}  # uid -> the Pod whose Bind is running
        self._binds: set[asyncio.Task] = set()
        self._tasks: list[asyncio.Task] = []  # the scheduling loop and the expirer
        self._event_tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start the informers (unless shared), wait until synced, then schedule."""
        if self._own_informers:
            self.informers.start()
        await self.informers.wait_synced()
        self._event_tasks = [asyncio.create_task(self.recorder.run(), name=f"scheduler-events-{i}")
                             for i in range(self.event_workers)]
        self._tasks.append(asyncio.create_task(self._schedule_loop(), name="scheduler-loop"))
        self._tasks.append(asyncio.create_task(self._expire_loop(), name="scheduler-expire"))
        log.info("scheduler running", scheduler_name=self.profile.scheduler_name,
                 nodes=len(self.cache.node_infos()), pending=len(self.queue),
                 filters=[p.name for p in self.profile.filters],
                 scores={p.name: w for p, w in self.profile.scores})

    async def stop(self, grace: float = 5.0) -> None:
        """Stop scheduling, give running Binds and queued Events `grace` seconds, then stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._binds:
            await asyncio.wait(list(self._binds), timeout=grace)
        if self._event_tasks:
            await self.recorder.flush(timeout=grace)
        for task in [*self._event_tasks, *self._binds]:
            task.cancel()
        await asyncio.gather(*self._event_tasks, *self._binds, return_exceptions=True)
        await self.binder.close()
        self._event_tasks.clear()
        if self._own_informers:
            await self.informers.stop()

    # ------------------------------------------------------ informer handlers

    def on_node(self, event: str, node: Message, old: Message | None) -> None:
        try:
            if event == "DELETED":
                self.cache.remove_node(node.metadata.name)  # type: ignore[attr-defined]
            elif self.cache.set_node(node):  # type: ignore[arg-type]
                # Added, became Ready/schedulable, lost a taint, grew: waiting Pods may fit now.
                self.queue.move_all_to_active()
        except Exception:
            log.exception("node event not handled", node=node.metadata.name)  # type: ignore[attr-defined]

    def on_other(self, event: str, obj: Message, old: Message | None) -> None:
        """A claim, volume or class changed: Pods waiting on one may fit now."""
        self.queue.move_all_to_active()

    def on_pod(self, event: str, pod: Message, old: Message | None) -> None:
        try:
            self._on_pod(event, pod, old)  # type: ignore[arg-type]
        except Exception:
            log.exception("pod event not handled", pod=pod.metadata.name)  # type: ignore[attr-defined]

    def _on_pod(self, event: str, pod: core_pb2.Pod, old: core_pb2.Pod | None) -> None:
        uid = pod.metadata.uid
        if old is not None and old.metadata.uid != uid:  # replaced under the same name (seen by a relist)
            self._on_pod("DELETED", old, None)
        if event == "DELETED":
            self.queue.delete(uid)
            self._in_flight.pop(uid, None)  # its Bind will fail; nothing to re-queue
            if self.cache.remove_pod(pod):
                self.queue.move_all_to_active()
            return
        entry = self._in_flight.get(uid)
        if entry is not None:
            entry.pod = pod  # keep the newest version, should the Bind fail and the Pod be retried
        if pod.spec.node_name:
            self.queue.delete(uid)
            if self.cache.set_pod(pod):  # stopped counting (deleting, finished) or moved: room freed
                self.queue.move_all_to_active()
            return
        if self.cache.has_pod(uid):  # assumed, Bind in flight: not a Pod to queue again
            self.cache.set_pod(pod)  # (drops the assumption if the Pod is being deleted)
            return
        if wants_scheduling(pod, self.profile.scheduler_name):
            self.queue.add(pod)
        else:
            self.queue.delete(uid)

    # -------------------------------------------------------- scheduling cycle

    async def _schedule_loop(self) -> None:
        while True:
            entry = await self.queue.pop()
            try:
                self.schedule_one(entry)
            except Exception:
                log.exception("scheduling cycle failed", pod=entry.key)
                self.queue.add_unschedulable(entry)
            await asyncio.sleep(0)  # let informer events and Bind replies in between Pods

    def schedule_one(self, entry: QueuedPod) -> ScheduleResult | None:
        """One cycle: pick a node, assume the Pod there, start its Bind. Does not await."""
        pod = entry.pod
        if not wants_scheduling(pod, self.profile.scheduler_name) or self.cache.has_pod(entry.uid):
            return None
        info = PodInfo.of(pod)
        result = self.framework.schedule(info, self.cache)
        if result.node is None:
            self.stats["unschedulable"] += 1
            delay = self.queue.add_unschedulable(entry)
            self.recorder.record(pod, WARNING, "FailedScheduling", result.message)
            log.info("pod unschedulable", pod=entry.key, reason=result.message, attempts=entry.attempts,
                     retry_in=delay)
            return result
        self.cache.assume(info, result.node)
        self._in_flight[entry.uid] = entry
        task = asyncio.create_task(self._bind(entry, info, result.node))
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)
        return result

    async def _bind(self, entry: QueuedPod, info: PodInfo, node: str) -> None:
        meta = info.pod.metadata
        try:
            for plugin in self._pre_binders:  # PreBind (VolumeBinding: the claims' selected node)
                await plugin.pre_bind(info.pod, node)
            await self.binder.bind(meta.namespace, meta.name, node, meta.uid)
        except asyncio.CancelledError:
            self.cache.forget(info.uid)
            self._in_flight.pop(info.uid, None)
            raise
        except Exception as err:
            self._bind_failed(entry, info, node, err)
            return
        self._in_flight.pop(info.uid, None)
        self.cache.finish_binding(info.uid)
        self.stats["scheduled"] += 1
        self.recorder.record(info.pod, NORMAL, "Scheduled", f"Successfully assigned {info.key} to {node}")
        log.debug("pod bound", pod=info.key, node=node)

    def _bind_failed(self, entry: QueuedPod, info: PodInfo, node: str, err: Exception) -> None:
        if self.cache.forget(info.uid):
            self.queue.move_all_to_active()  # the room we held for it is free again
        current = self._in_flight.pop(info.uid, None)
        if is_conflict(err) or is_not_found(err):
            # Bound by someone else, replaced, being deleted or gone: the informer will say which.
            self.stats["bind_conflicts"] += 1
            log.info("bind not needed", pod=info.key, node=node, error=describe(err))
            return
        self.stats["bind_errors"] += 1
        log.warning("bind failed, will retry", pod=info.key, node=node, error=describe(err))
        self.recorder.record(info.pod, WARNING, "FailedScheduling", f"Binding rejected: {describe(err)}")
        if current is not None and wants_scheduling(current.pod, self.profile.scheduler_name):
            self.queue.add_unschedulable(current)

    async def _expire_loop(self) -> None:
        interval = max(0.05, min(1.0, self.config.assumed_ttl / 2))
        while True:
            await asyncio.sleep(interval)
            expired = self.cache.cleanup_expired()
            if expired:
                self.stats["expired"] += len(expired)
                log.warning("assumed pods expired unconfirmed", count=len(expired))
                self.queue.move_all_to_active()

    # ------------------------------------------------------------------ reading

    def idle(self) -> bool:
        """Nothing to schedule now and no Bind in flight (tests, benchmarks)."""
        return self.queue.active_count() == 0 and not self._binds
