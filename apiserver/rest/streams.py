"""The ``log`` and ``exec`` subresources of Pods over the Kubernetes HTTP API.

``kubectl logs`` and ``kubectl exec`` (and the Python client's ``read_namespaced_pod_log`` and
``stream(connect_get_namespaced_pod_exec, ...)``) talk to these two URLs; the apiserver relays
them to the kubelet of the Pod's node through the same proxy as the gRPC face's API.Logs and
API.Exec (apiserver/logs_proxy.py, apiserver/exec_proxy.py): the same checks of the Pod, the
same messages, the same channels to the kubelets. Only the framing differs.

``GET .../pods/{name}/log?container=&follow=&previous=&tailLines=&limitBytes=``
    200 ``text/plain``, chunked: the container's output as the kubelet sends it; with
    ``follow`` the response stays open until the container's stream ends or the client goes
    away (then the kubelet's follower is cancelled). The status line waits for the kubelet's
    first answer, so that its refusals (``previous terminated container "web" in pod "web-x"
    not found``, ``... is waiting to start``) arrive as a Status with their code, as Kubernetes
    sends them, rather than as a 200 with an empty body. ``limitBytes`` is applied here;
    ``timestamps``, ``sinceSeconds`` and ``sinceTime`` are refused (400): the kubelet's
    ContainerLogs has no such options yet, and silently ignoring them would print wrong output.

``GET .../pods/{name}/exec?command=...&command=...&stdin=&stdout=&stderr=&tty=&container=``
    A WebSocket (``Upgrade: websocket``) speaking Kubernetes' channel protocol,
    ``v5.channel.k8s.io`` or ``v4.channel.k8s.io`` (kubectl ≥ 1.30 offers v5 first, the Python
    client v5 then v4). Every binary message starts with its channel: 0 stdin, 1 stdout,
    2 stderr, 3 error, 4 resize (``{"Width":80,"Height":24}``); v5 adds 255, close:
    ``[255, 0]`` is the end of stdin. Last, channel 3 carries the result as a JSON Status:
    ``{"metadata":{},"status":"Success"}``, or a Failure with reason NonZeroExitCode and the
    code as the cause ``ExitCode`` (which kubectl turns into its own exit code), or the failure
    of the call (container not found, kubelet unreachable); then the socket is closed.
    Errors found before the upgrade (no such Pod, no command, not bound, kubelet unreachable)
    are a plain HTTP Status instead. kubectl falls back to SPDY (a POST) when the upgrade is
    refused: the same checks answer it with the same Status, so the user reads the real
    reason; a POST that passes them is told that only WebSockets are spoken here.

Errors are Kubernetes' Status JSON, built by apiserver/rest/status.py like every other
error of the HTTP face; the kubelet's answers come as APIError classes (KubeletBadRequest 400,
KubeletNotFound 404, any other KubeletError 500), so status.status_of maps them too. On
channel 3 the Status goes without kind and apiVersion, as Kubernetes' remotecommand writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

import structlog
from aiohttp import WSMsgType, web

from apiserver import errors
from apiserver.exec_proxy import ExecProxy
from apiserver.logs_proxy import KubeletCall, LogsProxy, check_options
from apiserver.rest import decode, status
from apiserver.rest.encoding import dumps
from protos import kubelet_pb2

log = structlog.get_logger("apiserver.rest.streams")

# The subprotocols of remote command, newest first: the server's choice when a client offers both.
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: [CLOSE, channel] half-closes that channel

DISCONNECT_POLL = 0.5  # seconds between checks that a following log's client is still there
UNSUPPORTED_LOG_OPTIONS = ("timestamps", "sinceSeconds", "sinceTime")

# ------------------------------------------------------------------ Status JSON


def failure(err: errors.APIError) -> dict[str, Any]:
    """A Status of kind Failure for ``err``, without kind and apiVersion (as on channel 3)."""
    body = status.error_status(err)
    del body["kind"], body["apiVersion"]
    return body


def status_response(err: errors.APIError) -> web.Response:
    body = status.error_status(err)
    return decode.json_response(body, body["code"])


def exit_status(exit_code: int, command: list[str]) -> dict[str, Any]:
    """What channel 3 says when the command has ended, in the kubelet's words."""
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}


# ------------------------------------------------------------ query parameters


def query_bool(query: Mapping[str, str], name: str) -> bool:
    """Kubernetes' query booleans: absent is false; "0", "f" and "false" (any case) are false;
    anything else, even empty (``?follow``), is true."""
    if name not in query:
        return False
    return query[name].lower() not in ("0", "f", "false")


