"""The controller manager: every controller in one process, over one set of informers.

Controllers share informers (one List+Watch per kind for the whole process, as in
kube-controller-manager), each has its own EventRecorder (so `get events` names the
controller that acted) and its own work queue. Start-up order matters: controllers
register their handlers first, then the informers start, and workers run only after
every cache has synced, so no controller decides from a half-filled cache (a
ReplicaSet that sees none of its Pods would create them all again).

The Deployment controller is imported lazily from controllers.deployment; if that
import fails the manager logs an error and runs the rest (a temporary fallback while
it is being written)."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from typing import Any

import structlog

from client.api import AsyncAPI, describe
from client.events import EventRecorder
from client.informer import SharedInformers
from controllers.base import Controller
from controllers.node_lifecycle import NodeLifecycleConfig

log = structlog.get_logger("controller-manager")

ALL_CONTROLLERS = ("deployment", "replicaset", "nodelifecycle", "garbagecollector")
COMPONENTS = {
    "deployment": "deployment-controller",
    "replicaset": "replicaset-controller",
    "nodelifecycle": "node-controller",
    "garbagecollector": "garbage-collector",
}


@dataclass
class ManagerConfig:
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    workers: int = 4
    node: NodeLifecycleConfig = field(default_factory=NodeLifecycleConfig)
    host: str = ""  # reported as the events' source host


def _build(name: str, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
           config: ManagerConfig) -> Controller:
    if name == "deployment":
        module = importlib.import_module("controllers.deployment")
        return module.DeploymentController(api, informers, recorder)
    if name == "replicaset":
        from controllers.replicaset import ReplicaSetController
        return ReplicaSetController(api, informers, recorder)
    if name == "nodelifecycle":
        from controllers.node_lifecycle import NodeLifecycleController
        return NodeLifecycleController(api, informers, recorder, config.node)
    if name == "garbagecollector":
        from controllers.garbage_collector import GarbageCollector
        return GarbageCollector(api, informers, recorder)
    raise ValueError(f'unknown controller "{name}" (known: {", ".join(ALL_CONTROLLERS)})')


class ControllerManager:
    def __init__(self, api: AsyncAPI, config: ManagerConfig | None = None) -> None:
        self.api = api
        self.config = config or ManagerConfig()
        self.informers = SharedInformers(api)
        self.controllers: dict[str, Controller] = {}
        self.recorders: dict[str, EventRecorder] = {}
        self.failed: dict[str, str] = {}  # controllers that could not be built, and why
        self.tasks: list[asyncio.Task] = []
        self.running = asyncio.Event()
        unknown = [n for n in self.config.controllers if n not in ALL_CONTROLLERS]
        if unknown:
            raise ValueError(f'unknown controller "{unknown[0]}" (known: {", ".join(ALL_CONTROLLERS)})')
        for name in self.config.controllers:
            recorder = EventRecorder(api, COMPONENTS.get(name, name), self.config.host)
            try:
                self.controllers[name] = _build(name, api, self.informers, recorder, self.config)
            except Exception as err:  # noqa: BLE001 -- e.g. controllers.deployment not importable
                self.failed[name] = f"{type(err).__name__}: {describe(err)}"
                log.error("controller unavailable, running the others", controller=name, error=self.failed[name])
                continue
            self.recorders[name] = recorder

    async def start(self) -> None:
        """Start informers and event writers, wait for the caches, then the workers."""
        for name, recorder in self.recorders.items():
            self.tasks.append(asyncio.create_task(recorder.run(), name=f"events-{name}"))
        self.informers.start()
        await self.informers.wait_synced()
        for name, controller in self.controllers.items():
            self.tasks.append(asyncio.create_task(self._run(name, controller), name=f"controller-{name}"))
        self.running.set()
        log.info("controller-manager running", controllers=sorted(self.controllers),
                 unavailable=sorted(self.failed), workers=self.config.workers,
                 informers=sorted(self.informers.informers))

    async def _run(self, name: str, controller: Controller) -> Any:
        try:
            return await controller.run(self.config.workers)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("controller stopped with an error", controller=name)
            raise

    async def stop(self) -> None:
        """Cancel workers, flush pending events (briefly), stop the informers."""
        controllers = [t for t in self.tasks if t.get_name().startswith("controller-")]
        for task in controllers:
            task.cancel()
        await asyncio.gather(*controllers, return_exceptions=True)
        for controller in self.controllers.values():
            controller.queue.shut_down()
        for recorder in self.recorders.values():
            await recorder.flush(timeout=1.0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        await self.informers.stop()
