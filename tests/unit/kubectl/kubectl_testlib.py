"""Fakes for pykubectl's unit tests: an in-memory API with the stub's methods, gRPC errors,
and a Context that prints into strings. No apiserver, no network."""

from __future__ import annotations

import datetime
import io
from typing import Any, Callable, Iterator

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.kinds import info_of, kind_info, unwrap, wrap
from client.config import Settings
from kubectl.context import Context
from protos import api_pb2, meta_pb2

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What a stub raises: an RpcError that is also a Call with code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str, trailer: Any = None) -> None:
        super().__init__(details)
        self._code = code
        self._details = details
        self._trailer = trailer

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    # The rest of grpc.Call, unused here (trailing_metadata: the server's reason, if given).
    def initial_metadata(self) -> Any: return None  # noqa: E704
    def trailing_metadata(self) -> Any: return self._trailer  # noqa: E704
    def is_active(self) -> bool: return False  # noqa: E704
    def time_remaining(self) -> Any: return None  # noqa: E704
    def cancel(self) -> bool: return False  # noqa: E704
    def add_callback(self, callback: Any) -> bool: return False  # noqa: E704


def not_found(kind: str, name: str) -> FakeRpcError:
    return FakeRpcError(grpc.StatusCode.NOT_FOUND, f'{kind_info(kind).plural} "{name}" not found')


class FakeAPI:
    """An in-memory stand-in for api_pb2_grpc.APIStub that records every request.

    ``watch_script`` is a list of streams, one per Watch call: each a list of WatchEvents
    or an exception to raise. When the script runs out, Watch raises KeyboardInterrupt
    (what a user's Ctrl-C looks like to the CLI).
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Message] = {}
        self.calls: list[tuple[str, Any]] = []
        self.errors: dict[str, Exception] = {}  # method name -> error to raise
        self.watch_script: list[list[api_pb2.WatchEvent] | Exception] = []
        self.resource_version = 10
        self.on_delete: Callable[[Message], None] | None = None

    # -- test helpers
    def add(self, obj: Message) -> Message:
        self.resource_version += 1
        obj.metadata.resource_version = str(self.resource_version)
        if not obj.metadata.uid:
            obj.metadata.uid = f"uid-{obj.metadata.name}"
        self.objects[self._key(obj)] = obj
        return obj

    def requests(self, method: str) -> list[Any]:
        return [request for name, request in self.calls if name == method]

    @staticmethod
    def _key(obj: Message) -> tuple[str, str, str]:
        return info_of(obj).kind, obj.metadata.namespace, obj.metadata.name

    def _record(self, method: str, request: Any) -> None:
        self.calls.append((method, request))
        if method in self.errors:
            raise self.errors[method]

    # -- the API
    def Get(self, request: api_pb2.GetRequest, timeout: float | None = None) -> api_pb2.Object:
        self._record("Get", request)
        obj = self.objects.get((request.kind, request.namespace, request.name))
        if obj is None:
            raise not_found(request.kind, request.name)
        return wrap(obj)

    def List(self, request: api_pb2.ListRequest, timeout: float | None = None) -> api_pb2.ListResponse:
        self._record("List", request)
        items = []
        for (kind, namespace, name), obj in sorted(self.objects.items()):
            if kind != request.kind or (request.namespace and namespace != request.namespace):
                continue
            if request.field_selector.startswith("metadata.name=") and name != request.field_selector[14:]:
                continue
            items.append(wrap(obj))
        return api_pb2.ListResponse(items=items, resource_version=str(self.resource_version))

    def Apply(self, request: api_pb2.ApplyRequest, timeout: float | None = None) -> api_pb2.ApplyResponse:
        self._record("Apply", request)
        results = []
        for wrapped in request.objects:
            obj = unwrap(wrapped)
            action = "configured" if self._key(obj) in self.objects else "created"
            if not request.dry_run:
                self.add(obj)
            results.append(api_pb2.ApplyResult(object=wrap(obj), action=action))
        return api_pb2.ApplyResponse(results=results)

    def Delete(self, request: api_pb2.DeleteRequest, timeout: float | None = None) -> api_pb2.Object:
        self._record("Delete", request)
        key = (request.kind, request.namespace, request.name)
        obj = self.objects.get(key)
        if obj is None:
            raise not_found(request.kind, request.name)
        if not request.dry_run:
            del self.objects[key]
            if self.on_delete:
                self.on_delete(obj)
        return wrap(obj)

    def Watch(self, request: api_pb2.WatchRequest, timeout: float | None = None) -> Iterator[api_pb2.WatchEvent]:
        self._record("Watch", request)
        if not self.watch_script:
            raise KeyboardInterrupt
        stream = self.watch_script.pop(0)
        if isinstance(stream, Exception):
            raise stream
        return iter(stream)


class FakeConnection:
    """What client.connection.connect returns, over a FakeAPI (patched into kubectl.main)."""

    def __init__(self, api: FakeAPI) -> None:
        self.stub = api
        self.dialled = False

    def dial(self, timeout: float) -> None:
        self.dialled = True

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def event(event_type: str, obj: Message) -> api_pb2.WatchEvent:
    return api_pb2.WatchEvent(type=event_type, object=wrap(obj))


class Harness:
    """A Context over a FakeAPI whose output is kept in strings."""

    def __init__(self, api: FakeAPI, namespace: str = "default", namespace_from_flag: bool = False,
                 stdin: str = "") -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.ctx = Context(
            settings=Settings(server="127.0.0.1:6443", namespace=namespace, namespace_from_flag=namespace_from_flag),
            connect=lambda: api, out=self.out, err=self.err, stdin=io.StringIO(stdin), now=lambda: NOW,
        )

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()


def run_verb(harness: Harness, *argv: str) -> int:
    """Parse argv as pykubectl would and run the verb on the harness's Context."""
    from kubectl.main import parse_command_line

    args = parse_command_line(argv)
    return args.run(args, harness.ctx)


def timestamp(seconds_ago: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(NOW - datetime.timedelta(seconds=seconds_ago))
    return ts


def meta(name: str, namespace: str = "", age_seconds: float | None = 60, **labels: str) -> meta_pb2.ObjectMeta:
    m = meta_pb2.ObjectMeta(name=name, namespace=namespace, labels=labels)
    if age_seconds is not None:
        m.creation_timestamp.CopyFrom(timestamp(age_seconds))
    return m
