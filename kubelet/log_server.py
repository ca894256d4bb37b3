"""The kubelet's own service: pykube.v1.Kubelet.ContainerLogs (and Exec, see exec_server.py, and
PortForward, see port_forward.py).

Only the apiserver calls it (``pykubectl logs`` → API.Logs → here), as Kubernetes'
apiserver proxies ``/containerLogs`` to the kubelet: users never dial a node. The
apiserver has already checked the Pod exists and resolved the container name, so this
side only has to map (namespace, pod, container, previous) to one runtime container
and stream its output.

Which container that is belongs to the kubelet (it knows the current attempt of each
container), so the servicer takes a ``find_container`` callable. ``find_container_in``
is the default over ``runtime.list_containers()``, using the attempt labels every
pykube container carries:

* current: the highest attempt of that container in that pod (running, or exited and
  waiting for its restart: the last output is what a user wants to see);
* previous: the highest attempt below the current one.

Errors are gRPC status codes with Kubernetes' kubelet messages; the apiserver passes
them through unchanged, so ``pykubectl logs`` prints exactly these words.
"""

from __future__ import annotations

import inspect
from typing import AsyncIterator, Awaitable, Callable, Iterable, Union

import grpc
import structlog

from kubelet.exec_server import container_not_found, exec_stream, invalid_names
from kubelet.port_forward import port_forward_stream
from kubelet.runtime import ContainerRuntimeError, ContainerStatus, Runtime
from kubelet.server_tls import AuthorizingInterceptor, KubeletServing
from protos import kubelet_pb2, kubelet_pb2_grpc

log = structlog.get_logger("kubelet.logs")

# gRPC's default message cap is 4 MiB; keep every chunk well below it whatever the
# runtime hands us (a --tail of a chatty container can come back as one big read).
MAX_CHUNK_BYTES = 256 * 1024

# find_container(namespace, pod, container, previous) -> runtime container id, or a
# coroutine resolving to one. Raises LogsError when there is nothing to show.
FindContainer = Callable[[str, str, str, bool], Union[str, Awaitable[str]]]


