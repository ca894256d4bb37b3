"""The controller manager: every controller in one process, over one set of informers.

Controllers share informers (one List+Watch per kind for the whole process, as in
kube-controller-manager), each has its own EventRecorder (so `get events` names the
controller that acted) and its own work queue. Start-up order matters: controllers
register their handlers first, then the informers start, and workers run only after
every cache has synced, so no controller decides from a half-filled cache (a
ReplicaSet that sees none of its Pods would create them all again).

The controllers a manager can run are named in CONTROLLERS (name → how to build it,
and the component its Events name), as kube-controller-manager's
NewControllerInitializers. A controller whose construction fails is reported (in
the log and in `failed`) and the others run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from client.api import AsyncAPI, describe
from client.events import EventRecorder
from client.informer import SharedInformers
from controllers.base import Controller
from controllers.cronjob import CronJobController
from controllers.daemonset import DaemonSetController
from controllers.deployment import DeploymentController
from controllers.endpointslice import EndpointSliceConfig, EndpointSliceController
from controllers.garbage_collector import GarbageCollector
from controllers.job import JobController
from controllers.local_path import LocalPathConfig, LocalPathProvisioner
from controllers.node_ipam import NodeIPAMConfig, NodeIPAMController
from controllers.node_lifecycle import NodeLifecycleConfig, NodeLifecycleController
from controllers.persistentvolume import PersistentVolumeController
from controllers.replicaset import ReplicaSetController
from controllers.statefulset import StatefulSetController
from controllers.storage_protection import StorageProtectionController

log = structlog.get_logger("controller-manager")


@dataclass(frozen=True)
class ControllerEntry:
    component: str  # the source component of the controller's Events
    build: Callable[[AsyncAPI, SharedInformers, EventRecorder, ManagerConfig], Controller]
    # False for a configuration that turns the controller off (nodeipam without --allocate-node-cidrs)
    enabled: Callable[[ManagerConfig], bool] = lambda config: True


CONTROLLERS: dict[str, ControllerEntry] = {
    "deployment": ControllerEntry("deployment-controller", lambda api, informers, recorder, config:
                                  DeploymentController(api, informers, recorder)),
    "replicaset": ControllerEntry("replicaset-controller", lambda api, informers, recorder, config:
                                  ReplicaSetController(api, informers, recorder)),
    "daemonset": ControllerEntry("daemonset-controller", lambda api, informers, recorder, config:
                                 DaemonSetController(api, informers, recorder)),
    "statefulset": ControllerEntry("statefulset-controller", lambda api, informers, recorder, config:
                                   StatefulSetController(api, informers, recorder)),
    "job": ControllerEntry("job-controller", lambda api, informers, recorder, config:
                           JobController(api, informers, recorder)),
    "cronjob": ControllerEntry("cronjob-controller", lambda api, informers, recorder, config:
                               CronJobController(api, informers, recorder)),
    "nodelifecycle": ControllerEntry("node-controller", lambda api, informers, recorder, config:
                                     NodeLifecycleController(api, informers, recorder, config.node)),
    "garbagecollector": ControllerEntry("garbage-collector", lambda api, informers, recorder, config:
                                        GarbageCollector(api, informers, recorder)),
    "endpointslice": ControllerEntry("endpoint-slice-controller", lambda api, informers, recorder, config:
                                     EndpointSliceController(api, informers, recorder, config.endpointslice)),
    "persistentvolume-binder": ControllerEntry(
        "persistentvolume-controller", lambda api, informers, recorder, config:
        PersistentVolumeController(api, informers, recorder)),
    "local-path-provisioner": ControllerEntry(
        "pykube.io/local-path", lambda api, informers, recorder, config:
        LocalPathProvisioner(api, informers, recorder, config.local_path)),
    "storage-protection": ControllerEntry(
        "pvc-protection-controller", lambda api, informers, recorder, config:
        StorageProtectionController(api, informers, recorder)),
    "nodeipam": ControllerEntry("cidrAllocator", lambda api, informers, recorder, config:
                                NodeIPAMController(api, informers, recorder, config.ipam),
                                enabled=lambda config: config.ipam.allocate_node_cidrs),
}
ALL_CONTROLLERS = tuple(CONTROLLERS)


@dataclass
class ManagerConfig:
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    workers: int = 4
    node: NodeLifecycleConfig = field(default_factory=NodeLifecycleConfig)
    endpointslice: EndpointSliceConfig = field(default_factory=EndpointSliceConfig)
    ipam: NodeIPAMConfig = field(default_factory=NodeIPAMConfig)
    local_path: LocalPathConfig = field(default_factory=LocalPathConfig)
    host: str = ""  # reported as the events' source host


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
            entry = CONTROLLERS[name]
            if not entry.enabled(self.config):
                log.info("controller disabled by its configuration", controller=name)
                continue
            recorder = EventRecorder(api, entry.component, self.config.host)
            try:
                self.controllers[name] = entry.build(api, self.informers, recorder, self.config)
            except Exception as err:  # noqa: BLE001 -- one controller that cannot start does not stop the others
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
