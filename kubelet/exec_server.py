"""The kubelet's side of ``pykubectl exec``: pykube.v1.Kubelet.Exec over the runtime.

Only the apiserver calls it (``pykubectl exec`` → API.Exec → here), as Kubernetes' apiserver
proxies ``/exec`` to the kubelet. The call is one bidirectional stream: the first message
(``ExecStart``) names the Pod's container, the command and whether it wants stdin and a TTY;
after it come stdin data, the end of stdin and terminal resizes, while the command's stdout
and stderr flow back, and last its exit code.

The container is the current attempt of that container in that Pod (the same choice as
``logs``), and it must be running: otherwise the answer is Kubernetes' kubelet's
``container not found ("c")``, which pykubectl prints as
``error: unable to upgrade connection: container not found ("c")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any, AsyncIterator, Awaitable, Callable, Union

import grpc
import structlog

from apimachinery.names import go_quote, is_dns1123_label, is_dns1123_subdomain
from kubelet.runtime import ContainerRuntimeError, ExecSession, Runtime
from protos import kubelet_pb2

log = structlog.get_logger("kubelet.exec")

MAX_CHUNK_BYTES = 256 * 1024  # well under gRPC's 4 MiB message cap, as for logs

# find_container(namespace, pod, container, previous) -> runtime container id (as for logs);
# raises ExecError (container_not_found) when there is none.
FindContainer = Callable[[str, str, str, bool], Union[str, Awaitable[str]]]


class ExecError(Exception):
    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def invalid_names(namespace: str, pod: str, container: str) -> str:
    """Why a request's names cannot name a Pod's container ("" when they can): a namespace and a
    container are DNS-1123 labels, a Pod name a DNS-1123 subdomain, as the apiserver allows them.
    The names are only compared with the runtime's labels, never joined into a path; checking them
    anyway keeps ``../../etc/passwd`` from reaching the runtime at all."""
    for what, name, check in (("namespace", namespace, is_dns1123_label), ("pod", pod, is_dns1123_subdomain),
                              ("container", container, is_dns1123_label)):
        if problems := check(name):
            return f"invalid {what} name {go_quote(name)}: {problems[-1]}"
    return ""


def container_not_found(container: str) -> ExecError:
    return ExecError(f'container not found ("{container}")', grpc.StatusCode.NOT_FOUND)


async def start_session(runtime: Runtime, find_container: FindContainer,
                        start: kubelet_pb2.ExecStart) -> ExecSession:
    if not start.pod or not start.container or not start.command:
        raise ExecError("a pod, a container and a command must be specified", grpc.StatusCode.INVALID_ARGUMENT)
    if problem := invalid_names(start.namespace or "default", start.pod, start.container):
        raise ExecError(problem, grpc.StatusCode.INVALID_ARGUMENT)
    try:
        found = find_container(start.namespace, start.pod, start.container, False)
        container_id = await found if inspect.isawaitable(found) else found
        return await runtime.exec_session(container_id, list(start.command), stdin=start.stdin, tty=start.tty,
                                          width=start.size.width, height=start.size.height)
    except ContainerRuntimeError as err:
        if "state improper" in str(err) or "no such container" in str(err).lower():
            raise container_not_found(start.container) from None
        raise ExecError(f"exec in {start.pod}/{start.container}: {err}", grpc.StatusCode.INTERNAL) from None


async def feed_input(session: ExecSession, requests: AsyncIterator[kubelet_pb2.ExecInput]) -> None:
    """Client → command: stdin, its end, resizes, until the client's side of the stream ends."""
    async for item in requests:
        which = item.WhichOneof("input")
        if which == "stdin":
            await session.write_stdin(item.stdin)
        elif which == "stdin_closed":
            await session.close_stdin()
        elif which == "resize":
            await session.resize(item.resize.width, item.resize.height)


async def read_start(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext, what: str) -> Any:
    """The ``start`` a bidirectional call (exec, port-forward) must begin with; else abort."""
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("input") != "start":
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the first message of {what} must be its start")
    return first.start


async def exec_stream(runtime: Runtime, find_container: FindContainer,
                      requests: AsyncIterator[kubelet_pb2.ExecInput],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.ExecOutput]:
    """The body of Kubelet.Exec."""
    start = await read_start(requests, context, "an exec")
    try:
        session = await start_session(runtime, find_container, start)
    except ExecError as err:
        await context.abort(err.code, err.message)
    log.info("exec", namespace=start.namespace, pod=start.pod, container=start.container,
             command=list(start.command), stdin=start.stdin, tty=start.tty)
    feeder = asyncio.create_task(feed_input(session, requests))
    try:
        async for stream, data in session.output():
            for offset in range(0, len(data), MAX_CHUNK_BYTES):
                yield kubelet_pb2.ExecOutput(**{stream: data[offset:offset + MAX_CHUNK_BYTES]})
        yield kubelet_pb2.ExecOutput(exit_code=await session.wait())
    finally:
        # Done, or the client went away (cancelled): the command must not outlive the call.
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder
        await session.close()
