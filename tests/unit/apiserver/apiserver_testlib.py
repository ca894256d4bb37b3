"""Helpers shared by the apiserver API tests: object builders, error capture and a
threaded Watch reader with timeouts (see conftest.py for the server fixtures)."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

import grpc
import pytest

from apimachinery.identity import UserInfo
from protos import api_pb2, api_pb2_grpc


UNARY_TIMEOUT = 10.0


class TimeoutStub:
    """The generated APIStub with a deadline on every unary call, so a hung server
    fails a test instead of hanging it. Watch (a stream) is passed through as is."""

    def __init__(self, stub: api_pb2_grpc.APIStub, timeout: float = UNARY_TIMEOUT) -> None:
        self._stub = stub
        self._timeout = timeout

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        if name == "Watch":
            return method

        def call(request: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self._timeout)
            return method(request, **kwargs)
        return call


def pod(name: str = "web", image: str = "nginx:1.27", namespace: str = "", labels: dict | None = None,
        **spec: Any) -> api_pb2.Object:
    obj = api_pb2.Object()
    obj.pod.metadata.name = name
    if namespace:
        obj.pod.metadata.namespace = namespace
    for k, val in (labels or {}).items():
        obj.pod.metadata.labels[k] = val
    obj.pod.spec.containers.add(name="main", image=image)  # defaults are the server's job
    for k, val in spec.items():
        setattr(obj.pod.spec, k, val)
    return obj


def deployment(name: str = "web", replicas: int | None = None, labels: dict | None = None,
               namespace: str = "") -> api_pb2.Object:
    labels = labels or {"app": name}
    obj = api_pb2.Object()
    d = obj.deployment
    d.metadata.name = name
    if namespace:
        d.metadata.namespace = namespace
    if replicas is not None:
        d.spec.replicas = replicas
    for k, val in labels.items():
        d.spec.selector.match_labels[k] = val
        d.spec.template.metadata.labels[k] = val
    d.spec.template.spec.containers.add(name="main", image="nginx:1.27")
    return obj


def namespace(name: str) -> api_pb2.Object:
    obj = api_pb2.Object()
    obj.namespace.metadata.name = name
    return obj


def node(name: str) -> api_pb2.Object:
    obj = api_pb2.Object()
    obj.node.metadata.name = name
    return obj


def names(response: api_pb2.ListResponse) -> list[str]:
    return [getattr(o, o.WhichOneof("kind")).metadata.name for o in response.items]


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """Run a call that must fail; return its RpcError (code() and details())."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value  # type: ignore[return-value]


class WatchReader:
    """A Watch stream read on a thread into a queue, so tests can wait with timeouts."""

    _END = object()

    def __init__(self, stub: api_pb2_grpc.APIStub, request: api_pb2.WatchRequest) -> None:
        self.call = stub.Watch(request)
        self.events: queue.Queue = queue.Queue()
        self.error: grpc.RpcError | None = None
        self.thread = threading.Thread(target=self._read, name="watch-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.put(event)
        except grpc.RpcError as err:
            self.error = err
        finally:
            self.events.put(self._END)

    def next(self, timeout: float = 5.0) -> api_pb2.WatchEvent:
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch event within {timeout}s") from None
        if item is self._END:
            self.events.put(self._END)
            raise AssertionError(f"watch ended: {self.error!r}")
        return item

    def take(self, n: int, timeout: float = 5.0) -> list[api_pb2.WatchEvent]:
        return [self.next(timeout) for _ in range(n)]

    def next_non_bookmark(self, timeout: float = 5.0) -> api_pb2.WatchEvent:
        while True:
            event = self.next(timeout)
            if event.type != "BOOKMARK":
                return event

    def wait_end(self, timeout: float = 5.0) -> grpc.RpcError | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "watch did not end"
        return self.error

    def assert_quiet(self) -> None:
        """Nothing queued right now (checked after a later marker event arrived elsewhere)."""
        assert self.events.empty(), [e for e in list(self.events.queue)]

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(5.0)
        assert not self.thread.is_alive(), "watch reader did not stop"


def obj_of(wrapped: api_pb2.Object) -> Any:
    return getattr(wrapped, wrapped.WhichOneof("kind"))



# -------------------------------------------------------------- request shortcuts


def create(stub: Any, obj: api_pb2.Object) -> Any:
    return obj_of(stub.Create(api_pb2.CreateRequest(object=obj)))


def get(stub: Any, kind: str, name: str, namespace: str = "") -> Any:
    return obj_of(stub.Get(api_pb2.GetRequest(kind=kind, namespace=namespace, name=name)))


def update(stub: Any, obj: Any) -> Any:
    return obj_of(stub.Update(api_pb2.UpdateRequest(object=wrap(obj))))


def update_status(stub: Any, obj: Any) -> Any:
    return obj_of(stub.UpdateStatus(api_pb2.UpdateRequest(object=wrap(obj))))


def list_names(stub: Any, kind: str, namespace: str = "", labels: str = "", fields: str = "") -> list[str]:
    return names(stub.List(api_pb2.ListRequest(kind=kind, namespace=namespace, label_selector=labels,
                                               field_selector=fields)))


def revision(stub: Any) -> int:
    """The store's current revision (any List reports it)."""
    return int(stub.List(api_pb2.ListRequest(kind="Namespace")).resource_version)


def snapshot(stub: Any, *kinds: str) -> tuple[int, dict[str, list[Any]]]:
    """Everything observable for some kinds, to assert a failed request wrote nothing."""
    lists = {kind: list(stub.List(api_pb2.ListRequest(kind=kind)).items) for kind in kinds}
    return revision(stub), lists


def wrap(obj: Any) -> api_pb2.Object:
    from apimachinery.kinds import wrap as _wrap
    return _wrap(obj)


class HeaderAuthenticator:
    """Names the caller from an ``x-user: NAME|GROUP,GROUP`` header, adding
    system:authenticated as Kubernetes' authenticators do (the apiserver's authenticator
    interface, for tests that need several identities without certificates)."""

    def authenticate(self, context: Any) -> UserInfo | None:
        for key, value in context.invocation_metadata() or ():
            if key == "x-user":
                name, _, groups = value.partition("|")
                return UserInfo(name, (*(g for g in groups.split(",") if g), "system:authenticated"))
        return None
