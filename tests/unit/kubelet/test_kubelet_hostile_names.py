"""The kubelet's own check of the names a log or exec request carries: only the apiserver calls
it, but a name that could leave its place (``../../etc/passwd``, ``/``, control characters) is
refused before the runtime is asked anything, with one clear line."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from kubelet.exec_server import ExecError, invalid_names, start_session
from kubelet.log_server import LogsError, LogService
from protos import kubelet_pb2

HOSTILE = ["../../etc/passwd", "/etc/passwd", "..", "a/b", "main\n", "ma\x00in", "mäin", "MAIN", "x" * 254]


def never(*args: object) -> str:
    raise AssertionError(f"the runtime was asked for {args}")


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("field", ["namespace", "pod", "container"])
def test_log_requests_with_hostile_names_are_refused(field: str, name: str) -> None:
    request = kubelet_pb2.LogsRequest(namespace="default", pod="web", container="main")
    setattr(request, field, name)
    service = LogService(runtime=None, find_container=never)  # type: ignore[arg-type]
    with pytest.raises(LogsError) as caught:
        asyncio.run(service._resolve(request))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message.startswith(f"invalid {field} name ")
    assert "\n" not in caught.value.message and "\x00" not in caught.value.message


@pytest.mark.parametrize("name", HOSTILE)
def test_exec_with_a_hostile_container_name_is_refused(name: str) -> None:
    start = kubelet_pb2.ExecStart(namespace="default", pod="web", container=name, command=["cat", "/etc/passwd"])
    with pytest.raises(ExecError) as caught:
        asyncio.run(start_session(None, never, start))  # type: ignore[arg-type]
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_the_words() -> None:
    assert invalid_names("default", "web", "main") == ""
    assert invalid_names("default", "web.v1", "main-2") == ""
    assert invalid_names("default", "web", "../../etc/passwd") == (
        'invalid container name "../../etc/passwd": a lowercase RFC 1123 label must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
        "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
