"""pykubectl's entry point: how failures are reported (one line, exit 1, no traceback)."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from kubectl_testlib import FakeAPI, FakeConnection, FakeRpcError

import kubectl.main
from kubectl.main import main

REPO = Path(__file__).resolve().parents[3]


NO_CONFIG = {"PYKUBECONFIG": "/nonexistent/pykube/config"}


def run_main(monkeypatch: pytest.MonkeyPatch, api: FakeAPI, *argv: str) -> tuple[int, str, str]:
    connection = FakeConnection(api)
    monkeypatch.setattr(kubectl.main, "connect", lambda address, **kwargs: connection)
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env=NO_CONFIG, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("code", "details", "expected"), [
    (grpc.StatusCode.NOT_FOUND, 'pods "web" not found', 'Error from server (NotFound): pods "web" not found'),
    (grpc.StatusCode.ALREADY_EXISTS, 'pods "web" already exists',
     'Error from server (AlreadyExists): pods "web" already exists'),
    (grpc.StatusCode.ABORTED, "the object has been modified",
     "Error from server (Conflict): the object has been modified"),
    (grpc.StatusCode.INVALID_ARGUMENT, 'Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid value',
     'Error from server (Invalid): Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid value'),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "request is too large",
     "Error from server (RequestEntityTooLarge): request is too large"),
    (grpc.StatusCode.OUT_OF_RANGE, "too old resource version: 5 (90)",
     "Error from server (Expired): too old resource version: 5 (90)"),
    (grpc.StatusCode.FAILED_PRECONDITION, "namespace is terminating",
     "Error from server (Forbidden): namespace is terminating"),
    (grpc.StatusCode.INTERNAL, "boom", "Error from server (InternalError): boom"),
    (grpc.StatusCode.UNKNOWN, "Exception calling application",
     "Error from server (InternalError): Exception calling application"),
])
def test_server_errors_are_one_line_with_kubectl_reason(
    monkeypatch: pytest.MonkeyPatch, code: grpc.StatusCode, details: str, expected: str
) -> None:
    api = FakeAPI()
    api.errors["List"] = FakeRpcError(code, details)
    exit_code, out, err = run_main(monkeypatch, api, "get", "pods")
    assert (exit_code, out, err) == (1, "", expected + "\n")


@pytest.mark.parametrize(("details", "trailer", "expected"), [
    # The in-flight cap and the size limit share RESOURCE_EXHAUSTED; the server's reason decides.
    ("Too many requests, please try again later.", (("reason", "TooManyRequests"), ("retry-after", "1")),
     "Error from server (TooManyRequests): Too many requests, please try again later."),
    ("Request entity too large: limit is 3145728", (("reason", "RequestEntityTooLarge"),),
     "Error from server (RequestEntityTooLarge): Request entity too large: limit is 3145728"),
    # An older server without the trailer: Kubernetes' exact message still tells.
    ("Too many requests, please try again later.", None,
     "Error from server (TooManyRequests): Too many requests, please try again later."),
])
def test_resource_exhausted_is_told_apart_by_the_server_reason(
    monkeypatch: pytest.MonkeyPatch, details: str, trailer: Any, expected: str
) -> None:
    api = FakeAPI()
    api.errors["List"] = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, details, trailer)
    exit_code, out, err = run_main(monkeypatch, api, "get", "pods")
    assert (exit_code, out, err) == (1, "", expected + "\n")


def test_get_of_a_missing_name_reports_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, out, err = run_main(monkeypatch, FakeAPI(), "get", "deploy", "x")
    assert exit_code == 1
    assert err == 'Error from server (NotFound): deployments "x" not found\n'


def test_unavailable_from_a_call_is_the_unreachable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeAPI()
    api.errors["List"] = FakeRpcError(
        grpc.StatusCode.UNAVAILABLE,
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:6443: "
        "Failed to connect to remote host: Connection refused",
    )
    exit_code, _, err = run_main(monkeypatch, api, "get", "pods", "--server", "127.0.0.1:6443")
    assert exit_code == 1
    assert err == ("error: cannot reach the pykube apiserver at 127.0.0.1:6443: connection refused "
                   "(is pykube-apiserver running? set --server or $PYKUBECONFIG)\n")


def test_deadline_is_the_unreachable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeAPI()
    api.errors["Get"] = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    exit_code, _, err = run_main(monkeypatch, api, "get", "pod", "web")
    assert exit_code == 1
    assert err.startswith("error: cannot reach the pykube apiserver at 127.0.0.1:6443: timed out")
    assert err.count("\n") == 1


def test_unknown_resource_type(monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, _, err = run_main(monkeypatch, FakeAPI(), "get", "gadgets")
    assert (exit_code, err) == (1, 'error: the server doesn\'t have a resource type "gadgets"\n')


def test_usage_errors_exit_1_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, _, err = run_main(monkeypatch, FakeAPI(), "scale", "deploy/web", "--replicas", "many")
    assert exit_code == 1
    assert err.startswith("error: argument --replicas: invalid int value: 'many'")
    assert err.endswith("See 'pykubectl scale -h' for help and examples.\n")
    exit_code, _, err = run_main(monkeypatch, FakeAPI(), "frobnicate")
    assert exit_code == 1 and err.startswith("error: argument COMMAND: invalid choice: 'frobnicate'")


def test_no_command_prints_help_and_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, out, _ = run_main(monkeypatch, FakeAPI())
    assert exit_code == 0 and out.startswith("usage: pykubectl")


def test_a_bad_manifest_never_dials_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeAPI()
    connection = FakeConnection(api)
    monkeypatch.setattr(kubectl.main, "connect", lambda address, **kwargs: connection)
    err = io.StringIO()
    code = main(["apply", "-f", "-"], env=NO_CONFIG, stdout=io.StringIO(), stderr=err,
                stdin=io.StringIO("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containerz: []}\n"))
    assert code == 1
    assert err.getvalue() == 'error: error validating "STDIN" (document 1): unknown field "containerz" in Pod.spec\n'
    assert not connection.dialled and api.calls == []


def test_global_flags_work_before_and_after_the_verb(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeAPI()
    run_main(monkeypatch, api, "-n", "team-a", "get", "pods")
    run_main(monkeypatch, api, "get", "pods", "--namespace=team-b")
    assert [request.namespace for request in api.requests("List")] == ["team-a", "team-b"]


def test_config_file_supplies_server_and_namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("server: 10.0.0.1:7443\nnamespace: team-a\n")
    seen: list[str] = []

    def fake_connect(address: str, **kwargs: Any) -> FakeConnection:
        seen.append(address)
        return FakeConnection(api)

    api = FakeAPI()
    monkeypatch.setattr(kubectl.main, "connect", fake_connect)
    main(["get", "pods"], env={"PYKUBECONFIG": str(config)}, stdout=io.StringIO(), stderr=io.StringIO())
    main(["get", "pods", "--server", "127.0.0.1:9"], env={"PYKUBECONFIG": str(config)},
         stdout=io.StringIO(), stderr=io.StringIO())
    assert seen == ["10.0.0.1:7443", "127.0.0.1:9"]
    assert api.requests("List")[0].namespace == "team-a"


def test_malformed_config_file_is_one_error_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("server: [\n")
    err = io.StringIO()
    assert main(["get", "pods"], env={"PYKUBECONFIG": str(config)}, stdout=io.StringIO(), stderr=err) == 1
    assert err.getvalue().startswith(f"error: config file {config} is not valid YAML")


def test_bad_server_address_is_rejected(tmp_path: Path) -> None:
    err = io.StringIO()
    env = {"PYKUBECONFIG": str(tmp_path / "none")}
    assert main(["--server", "localhost", "get", "pods"], env=env, stdout=io.StringIO(), stderr=err) == 1
    assert err.getvalue() == 'error: invalid server address "localhost": expected HOST:PORT\n'


# ------------------------------------------------------------- a real process


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_one_line_without_traceback(tmp_path: Path) -> None:
    port = closed_port()
    result = subprocess.run(
        [sys.executable, "-m", "kubectl", "--server", f"127.0.0.1:{port}", "get", "pods"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
        env={"PYKUBECONFIG": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: cannot reach the pykube apiserver at 127.0.0.1:{port}: connection refused "
        "(is pykube-apiserver running? set --server or $PYKUBECONFIG)\n"
    )
