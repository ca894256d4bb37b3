"""The image manager's pull errors: the registry's words, and for an image the cluster's registry
does not have, how to get it there (``pykube image load``), in the event and in the back-off."""

from __future__ import annotations

import asyncio

import pytest

from kubelet.images import ERR_IMAGE_PULL, IMAGE_PULL_BACK_OFF, ImageManager, PullFailure, explain_pull_error
from kubelet.runtime.fake import FakeRuntime
from protos import core_pb2

HINT = "docker.io/library/foo:1 is not in the cluster registry; load it with: pykube image load docker.io/library/foo:1"


def test_a_missing_docker_io_image_says_how_to_load_it() -> None:
    registry_words = "initializing source docker://foo:1: reading manifest 1 in 127.0.0.1:5000/library/foo: manifest unknown"
    assert explain_pull_error("foo:1", registry_words) == f"{registry_words}: {HINT}"


@pytest.mark.parametrize("image, words", [
    ("foo:1", "pinging container registry 127.0.0.1:5000: connection refused"),  # not a missing image
    ("quay.io/x/foo:1", "manifest unknown"),  # not served by the cluster registry
])
def test_other_pull_errors_keep_the_registrys_words_only(image: str, words: str) -> None:
    assert explain_pull_error(image, words) == words


def test_err_image_pull_then_back_off_both_carry_the_hint() -> None:
    events: list[tuple[str, str, str]] = []
    manager = ImageManager(FakeRuntime(), lambda pod, kind, reason, message: events.append((kind, reason, message)))
    pod = core_pb2.Pod()
    pod.metadata.uid = "u1"
    container = core_pb2.Container(name="main", image="foo:1", image_pull_policy="IfNotPresent")

    async def twice() -> list[PullFailure]:
        failures = []
        for _ in range(2):
            with pytest.raises(PullFailure) as info:
                await manager.ensure(pod, container)
            failures.append(info.value)
        return failures

    first, second = asyncio.run(twice())
    assert first.reason == ERR_IMAGE_PULL and "manifest unknown" in first.message and HINT in first.message
    assert second.reason == IMAGE_PULL_BACK_OFF and HINT in second.message
    assert ("Warning", "Failed", first.message) in events