class LogsError(Exception):
    """Why there are no logs to stream; becomes the call's gRPC status (code + message)."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def waiting_to_start(container: str, pod: str, reason: str = "") -> LogsError:
    """No instance of the container exists yet (image pull, creating, never started).

    FAILED_PRECONDITION: the request is fine, the container is just not there yet
    (Kubernetes answers 400 with this message; pykubectl shows it as BadRequest)."""
    suffix = f": {reason}" if reason else ""
    return LogsError(f'container "{container}" in pod "{pod}" is waiting to start{suffix}')


def previous_not_found(container: str, pod: str) -> LogsError:
    """``--previous`` on a container that has never been restarted."""
    return LogsError(f'previous terminated container "{container}" in pod "{pod}" not found')


def find_container_in(runtime: Runtime) -> Callable[[str, str, str, bool], Awaitable[str]]:
    """The default ``find_container``: pick from ``runtime.list_containers()`` by labels.

    A kubelet with its own view of each Pod (pod workers, status manager) should pass a
    finder built on that instead: it can tell a crash-looping container from one that is
    done for good, and ignore leftovers of a deleted Pod that had the same name."""

    async def find(namespace: str, pod: str, container: str, previous: bool) -> str:
        return pick_container(await runtime.list_containers(), namespace, pod, container, previous)

    return find


def pick_container(statuses: Iterable[ContainerStatus], namespace: str, pod: str, container: str,
                   previous: bool) -> str:
    """The pure choice behind ``find_container_in``: the container id to read, or LogsError."""
    attempts = sorted(
        (s for s in statuses if s.pod_namespace == namespace and s.pod_name == pod and s.name == container),
        key=lambda s: s.attempt,
    )
    if not attempts:
        raise waiting_to_start(container, pod)
    current = attempts[-1]
    if not previous:
        return current.id
    older = [s for s in attempts if s.attempt < current.attempt]
    if not older:
        raise previous_not_found(container, pod)
    return older[-1].id


class LogService(kubelet_pb2_grpc.KubeletServicer):
    """pykube.v1.Kubelet on one node's runtime."""

    def __init__(self, runtime: Runtime, find_container: FindContainer | None = None) -> None:
        self.runtime = runtime
        self.find_container: FindContainer = find_container or find_container_in(runtime)

    async def _resolve(self, request: kubelet_pb2.LogsRequest) -> str:
        if not request.pod or not request.container:
            # The apiserver always names both; a bare call without them is a caller bug.
            raise LogsError("a pod and a container name must be specified", grpc.StatusCode.INVALID_ARGUMENT)
        if problem := invalid_names(request.namespace or "default", request.pod, request.container):
            raise LogsError(problem, grpc.StatusCode.INVALID_ARGUMENT)
        if request.HasField("tail_lines") and request.tail_lines < 0:
            raise LogsError(f"tailLines: Invalid value: {request.tail_lines}: must be greater than or equal to 0",
                            grpc.StatusCode.INVALID_ARGUMENT)
        found = self.find_container(request.namespace, request.pod, request.container, request.previous)
        if inspect.isawaitable(found):
            found = await found
        return found  # type: ignore[return-value]

    async def _find_for_exec(self, namespace: str, pod: str, container: str, previous: bool) -> str:
        try:
            found = self.find_container(namespace, pod, container, previous)
            return await found if inspect.isawaitable(found) else found  # type: ignore[return-value]
        except LogsError:  # waiting to start, or never ran: nothing to exec in
            raise container_not_found(container) from None

    async def Exec(self, request_iterator: AsyncIterator[kubelet_pb2.ExecInput],
                   context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.ExecOutput]:
        """``pykubectl exec`` (see exec_server.py)."""
        async for output in exec_stream(self.runtime, self._find_for_exec, request_iterator, context):
            yield output

    async def PortForward(self, request_iterator: AsyncIterator[kubelet_pb2.PortForwardInput],
                          context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.PortForwardOutput]:
        """``pykubectl port-forward`` (see port_forward.py)."""
        async for output in port_forward_stream(self.runtime, request_iterator, context):
            yield output

    async def ContainerLogs(self, request: kubelet_pb2.LogsRequest,
                            context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.LogChunk]:
        try:
            container_id = await self._resolve(request)
        except LogsError as err:
            await context.abort(err.code, err.message)
        except ContainerRuntimeError as err:
            await context.abort(grpc.StatusCode.INTERNAL, f"failed to list containers: {err}")
        tail = request.tail_lines if request.HasField("tail_lines") else None
        log.debug("streaming logs", namespace=request.namespace, pod=request.pod, container=request.container,
                  container_id=container_id, follow=request.follow, tail=tail)
        stream = self.runtime.logs(container_id, follow=request.follow, tail=tail)
        try:
            async for data in stream:
                for start in range(0, len(data), MAX_CHUNK_BYTES):
                    yield kubelet_pb2.LogChunk(data=data[start:start + MAX_CHUNK_BYTES])
        except ContainerRuntimeError as err:
            # E.g. the container was removed between the lookup and the read.
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f'failed to get logs of container "{request.container}" in pod '
                                f'"{request.pod}": {err}')
        finally:
            # The client went away (cancellation lands here) or the stream ended: stop
            # the runtime's reader too, so a `-f` leaves no Podman stream behind.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


async def start_log_server(runtime: Runtime, find_container: FindContainer | None = None,
                           listen: str = "127.0.0.1:0",
                           serving: KubeletServing | None = None) -> tuple[grpc.aio.Server, int]:
    """Serve pykube.v1.Kubelet on ``listen`` (port 0: any free one); return (server, port).

    With ``serving`` holding the TLS files, over mutual TLS and only to the callers it
    authorizes (see server_tls.py); else plaintext to anyone who can reach ``listen``.
    Call from the kubelet's running event loop; stop with ``await server.stop(grace)``.
    The port is what the kubelet publishes in its Node's
    ``status.daemonEndpoints.kubeletEndpoint.Port`` so the apiserver can find it."""
    credentials = serving.credentials() if serving is not None else None  # ValueError: unreadable files
    interceptors = [AuthorizingInterceptor(serving.authorizer())] if serving is not None and credentials else []
    server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
    kubelet_pb2_grpc.add_KubeletServicer_to_server(LogService(runtime, find_container), server)
    try:
        port = server.add_secure_port(listen, credentials) if credentials else server.add_insecure_port(listen)
    except RuntimeError:  # grpc's way of saying bind() failed
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {listen}: the address is in use or not local")
    await server.start()
    log.info("kubelet log server serving", address=f"{listen.rsplit(':', 1)[0]}:{port}",
             tls=credentials is not None)
    return server, port
