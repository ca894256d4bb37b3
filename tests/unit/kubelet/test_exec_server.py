"""The kubelet's side of ``pykubectl exec`` (Kubelet.Exec) over a real grpc.aio server on
127.0.0.1 and the fake runtime: the container chosen as for logs, stdin to the command, output
and the exit code back, and Kubernetes' answer for a container that is not running."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from kubelet.log_server import start_log_server
from kubelet.runtime import ContainerSpec, SandboxSpec
from kubelet.runtime.fake import FakeRuntime, ImageBehavior
from protos import kubelet_pb2, kubelet_pb2_grpc

TIMEOUT = 10.0
IMAGE = "busybox:1"


async def running_container(runtime: FakeRuntime, name: str = "main") -> str:
    spec = SandboxSpec(pod_uid="uid-web", pod_name="web", pod_namespace="default", hostname="web")
    sandbox = await runtime.create_sandbox(spec)
    cid = await runtime.create_container(sandbox.id, ContainerSpec(
        pod_uid="uid-web", pod_name="web", pod_namespace="default", name=name, attempt=0, image=IMAGE))
    await runtime.start_container(cid)
    return cid


def start(command: list[str], container: str = "main", stdin: bool = False) -> kubelet_pb2.ExecInput:
    return kubelet_pb2.ExecInput(start=kubelet_pb2.ExecStart(
        namespace="default", pod="web", container=container, command=command, stdin=stdin))


async def exchange(runtime: FakeRuntime, inputs: list[kubelet_pb2.ExecInput]) -> tuple[bytes, int | None]:
    server, port = await start_log_server(runtime)  # type: ignore[arg-type]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            out, code = b"", None
            call = kubelet_pb2_grpc.KubeletStub(channel).Exec(iter(inputs))
            async for item in call:
                if item.WhichOneof("output") == "stdout":
                    out += item.stdout
                elif item.WhichOneof("output") == "exit_code":
                    code = item.exit_code
            return out, code
    finally:
        await server.stop(0)


def test_exec_returns_the_commands_output_and_exit_code() -> None:
    async def scenario() -> tuple[bytes, int | None]:
        runtime = FakeRuntime(images=[IMAGE])
        runtime.behave(IMAGE, ImageBehavior(exec=lambda cmd: (3, " ".join(cmd) + "\n")))
        await running_container(runtime)
        return await asyncio.wait_for(exchange(runtime, [start(["echo", "hi"])]), TIMEOUT)

    assert asyncio.run(scenario()) == (b"echo hi\n", 3)


def test_exec_passes_stdin_to_the_command_until_it_is_closed() -> None:
    async def scenario() -> tuple[bytes, int | None]:
        runtime = FakeRuntime(images=[IMAGE])
        await running_container(runtime)
        inputs = [start(["cat"], stdin=True), kubelet_pb2.ExecInput(stdin=b"one "),
                  kubelet_pb2.ExecInput(stdin=b"two"), kubelet_pb2.ExecInput(stdin_closed=True)]
        return await asyncio.wait_for(exchange(runtime, inputs), TIMEOUT)

    assert asyncio.run(scenario()) == (b"one two", 0)


@pytest.mark.parametrize("container", ["sidecar", "main"])
def test_exec_into_a_container_that_does_not_run_is_container_not_found(container: str) -> None:
    async def scenario() -> Any:
        runtime = FakeRuntime(images=[IMAGE])
        cid = await running_container(runtime)
        await runtime.stop_container(cid, 0)  # "main" exited; "sidecar" never existed
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(exchange(runtime, [start(["true"], container=container)]), TIMEOUT)
        return info.value

    err = asyncio.run(scenario())
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, f'container not found ("{container}")')
