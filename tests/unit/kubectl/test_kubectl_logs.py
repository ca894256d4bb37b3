"""``pykubectl logs``: flags → API.Logs request, raw bytes out, errors and Ctrl-C like kubectl."""

from __future__ import annotations

import io
from typing import Any, Callable, Iterator

import grpc
import pytest

from kubectl.errors import CliError
from kubectl.main import main
from kubectl_testlib import FakeRpcError, Harness, run_verb
from protos import kubelet_pb2


class LogStream:
    """What the sync stub's Logs returns: an iterator of chunks with cancel()."""

    def __init__(self, items: list[bytes | BaseException]) -> None:
        self.items = items
        self.cancelled = False

    def __iter__(self) -> Iterator[kubelet_pb2.LogChunk]:
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            yield kubelet_pb2.LogChunk(data=item)

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class LogsAPI:
    """A stub with only Logs: records the request, answers with a scripted stream."""

    def __init__(self, *items: bytes | BaseException) -> None:
        self.requests: list[kubelet_pb2.LogsRequest] = []
        self.stream = LogStream(list(items))

    def Logs(self, request: kubelet_pb2.LogsRequest, timeout: float | None = None) -> LogStream:
        self.requests.append(request)
        return self.stream


@pytest.fixture
def logs() -> Callable[..., tuple[int, Harness, LogsAPI]]:
    def run(*argv: str, items: tuple[bytes | BaseException, ...] = (b"hi\n",),
            **harness: Any) -> tuple[int, Harness, LogsAPI]:
        api = LogsAPI(*items)
        h = Harness(api, **harness)  # type: ignore[arg-type]
        return run_verb(h, "logs", *argv), h, api
    return run


# ----------------------------------------------------------------------- flags


def test_defaults_ask_for_everything_of_the_only_container(logs: Any) -> None:
    rc, h, api = logs("web")
    assert rc == 0 and h.stdout == "hi\n" and h.stderr == ""
    assert api.requests == [kubelet_pb2.LogsRequest(namespace="default", pod="web")]
    assert not api.requests[0].HasField("tail_lines")  # unset: all lines
    assert api.stream.cancelled  # always: after the end it is a no-op, before it it stops the server


def test_every_flag_reaches_the_request(logs: Any) -> None:
    # -n is resolved into the Context's settings by main (checked below); the verb reads ctx.namespace.
    rc, _, api = logs("web", "-c", "sidecar", "-f", "--previous", "--tail", "20", namespace="prod")
    assert rc == 0
    (request,) = api.requests
    assert request == kubelet_pb2.LogsRequest(namespace="prod", pod="web", container="sidecar", follow=True,
                                              previous=True, tail_lines=20)


def test_namespace_flag_after_the_verb_is_parsed() -> None:
    from kubectl.main import build_parser
    args = build_parser().parse_args(["logs", "web", "-n", "prod"])
    assert args.namespace == "prod" and args.pod == "web"


def test_short_and_long_spellings(logs: Any) -> None:
    _, _, api = logs("pod/web", "--container=side", "--follow", "-p", "--tail=0")
    assert api.requests[0] == kubelet_pb2.LogsRequest(namespace="default", pod="web", container="side",
                                                      follow=True, previous=True, tail_lines=0)


def test_tail_zero_is_not_all(logs: Any) -> None:
    _, _, api = logs("web", "--tail", "0")
    assert api.requests[0].HasField("tail_lines") and api.requests[0].tail_lines == 0


def test_inline_container_argument(logs: Any) -> None:
    _, _, api = logs("web", "sidecar")
    assert api.requests[0].container == "sidecar"


def test_inline_container_and_dash_c_conflict(logs: Any) -> None:
    with pytest.raises(CliError, match="only one of -c or an inline"):
        logs("web", "sidecar", "-c", "other")


def test_pods_slash_name_forms(logs: Any) -> None:
    for arg in ("pods/web", "po/web", "pod/web"):
        _, _, api = logs(arg)
        assert api.requests[0].pod == "web"


def test_other_resource_types_are_refused(logs: Any) -> None:
    with pytest.raises(CliError, match=r"cannot get logs from deployment.apps/web: only pods"):
        logs("deploy/web")


# ---------------------------------------------------------------------- output


def test_chunks_are_written_as_raw_bytes_and_flushed() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    api = LogsAPI(b"caf\xc3", b"\xa9\n", b"\xff\xfe binary\n")
    h = Harness(api)  # type: ignore[arg-type]
    h.ctx.out = out
    assert run_verb(h, "logs", "web") == 0
    assert raw.getvalue() == b"caf\xc3\xa9\n\xff\xfe binary\n"


def test_text_only_output_decodes_split_characters_whole(logs: Any) -> None:
    rc, h, _ = logs("web", items=(b"caf\xc3", b"\xa9\n"))
    assert rc == 0 and h.stdout == "café\n"


def test_ctrl_c_while_following_exits_zero_and_cancels(logs: Any) -> None:
    rc, h, api = logs("web", "-f", items=(b"one\n", b"two\n", KeyboardInterrupt()))
    assert rc == 0
    assert h.stdout == "one\ntwo\n" and h.stderr == ""
    assert api.stream.cancelled


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("code, message, line", [
    (grpc.StatusCode.INVALID_ARGUMENT,
     "a container name must be specified for pod web, choose one of: [a b]",
     "Error from server (BadRequest): a container name must be specified for pod web, choose one of: [a b]"),
    (grpc.StatusCode.FAILED_PRECONDITION,
     'container "main" in pod "web" is waiting to start',
     'Error from server (BadRequest): container "main" in pod "web" is waiting to start'),
    (grpc.StatusCode.NOT_FOUND, 'pods "web" not found', 'Error from server (NotFound): pods "web" not found'),
    (grpc.StatusCode.INTERNAL, "cannot reach the kubelet",
     "Error from server (InternalError): cannot reach the kubelet"),
])
def test_server_errors_print_like_kubectl(logs: Any, code: grpc.StatusCode, message: str, line: str) -> None:
    rc, h, _ = logs("web", items=(FakeRpcError(code, message),))
    assert rc == 1
    assert h.stderr == line + "\n"


def test_an_error_mid_stream_keeps_what_was_printed(logs: Any) -> None:
    rc, h, _ = logs("web", "-f", items=(b"partial\n", FakeRpcError(grpc.StatusCode.INTERNAL, "kubelet went away")))
    assert rc == 1
    assert h.stdout == "partial\n"
    assert h.stderr == "Error from server (InternalError): kubelet went away\n"


def test_an_unreachable_apiserver_is_left_to_main(logs: Any) -> None:
    with pytest.raises(grpc.RpcError):
        logs("web", items=(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"),))


def test_missing_pod_argument_is_a_usage_error() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["logs"], env={}, stdout=out, stderr=err) == 1
    assert "the following arguments are required: POD" in err.getvalue()
    assert "See 'pykubectl logs -h'" in err.getvalue()