def query_int(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    text = query[name]
    try:
        return int(text, 10)
    except ValueError:
        raise errors.BadRequest(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


@dataclass(frozen=True)
class LogOptions:
    request: kubelet_pb2.LogsRequest
    limit_bytes: int | None


def log_options(query: Mapping[str, str], namespace: str, name: str) -> LogOptions:
    """PodLogOptions from the query, checked as Kubernetes checks them (APIError if bad)."""
    request = kubelet_pb2.LogsRequest(namespace=namespace, pod=name, container=query.get("container", ""),
                                      follow=query_bool(query, "follow"), previous=query_bool(query, "previous"))
    tail = query_int(query, "tailLines")
    if tail is not None:
        request.tail_lines = tail
    limit = query_int(query, "limitBytes")
    check_options(request)
    if limit is not None and limit < 1:
        raise errors.Invalid(f'PodLogOptions "{name}" is invalid: limitBytes: Invalid value: {limit}: '
                             "must be greater than 0")
    for option in UNSUPPORTED_LOG_OPTIONS:
        if option in query and (option != "timestamps" or query_bool(query, option)):
            raise errors.BadRequest(f"{option} is not supported: the kubelets of this cluster cannot "
                                    "select or stamp log lines by time yet")
    return LogOptions(request, limit)


@dataclass(frozen=True)
class ExecOptions:
    start: kubelet_pb2.ExecStart
    stdout: bool
    stderr: bool


def exec_options(query: Any, namespace: str, name: str) -> ExecOptions:
    """PodExecOptions from the query (``command`` repeated), checked as the kubelet checks them."""
    stdin, stdout, stderr, tty = (query_bool(query, k) for k in ("stdin", "stdout", "stderr", "tty"))
    if not (stdin or stdout or stderr):
        raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    # Kubernetes: a terminal has one output stream, stderr is bypassed.
    stderr = stderr and not tty
    start = kubelet_pb2.ExecStart(namespace=namespace, pod=name, container=query.get("container", ""),
                                  command=query.getall("command", []), stdin=stdin, tty=tty)
    return ExecOptions(start, stdout, stderr)


def resize(payload: bytes) -> kubelet_pb2.TerminalSize | None:
    """A resize message's ``{"Width":80,"Height":24}``; None if it is not one."""
    try:
        size = json.loads(payload)
        return kubelet_pb2.TerminalSize(width=int(size.get("Width", 0)), height=int(size.get("Height", 0)))
    except (ValueError, TypeError, AttributeError):
        return None


def stdin_input(protocol: str, message: bytes, stdin: bool, tty: bool) -> kubelet_pb2.ExecInput | None:
    """What one client message means for the kubelet's Exec stream (None: nothing)."""
    if not message:
        return None
    channel, payload = message[0], message[1:]
    if channel == STDIN and stdin and payload:
        return kubelet_pb2.ExecInput(stdin=payload)
    if channel == RESIZE and tty and (size := resize(payload)) is not None:
        return kubelet_pb2.ExecInput(resize=size)
    if channel == CLOSE and protocol == V5 and payload == bytes([STDIN]) and stdin:
        return kubelet_pb2.ExecInput(stdin_closed=True)
    return None  # unknown channels are ignored, as Kubernetes does


# ------------------------------------------------------------------------- log


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def cancel_when_client_leaves(request: web.Request, call: KubeletCall) -> None:
    """Cancel the kubelet call once the HTTP client has disconnected: a silent ``logs -f``
    would otherwise only notice at its next write."""
    while not client_gone(request):
        await asyncio.sleep(DISCONNECT_POLL)
    call.cancel()


async def serve_log(request: web.Request, logs: LogsProxy, namespace: str, name: str) -> web.StreamResponse:
    """GET /api/v1/namespaces/{namespace}/pods/{name}/log."""
    try:
        options = log_options(request.query, namespace, name)
        call = await logs.open_logs(options.request)
    except errors.APIError as err:
        return status_response(err)
    watcher = asyncio.create_task(cancel_when_client_leaves(request, call))
    try:
        try:
            first = await call.read()  # the kubelet's first answer: output, the end, or its refusal
        except errors.APIError as err:
            return status_response(err)
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client went away: nothing more to say
            await relay_log(response, call, first, options.limit_bytes)
            await response.write_eof()
        return response
    finally:
        watcher.cancel()
        call.cancel()


async def relay_log(response: web.StreamResponse, call: KubeletCall, chunk: Any, limit: int | None) -> None:
    sent = 0
    try:
        while chunk is not None:
            data = chunk.data if limit is None else chunk.data[:limit - sent]
            if data:
                await response.write(data)
                sent += len(data)
            if limit is not None and sent >= limit:
                return
            chunk = await call.read()
    except errors.APIError as err:
        # The status line is out: as in Kubernetes, the body just ends.
        log.info("log stream ended early", reason=err.message)


# ------------------------------------------------------------------------ exec


async def serve_exec(request: web.Request, logs: LogsProxy, namespace: str, name: str) -> web.StreamResponse:
    """GET (WebSocket upgrade) or POST /api/v1/namespaces/{namespace}/pods/{name}/exec."""
    proxy = ExecProxy(logs)
    try:
        options = exec_options(request.query, namespace, name)
        node_name, address, _ = proxy.resolve(options.start)
        await logs.open_channel(node_name, address)
    except errors.APIError as err:
        return status_response(err)
    ws = web.WebSocketResponse(protocols=PROTOCOLS)
    ready = ws.can_prepare(request)
    if not ready.ok:
        return status_response(errors.BadRequest(
            f"unable to upgrade: this apiserver streams exec over WebSockets ({', '.join(PROTOCOLS)}), not SPDY"))
    if ready.protocol is None:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        return status_response(errors.BadRequest(
            f"requested protocol(s) are not supported: [{' '.join(p.strip() for p in offered.split(','))}]; "
            f"supports [{' '.join(PROTOCOLS)}]"))
    await ws.prepare(request)
    # As Kubernetes: an empty message on the lowest channel the client reads says "connected".
    await ws.send_bytes(bytes([STDOUT if options.stdout else STDERR if options.stderr else ERROR]))
    try:
        # Checked again: the Pod may have gone since.
        call = await proxy.open(options.start)
    except errors.APIError as err:
        await finish(ws, failure(err))
        return ws
    output = asyncio.create_task(relay_output(ws, call, options))
    pump = asyncio.create_task(relay_input(ws, call, ready.protocol, options.start))
    try:
        done, _ = await asyncio.wait({output, pump}, return_when=asyncio.FIRST_COMPLETED)
        if output in done and output.exception() is None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await finish(ws, output.result())
        elif output in done and not isinstance(output.exception(), ConnectionError):
            log.error("exec relay failed", pod=f"{namespace}/{name}", error=repr(output.exception()))
        # Else the client went away (it closed the socket, or a write to it failed).
    finally:
        for task in (output, pump):
            task.cancel()
        await asyncio.gather(output, pump, return_exceptions=True)
        call.cancel()
    return ws


async def relay_output(ws: web.WebSocketResponse, call: KubeletCall, options: ExecOptions) -> dict[str, Any]:
    """The command's output to the client's channels; returns the Status for channel 3."""
    exit_code: int | None = None
    try:
        async for output in call:
            which = output.WhichOneof("output")
            if which == "stdout" and options.stdout:
                await ws.send_bytes(bytes([STDOUT]) + output.stdout)
            elif which == "stderr" and options.stderr:
                await ws.send_bytes(bytes([STDERR]) + output.stderr)
            elif which == "exit_code":
                exit_code = output.exit_code
    except errors.APIError as err:
        return failure(err)
    if exit_code is None:
        return failure(errors.APIError("the kubelet ended the exec without the command's exit code"))
    return exit_status(exit_code, list(options.start.command))


async def relay_input(ws: web.WebSocketResponse, call: KubeletCall, protocol: str,
                      start: kubelet_pb2.ExecStart) -> None:
    """The client's stdin, its end (v5) and resizes to the kubelet; returns when the client
    has closed the socket (or it broke)."""
    while True:
        message = await ws.receive()
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        if message.type == WSMsgType.BINARY:
            data = message.data
        elif message.type == WSMsgType.TEXT:  # the Python client sends str data as text frames
            data = message.data.encode()
        else:
            continue
        item = stdin_input(protocol, data, start.stdin, start.tty)
        if item is not None:
            await call.write(item)


async def finish(ws: web.WebSocketResponse, result: dict[str, Any]) -> None:
    """The result on channel 3, then a normal close."""
    with contextlib.suppress(ConnectionError):
        await ws.send_bytes(bytes([ERROR]) + dumps(result))
        await ws.close()
