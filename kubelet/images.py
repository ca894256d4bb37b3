"""The image manager: imagePullPolicy, pulls into this node's own cache, events,
and back-off after failed pulls (ErrImagePull, then ImagePullBackOff).

One lock per image: when two Pods need the same image at once, the second waits
for the first pull and then finds the image present, so a node pulls it once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

from kubelet.backoff import BackOffPolicy
from kubelet.runtime import ImagePullError, Runtime, normalize_image
from protos import core_pb2

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"

# record(pod, event type, reason, message)
Recorder = Callable[[core_pb2.Pod, str, str, str], None]


class PullFailure(Exception):
    """Why a container cannot start for now: reason is the waiting reason."""

    def __init__(self, reason: str, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_at = retry_at


NOT_FOUND_WORDS = ("manifest unknown", "name unknown", "not found")


def explain_pull_error(image: str, registry_message: str) -> str:
    """The registry's words, plus how to get the image there when it has no such image.

    Every node pulls docker.io names from the cluster's registry, which holds the lab images
    and what was loaded into it; an image built on the host is not there until it is loaded
    (like ``kind load docker-image``)."""
    full = normalize_image(image)
    if full.startswith("docker.io/") and any(w in registry_message.lower() for w in NOT_FOUND_WORDS):
        return (f"{registry_message}: {full} is not in the cluster registry; "
                f"load it with: pykube image load {full}")
    return registry_message


@dataclass
class _Failures:
    count: int
    last_failed_at: float
    message: str


@dataclass
class ImageManager:
    runtime: Runtime
    record: Recorder
    backoff: BackOffPolicy = field(default_factory=BackOffPolicy)
    clock: Callable[[], float] = time.time
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _failures: dict[str, _Failures] = field(default_factory=dict)  # by "<pod uid>/<image>"

    async def ensure(self, pod: core_pb2.Pod, container: core_pb2.Container) -> str:
        """The image id to run container with, pulling as its policy says; raises PullFailure."""
        image = container.image
        lock = self._locks.setdefault(image, asyncio.Lock())
        async with lock:
            present = await self.runtime.image_id(image)
            policy = container.image_pull_policy or "IfNotPresent"
            if policy == "Never":
                if present:
                    return present
                message = f'Container image "{image}" is not present with pull policy of Never'
                self.record(pod, "Warning", ERR_IMAGE_NEVER_PULL, message)
                raise PullFailure(ERR_IMAGE_NEVER_PULL, message)
            if policy == "IfNotPresent" and present:
                self.record(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
                return present
            return await self._pull(pod, image)

    async def _pull(self, pod: core_pb2.Pod, image: str) -> str:
        key = f"{pod.metadata.uid}/{image}"
        failures = self._failures.get(key)
        now = self.clock()
        if failures is not None:
            retry_at = self.backoff.next_allowed(failures.count, failures.last_failed_at, 0.0)
            if now < retry_at:
                message = f'Back-off pulling image "{image}": {failures.message}'
                self.record(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"')
                raise PullFailure(IMAGE_PULL_BACK_OFF, message, retry_at)
        self.record(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        started = time.monotonic()
        try:
            image_id = await self.runtime.pull_image(image)
        except ImagePullError as err:
            count = failures.count + 1 if failures else 1
            explained = explain_pull_error(image, str(err))
            self._failures[key] = _Failures(count, self.clock(), explained)
            message = f'Failed to pull image "{image}": {explained}'
            self.record(pod, "Warning", "Failed", message)
            raise PullFailure(ERR_IMAGE_PULL, message,
                              self.backoff.next_allowed(count, self.clock(), 0.0)) from None
        self._failures.pop(key, None)
        self.record(pod, "Normal", "Pulled",
                    f'Successfully pulled image "{image}" in {time.monotonic() - started:.3f}s')
        return image_id

    def forget(self, pod_uid: str) -> None:
        for key in [k for k in self._failures if k.startswith(pod_uid + "/")]:
            del self._failures[key]
