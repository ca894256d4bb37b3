"""The pure half of the Podman runtime: Podman's answers → runtime types, and container specs →
``containers.create`` arguments. No Podman service needed (the adapter itself is tested against
a real one in tests/integration/test_podman_runtime.py)."""

from __future__ import annotations

import json

import pytest

from kubelet.runtime import (
    EXITED,
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_UID,
    RUNNING,
    ContainerEvent,
    ContainerSpec,
    SandboxSpec,
)
from kubelet.runtime.podman_mapping import (
    create_kwargs,
    event_from_podman,
    parse_time,
    pull_outcome,
    sandbox_from,
    status_from_inspect,
)
from kubelet.runtime.podman_streams import frames

IMAGE = "localhost/busybox:test"
NODE = "it-node"


def container_spec(sandbox: SandboxSpec, name: str, **kwargs) -> ContainerSpec:
    return ContainerSpec(pod_uid=sandbox.pod_uid, pod_name=sandbox.pod_name, pod_namespace=sandbox.pod_namespace,
                         name=name, attempt=kwargs.pop("attempt", 0), image=kwargs.pop("image", IMAGE), **kwargs)


def test_parse_time_handles_nanoseconds_offsets_and_go_zero_time() -> None:
    assert parse_time("2026-11-26T03:39:09.165042908Z") == pytest.approx(1795664349.165042908, abs=1e-6)
    assert parse_time("2026-11-26T04:39:09.5+01:00") == pytest.approx(1795664349.5, abs=1e-6)
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time("") is None and parse_time(None) is None


def test_status_and_event_mapping() -> None:
    labels = {LABEL_POD_UID: "u", "io.pykube.pod.name": "p", "io.pykube.pod.namespace": "ns",
              LABEL_CONTAINER_NAME: "c", LABEL_ATTEMPT: "4"}
    attrs = {"Id": "abc", "Image": "f" * 64, "ImageName": IMAGE, "Config": {"Labels": labels},
             "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                       "StartedAt": "2026-11-26T03:39:09Z", "FinishedAt": "2026-11-26T03:39:10Z"}}
    status = status_from_inspect(attrs)
    assert (status.state, status.exit_code, status.reason, status.attempt) == (EXITED, 137, "OOMKilled", 4)
    assert status.image_id == "sha256:" + "f" * 64 and status.finished_at - status.started_at == 1  # type: ignore[operator]
    attrs["State"] = {"Status": "stopping", "ExitCode": 0, "StartedAt": "2026-11-26T03:39:09Z"}
    assert status_from_inspect(attrs).state == RUNNING

    event = {"Type": "container", "Action": "died", "timeNano": 1795664349229527617,
             "Actor": {"ID": "abc", "Attributes": {**labels, "containerExitCode": "137"}}}
    assert event_from_podman(event) == ContainerEvent("abc", "u", "c", "died", 1795664349.2295275)
    infra = {**event, "Actor": {"ID": "inf", "Attributes": {LABEL_POD_UID: "u"}}}
    assert event_from_podman(infra) is None  # the sandbox's infra container
    assert event_from_podman({**event, "Action": "exec_died"}) is None  # exec probes are not news


def test_create_kwargs_follow_kubernetes_command_semantics() -> None:
    ulimits = [{"Name": "nofile", "Soft": 1, "Hard": 2}]
    sb = SandboxSpec("0123456789", "web", "prod", "web")
    only_command = create_kwargs(NODE, ulimits, "pod", container_spec(sb, "app", command=["/app"], attempt=1))
    assert only_command["entrypoint"] == ["/app"] and "command" not in only_command
    assert only_command["name"] == "pk_app_web_prod_01234567_1" and only_command["pod"] == "pod"
    assert only_command["labels"][LABEL_NODE] == NODE and only_command["labels"][LABEL_ATTEMPT] == "1"
    assert only_command["ulimits"] == [{"Name": "nofile", "Soft": 1, "Hard": 2}]
    only_args = create_kwargs(NODE, ulimits, "pod", container_spec(sb, "app", args=["--port", "80"]))
    assert only_args["command"] == ["--port", "80"] and "entrypoint" not in only_args
    limits = create_kwargs(NODE, ulimits, "pod", container_spec(sb, "app", cpu_limit_millis=500,
                                                              cpu_request_millis=250, memory_limit_bytes=1 << 20))
    assert (limits["cpu_quota"], limits["cpu_period"], limits["cpu_shares"], limits["mem_limit"]) == (
        50_000, 100_000, 256, 1 << 20)
    assert "ulimits" not in create_kwargs(NODE, None, "pod", container_spec(sb, "a"))


def test_pull_outcome_reads_the_last_progress_lines() -> None:
    ok = "\n".join(json.dumps(x) for x in ({"stream": "Copying blob"}, {"id": "abc"}))
    assert pull_outcome(ok) == ("abc", None)
    failed = json.dumps({"error": "initializing source docker://x: manifest unknown "})
    assert pull_outcome("garbage\n" + failed) == (None, "initializing source docker://x: manifest unknown")


def test_sandbox_is_ready_with_an_ip_only_while_its_infra_container_runs() -> None:
    pod = {"Id": "p1", "Labels": {LABEL_POD_UID: "u", "io.pykube.pod.name": "web",
                                  "io.pykube.pod.namespace": "ns"}}
    running = {"State": {"Running": True}, "NetworkSettings": {"Networks": {"podman": {"IPAddress": "10.88.0.5"}}}}
    sandbox = sandbox_from("p1", pod, running)
    assert (sandbox.pod_uid, sandbox.pod_name, sandbox.ip, sandbox.ready) == ("u", "web", "10.88.0.5", True)
    stopped = {**running, "State": {"Running": False}}
    assert (sandbox_from("p1", pod, stopped).ip, sandbox_from("p1", pod, None).ready) == ("", False)


def test_frames_split_dockers_multiplexed_stream() -> None:
    import io

    raw = b"\x01\x00\x00\x00\x00\x00\x00\x03out" + b"\x02\x00\x00\x00\x00\x00\x00\x00" + b"\x02\x00\x00\x00\x00\x00\x00\x03err"
    assert list(frames(io.BytesIO(raw).read)) == [b"out", b"err"]
