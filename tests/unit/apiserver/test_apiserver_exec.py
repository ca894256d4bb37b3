"""API.Exec end to end in one process: pykubectl → apiserver → kubelet (Kubelet.Exec) → runtime.

A real apiserver (conftest's ``server``) and a real kubelet service on 127.0.0.1 backed by the
fake runtime, whose exec answers with the command line it got; the Node publishes the
service's port as a kubelet does. What the apiserver checks itself (the Pod, the container, a
host) and what it relays (stdin, output, the exit code) are both covered; the real thing, with
Podman and a TTY, is tests/integration/test_cluster_habits.py."""

from __future__ import annotations

import io
from typing import Any, Iterator

import pytest

from apiserver_testlib import rpc_error
from kubectl.main import main as pykubectl
from kubelet.log_server import start_log_server
from kubelet.runtime import ContainerSpec, SandboxSpec
from kubelet.runtime.fake import FakeRuntime
from protos import kubelet_pb2
from test_apiserver_logs import WAIT, make_node, make_pod

IMAGE = "busybox:1.36"


def exec_runtime() -> FakeRuntime:
    """A fake runtime whose exec answers with the command line and an exit code of its last
    word if a number."""
    return FakeRuntime("n1", images=[IMAGE],
                       exec_handler=lambda cmd: (int(cmd[-1]) if cmd[-1].isdigit() else 0, " ".join(cmd) + "\n"))


def start_web_kubelet(server: Any, stub: Any, fake: FakeRuntime) -> Any:
    """web's containers (main, side) running in ``fake``, served as node n1's kubelet; the Node
    and the Pod made. Returns the kubelet service (for ``server._call(service.stop(0), WAIT)``)."""

    async def run_web() -> None:
        sandbox = await fake.create_sandbox(SandboxSpec("uid-web", "web", "default", "web"))
        for name in ("main", "side"):
            cid = await fake.create_container(sandbox.id, ContainerSpec("uid-web", "web", "default", name, 0, IMAGE))
            await fake.start_container(cid)

    server._call(run_web(), WAIT)
    service, port = server._call(start_log_server(fake), WAIT)
    make_node(stub, port=port)
    make_pod(stub, containers=("main", "side"))
    return service


@pytest.fixture
def runtime(server: Any, stub: Any) -> Iterator[FakeRuntime]:
    """Node n1's kubelet service over a fake runtime in which web's containers run."""
    fake = exec_runtime()
    service = start_web_kubelet(server, stub, fake)
    yield fake
    server._call(service.stop(0), WAIT)


def exec_cli(server: Any, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = pykubectl(["--server", server.address, "exec", *argv], env={}, stdout=out, stderr=err,
                   stdin=io.StringIO(stdin))
    return rc, out.getvalue(), err.getvalue()


def test_exec_relays_output_and_exit_code_through_the_apiserver(server: Any, stub: Any, runtime: FakeRuntime) -> None:
    start = kubelet_pb2.ExecStart(namespace="default", pod="web", command=["sh", "-c", "exit", "4"])
    outputs = list(stub.Exec(iter([kubelet_pb2.ExecInput(start=start)]), timeout=WAIT))
    assert [o.WhichOneof("output") for o in outputs] == ["stdout", "exit_code"]
    assert (outputs[0].stdout, outputs[1].exit_code) == (b"sh -c exit 4\n", 4)
    main = next(c.id for c in runtime.containers.values() if c.spec.name == "main")
    assert ("exec_session", (main, ["sh", "-c", "exit", "4"], False, False)) in runtime.calls  # the first one


def test_pykubectl_exec_prints_kubectls_lines_and_exits_with_the_commands_code(server: Any,
                                                                               runtime: FakeRuntime) -> None:
    assert exec_cli(server, "web", "--", "false", "3") == (
        3, "false 3\n", 'Defaulted container "main" out of: main, side\ncommand terminated with exit code 3\n')
    # The fake echoes stdin, then answers with the command line.
    assert exec_cli(server, "web", "-c", "side", "-i", "--", "cat", stdin="typed") == (0, "typedcat\n", "")


def test_pykubectl_exec_errors_are_one_line(server: Any, stub: Any, runtime: FakeRuntime) -> None:
    make_pod(stub, name="pending", node="")
    assert exec_cli(server, "web", "-c", "nope", "--", "true") == (
        1, "", 'error: unable to upgrade connection: container not found ("nope")\n')
    assert exec_cli(server, "ghost", "--", "true") == (1, "", 'Error from server (NotFound): pods "ghost" not found\n')
    assert exec_cli(server, "pending", "--", "true") == (
        1, "", "Error from server (Invalid): pod pending does not have a host assigned\n")
    assert exec_cli(server, "web") == (1, "", "error: you must specify at least one command for the container\n")


def test_the_first_message_must_be_the_start(stub: Any) -> None:
    err = rpc_error(lambda: list(stub.Exec(iter([kubelet_pb2.ExecInput(stdin=b"x")]), timeout=WAIT)))
    assert err.details() == "the first message of an exec must be its start"
