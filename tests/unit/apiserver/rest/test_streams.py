"""The Pods' ``log`` and ``exec`` subresources over HTTP (apiserver/rest/streams.py), end to end
in one process: an HTTP client → aiohttp → LogsProxy/ExecProxy → a real kubelet service on
127.0.0.1 (kubelet.log_server) over a stand-in runtime.

The apiserver is conftest's ``server`` (its Registry and LogsProxy, on its event loop); a bare
aiohttp app on that loop routes the two URLs to serve_log and serve_exec, as the RESTServer
does after authentication. The clients are the ones kubectl's Python peer uses: http.client
for logs and websocket-client (what ``kubernetes.stream`` is built on) for exec."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any, Iterator

import pytest
import websocket
from aiohttp import web

from apiserver.rest.streams import V4, V5, exit_status, query_bool, resize, serve_exec, serve_log, stdin_input
from kubelet.runtime.fake import FakeRuntime
from protos import kubelet_pb2
from test_apiserver_exec import exec_runtime, start_web_kubelet
from test_apiserver_logs import WAIT, Kubelet, kubelet, make_node, make_pod, web as web_pod  # noqa: F401 (fixtures)

PODS = "/api/v1/namespaces/{namespace}/pods/{name}"


@pytest.fixture
def address(server: Any) -> Iterator[str]:
    """HOST:PORT of an aiohttp server on the apiserver's loop serving .../log and .../exec."""
    logs = server.server.service.logs

    async def log_handler(request: web.Request) -> web.StreamResponse:
        return await serve_log(request, logs, request.match_info["namespace"], request.match_info["name"])

    async def exec_handler(request: web.Request) -> web.StreamResponse:
        return await serve_exec(request, logs, request.match_info["namespace"], request.match_info["name"])

    async def start() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_get(PODS + "/log", log_handler)
        app.router.add_route("GET", PODS + "/exec", exec_handler)
        app.router.add_route("POST", PODS + "/exec", exec_handler)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    runner, port = server._call(start(), WAIT)
    yield f"127.0.0.1:{port}"
    server._call(runner.cleanup(), WAIT)


def get(address: str, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(address, timeout=WAIT)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def log_url(name: str = "web", namespace: str = "default", query: str = "") -> str:
    return PODS.format(namespace=namespace, name=name) + "/log" + (f"?{query}" if query else "")


# ------------------------------------------------------------------------- log


def test_log_is_the_containers_output_as_text(address: str, web_pod: Kubelet) -> None:
    assert get(address, log_url()) == (200, "text/plain", b"line 1\nline 2\nline 3\n")
    assert web_pod.runtime.calls == [("c1", False, None)]


def test_log_options(address: str, web_pod: Kubelet) -> None:
    assert get(address, log_url(query="tailLines=2"))[2] == b"line 2\nline 3\n"
    assert get(address, log_url(query="tailLines=0"))[2] == b""
    assert get(address, log_url(query="previous=true"))[2] == b"attempt 0\n"
    assert get(address, log_url(query="limitBytes=9"))[2] == b"line 1\nli"
    assert get(address, log_url(query="timestamps=false"))[2] == b"line 1\nline 2\nline 3\n"


def test_log_follow_streams_lines_as_they_arrive_until_the_client_goes(address: str, web_pod: Kubelet) -> None:
    connection = http.client.HTTPConnection(address, timeout=WAIT)
    try:
        connection.request("GET", log_url(query="follow=true"))
        response = connection.getresponse()
        assert (response.status, response.getheader("Transfer-Encoding")) == (200, "chunked")
        received = b""
        while received != b"line 1\nline 2\nline 3\n":
            received += response.read1(1024)
        web_pod.runtime.push(b"line 4\n")
        assert response.read1(1024) == b"line 4\n"
        assert not web_pod.runtime.closed.is_set()
    finally:
        connection.close()
    # The client's going travelled apiserver → kubelet → runtime: nothing keeps following.
    assert web_pod.runtime.closed.wait(WAIT), "the kubelet's runtime stream was not closed"
    assert web_pod.runtime.calls == [("c1", True, None)]


def test_log_errors_are_kubernetes_status(address: str, server: Any, kubelet: Kubelet) -> None:
    stub = server.stub
    make_node(stub, port=kubelet.port)
    make_pod(stub, containers=("a", "b"))
    make_pod(stub, name="pending", node="")

    def error(url: str) -> tuple[int, dict]:
        code, content_type, body = get(address, url)
        assert content_type == "application/json"
        return code, json.loads(body)

    assert error(log_url()) == (400, status(
        400, "BadRequest", "a container name must be specified for pod web, choose one of: [a b]"))
    assert error(log_url(query="container=c")) == (400, status(
        400, "BadRequest", "container c is not valid for pod web"))
    # The kubelet's own refusal, with its words and Kubernetes' code.
    assert error(log_url(query="container=a")) == (400, status(
        400, "BadRequest", 'container "a" in pod "web" is waiting to start'))
    assert error(log_url(name="pending")) == (400, status(
        400, "BadRequest", "pod pending does not have a host assigned"))
    assert error(log_url(name="ghost")) == (404, status(404, "NotFound", 'pods "ghost" not found'))
    assert error(log_url(query="container=a&tailLines=-1")) == (422, status(
        422, "Invalid",
        'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'))
    assert error(log_url(query="container=a&tailLines=x")) == (400, status(
        400, "BadRequest", 'strconv.ParseInt: parsing "x": invalid syntax'))
    code, body = error(log_url(query="container=a&timestamps=true"))
    assert (code, body["message"].split(":")[0]) == (400, "timestamps is not supported")
    assert kubelet.runtime.calls == []  # no container's output was read: "waiting to start" listed containers only


def test_log_previous_without_a_restart(address: str, server: Any, kubelet: Kubelet) -> None:
    make_node(server.stub, port=kubelet.port)
    make_pod(server.stub)
    kubelet.runtime.add("c0", b"x\n")
    code, _, body = get(address, log_url(query="previous=1"))
    assert (code, json.loads(body)) == (400, status(
        400, "BadRequest", 'previous terminated container "main" in pod "web" not found'))


def test_log_of_an_unreachable_kubelet_is_500(address: str, server: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on (once closed)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    make_node(server.stub, port=port)
    make_pod(server.stub)
    code, _, body = get(address, log_url())
    assert (code, json.loads(body)["reason"]) == (500, "InternalError")
    assert json.loads(body)["message"].startswith(f'cannot reach the kubelet of node "n1" at 127.0.0.1:{port}: ')


# ------------------------------------------------------------------------ exec


@pytest.fixture
def runtime(server: Any) -> Iterator[FakeRuntime]:
    """Node n1's kubelet service over a fake runtime in which web's containers run; the fake
    answers a command with its command line and an exit code of its last word if a number
    (with stdin, it first echoes stdin until stdin is closed)."""
    fake = exec_runtime()
    fake.sessions = []  # type: ignore[attr-defined]
    exec_session = fake.exec_session

    async def keep_session(*args: Any, **kwargs: Any) -> Any:
        """The runtime's session, kept, with an Event set when the kubelet closes it."""
        session = await exec_session(*args, **kwargs)
        session.closed = threading.Event()
        close = session.close

        async def closing() -> None:
            session.closed.set()
            await close()

        session.close = closing
        fake.sessions.append(session)  # type: ignore[attr-defined]
        return session

    fake.exec_session = keep_session  # type: ignore[method-assign]
    service = start_web_kubelet(server, server.stub, fake)
    yield fake
    server._call(service.stop(0), WAIT)


def exec_url(*command: str, name: str = "web", query: str = "stdout=true&stderr=true") -> str:
    words = "&".join(f"command={word}" for word in command)
    return PODS.format(namespace="default", name=name) + f"/exec?{words}&{query}"


def connect(address: str, url: str, protocols: tuple[str, ...] = (V5, V4)) -> websocket.WebSocket:
    return websocket.create_connection(f"ws://{address}{url}", subprotocols=list(protocols), timeout=WAIT)


def frames(ws: websocket.WebSocket) -> list[bytes]:
    """Every data message until the server closes the socket."""
    received = []
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return received
        received.append(data)


def test_exec_stdout_and_success(address: str, runtime: FakeRuntime) -> None:
    ws = connect(address, exec_url("echo", "hi"))
    try:
        assert ws.subprotocol == V5  # the newest the client offers
        assert frames(ws) == [b"\x01", b"\x01echo hi\n", b'\x03{"metadata":{},"status":"Success"}']
    finally:
        ws.close()
    main = next(c.id for c in runtime.containers.values() if c.spec.name == "main")
    assert ("exec_session", (main, ["echo", "hi"], False, False)) in runtime.calls


def test_exec_non_zero_exit_is_a_failure_status_on_channel_3(address: str, runtime: FakeRuntime) -> None:
    ws = connect(address, exec_url("sh", "-c", "exit", "3", query="stdout=1&stderr=1&container=side"))
    try:
        *output, error = frames(ws)
    finally:
        ws.close()
    assert output == [b"\x01", b"\x01sh -c exit 3\n"]
    assert error[0] == 3
    assert json.loads(error[1:]) == {
        "metadata": {}, "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}


def test_exec_stdin_is_relayed_and_closed_by_v5s_close_signal(address: str, runtime: FakeRuntime) -> None:
    ws = connect(address, exec_url("cat", query="stdin=true&stdout=true&stderr=true"))
    try:
        ws.send_binary(b"\x00typed ")
        ws.send(b"\x00more", opcode=websocket.ABNF.OPCODE_TEXT)  # the Python client's str frames
        assert ws.recv() == b"\x01"
        assert ws.recv() == b"\x01typed "
        assert ws.recv() == b"\x01more"
        ws.send_binary(bytes([255, 0]))  # the end of stdin
        assert frames(ws) == [b"\x01cat\n", b'\x03{"metadata":{},"status":"Success"}']
    finally:
        ws.close()


def test_exec_v4_has_no_close_signal(address: str, runtime: FakeRuntime) -> None:
    ws = connect(address, exec_url("ls", "2"), protocols=(V4,))
    try:
        assert ws.subprotocol == V4
        *output, error = frames(ws)
    finally:
        ws.close()
    assert output == [b"\x01", b"\x01ls 2\n"]
    assert json.loads(error[1:])["details"] == {"causes": [{"reason": "ExitCode", "message": "2"}]}
    # v4 cannot half-close: 255 is no channel there, stdin stays open.
    assert stdin_input(V4, bytes([255, 0]), stdin=True, tty=False) is None
    assert stdin_input(V5, bytes([255, 0]), stdin=True, tty=False) == kubelet_pb2.ExecInput(stdin_closed=True)


def test_exec_tty_forwards_resizes_and_drops_stderr(address: str, runtime: FakeRuntime) -> None:
    ws = connect(address, exec_url("sh", query="stdin=true&stdout=true&stderr=true&tty=true"))
    try:
        assert ws.recv() == b"\x01"
        ws.send_binary(b'\x04{"Width":80,"Height":24}')
        ws.send_binary(b"\x00x")
        assert ws.recv() == b"\x01x"  # the resize went first, on the same stream
        ws.send_binary(bytes([255, 0]))
        assert frames(ws)[-1] == b'\x03{"metadata":{},"status":"Success"}'
    finally:
        ws.close()
    assert runtime.sessions[-1].resizes == [(80, 24)]  # type: ignore[attr-defined]
    assert ("exec_session", (runtime.calls[-1][1][0], ["sh"], True, True)) in runtime.calls


def test_exec_errors_before_the_upgrade_are_http_status(address: str, server: Any, runtime: FakeRuntime) -> None:
    make_pod(server.stub, name="pending", node="")

    def refused(url: str, protocols: tuple[str, ...] = (V5, V4)) -> tuple[int, dict]:
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            connect(address, url, protocols)
        return caught.value.status_code, json.loads(caught.value.resp_body)

    assert refused(exec_url("true", name="ghost")) == (404, status(404, "NotFound", 'pods "ghost" not found'))
    assert refused(exec_url("true", name="pending")) == (400, status(
        400, "BadRequest", "pod pending does not have a host assigned"))
    assert refused(exec_url()) == (400, status(
        400, "BadRequest", "you must specify at least one command for the container"))
    assert refused(exec_url("true", query="tty=true")) == (400, status(
        400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr"))
    assert refused(exec_url("true", query="stdout=1&container=nope")) == (404, status(
        404, "NotFound", 'container not found ("nope")'))
    assert refused(exec_url("true"), protocols=("channel.k8s.io",)) == (400, status(
        400, "BadRequest", "requested protocol(s) are not supported: [channel.k8s.io]; "
                           "supports [v5.channel.k8s.io v4.channel.k8s.io]"))
    # kubectl's SPDY fallback: the same checks, then the truth about SPDY.
    code, _, body = get(address, exec_url("true", name="ghost"), method="POST")
    assert (code, json.loads(body)["message"]) == (404, 'pods "ghost" not found')
    code, _, body = get(address, exec_url("true"), method="POST")
    assert (code, json.loads(body)["message"]) == (
        400, "unable to upgrade: this apiserver streams exec over WebSockets (v5.channel.k8s.io, "
             "v4.channel.k8s.io), not SPDY")
    assert not any(call[0] == "exec_session" for call in runtime.calls)


def test_exec_kubelet_refusal_after_the_upgrade_is_on_channel_3(address: str, server: Any,
                                                              runtime: FakeRuntime) -> None:
    make_pod(server.stub, name="idle")  # bound to n1, but nothing of it runs there
    ws = connect(address, exec_url("true", name="idle"))
    try:
        assert frames(ws) == [b"\x01", b'\x03{"metadata":{},"status":"Failure","message":"container not found '
                                       b'(\\"main\\")","reason":"NotFound","code":404}']
    finally:
        ws.close()


def test_exec_client_going_away_ends_the_command(address: str, runtime: FakeRuntime) -> None:
    ws = connect(address, exec_url("cat", query="stdin=true&stdout=true"))
    assert ws.recv() == b"\x01"
    ws.send_binary(b"\x00a")
    assert ws.recv() == b"\x01a"
    ws.close()
    # The command never got the end of its stdin: the kubelet's call was cancelled all the same.
    assert runtime.sessions[-1].closed.wait(WAIT), "the exec session outlived its client"  # type: ignore[attr-defined]


# ----------------------------------------------------------------- pure parts


def test_query_booleans_read_as_kubernetes_reads_them() -> None:
    assert [query_bool({"f": v}, "f") for v in ("true", "1", "", "yes", "T")] == [True] * 5
    assert [query_bool({"f": v}, "f") for v in ("false", "0", "f", "FALSE")] == [False] * 4
    assert query_bool({}, "f") is False


def test_resize_messages() -> None:
    assert resize(b'{"Width":120,"Height":40}') == kubelet_pb2.TerminalSize(width=120, height=40)
    assert resize(b"not json") is None
    assert resize(b"[1]") is None
    assert stdin_input(V5, b'\x04{"Width":1,"Height":2}', stdin=False, tty=False) is None  # no terminal


def test_exit_status_shapes() -> None:
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    assert exit_status(127, ["nope"])["details"] == {"causes": [{"reason": "ExitCode", "message": "127"}]}


# --------------------------------------------------------- the official client


def core_v1(address: str) -> Any:
    from kubernetes import client

    configuration = client.Configuration(host=f"http://{address}")
    return client.CoreV1Api(client.ApiClient(configuration))


def test_the_python_clients_read_namespaced_pod_log(address: str, web_pod: Kubelet) -> None:
    api = core_v1(address)
    assert api.read_namespaced_pod_log("web", "default", tail_lines=1) == "line 3\n"
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        api.read_namespaced_pod_log("ghost", "default")
    assert (caught.value.status, json.loads(caught.value.body)["reason"]) == (404, "NotFound")


def test_the_python_clients_stream_exec(address: str, runtime: FakeRuntime) -> None:
    from kubernetes.stream import stream

    api = core_v1(address)
    assert stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["echo", "hi"],
                  stderr=True, stdin=False, stdout=True, tty=False) == "echo hi\n"
    session = stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["cat", "5"],
                     stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    try:
        session.write_stdin("typed")
        session.close_channel(0)  # v5: the end of stdin
        session.run_forever(timeout=WAIT)
        assert session.read_stdout() == "typedcat 5\n"
        assert session.returncode == 5
    finally:
        session.close()
