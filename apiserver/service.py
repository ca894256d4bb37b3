"""The gRPC face of the apiserver: pykube.v1.API, a thin adapter over the Registry.

Each unary call runs the registry synchronously on the event loop (see
registry.py for why that makes compare-and-swap atomic); Batch runs several such
calls in one round trip; Watch and WatchBatches stream events from a watch-cache
watcher until the client goes away."""

from __future__ import annotations

from typing import AsyncIterator, Callable, TypeVar

import grpc
import structlog
from google.protobuf.message import Message

from apimachinery.kinds import KINDS, KindInfo, UnknownKindError, kind_info, unwrap, wrap
from apimachinery.version import version_info
from apiserver import errors, served, watch_loop
from apiserver.auth import access_review, request_user
from apiserver.auth.attributes import Authorizer
from apiserver.exec_proxy import ExecProxy
from apiserver.logs_proxy import LogsProxy
from apiserver.port_forward_proxy import PortForwardProxy
from apiserver.registry.registry import Registry
from apiserver.watchcache import PendingEvent, WatchCache, Watcher
from protos import api_pb2, api_pb2_grpc, kubelet_pb2

log = structlog.get_logger("apiserver")
T = TypeVar("T")

# Events per WatchBatches message: big enough that a burst costs few messages, small
# enough that a relist-sized backlog does not become one huge message.
WATCH_BATCH_LIMIT = 500


def encode_event(event_type: str, obj: Message) -> bytes:
    return api_pb2.WatchEvent(type=event_type, object=wrap(obj)).SerializeToString()


class APIService(api_pb2_grpc.APIServicer):
    def __init__(self, registry: Registry, cache: WatchCache, bookmark_interval: float = 5.0,
                 logs: LogsProxy | None = None, authorizer: Authorizer | None = None) -> None:
        self.registry = registry
        self.authorizer = authorizer  # what access reviews ask (None: AlwaysAllow)
        self.cache = cache
        self.bookmark_interval = bookmark_interval
        self.logs = logs or LogsProxy(registry)

    async def _run(self, context: grpc.aio.ServicerContext, call: Callable[[], T]) -> T:
        try:
            return call()
        except errors.APIError as err:
            await context.abort(err.code, err.message)
        except UnknownKindError as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        raise AssertionError("unreachable: abort raises")

    async def Create(self, request: api_pb2.CreateRequest, context: grpc.aio.ServicerContext) -> api_pb2.Object:
        return await self._run(context, lambda: wrap(self.registry.create(unwrap(request.object), request.dry_run)))

    async def Get(self, request: api_pb2.GetRequest, context: grpc.aio.ServicerContext) -> api_pb2.Object:
        return await self._run(context, lambda: wrap(self.registry.get(request.kind, request.namespace, request.name)))

    async def List(self, request: api_pb2.ListRequest, context: grpc.aio.ServicerContext) -> api_pb2.ListResponse:
        def call() -> api_pb2.ListResponse:
            items, revision = self.registry.list(request.kind, request.namespace, request.label_selector,
                                                 request.field_selector)
            return api_pb2.ListResponse(items=[wrap(o) for o in items], resource_version=str(revision))
        return await self._run(context, call)

    async def Update(self, request: api_pb2.UpdateRequest, context: grpc.aio.ServicerContext) -> api_pb2.Object:
        return await self._run(context, lambda: wrap(self.registry.update(unwrap(request.object), request.dry_run)))

    async def UpdateStatus(self, request: api_pb2.UpdateRequest, context: grpc.aio.ServicerContext) -> api_pb2.Object:
        return await self._run(context, lambda: wrap(self.registry.update_status(unwrap(request.object),
                                                                                 request.dry_run)))

    async def Delete(self, request: api_pb2.DeleteRequest, context: grpc.aio.ServicerContext) -> api_pb2.Object:
        return await self._run(context, lambda: wrap(self._delete(request)))

    async def Apply(self, request: api_pb2.ApplyRequest, context: grpc.aio.ServicerContext) -> api_pb2.ApplyResponse:
        def call() -> api_pb2.ApplyResponse:
            results = self.registry.apply([unwrap(o) for o in request.objects], request.dry_run,
                                          request.field_manager)
            return api_pb2.ApplyResponse(results=[api_pb2.ApplyResult(object=wrap(obj), action=action)
                                                  for obj, action in results])
        return await self._run(context, call)

    async def Bind(self, request: api_pb2.BindRequest, context: grpc.aio.ServicerContext) -> api_pb2.Object:
        return await self._run(context, lambda: wrap(self.registry.bind(request.namespace, request.name,
                                                                        request.node_name, request.uid)))

    async def Version(self, request: api_pb2.VersionRequest,
                      context: grpc.aio.ServicerContext) -> api_pb2.VersionInfo:
        return version_info()

    async def Discovery(self, request: api_pb2.DiscoveryRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.DiscoveryResponse:
        """Every kind the registry serves, with the verbs this face offers on it (served.py:
        the HTTP face's discovery adds patch and deletecollection, which are no gRPC calls)."""
        return api_pb2.DiscoveryResponse(resources=[
            api_pb2.APIResource(name=info.plural, short_names=info.short_names, api_version=info.api_version,
                                namespaced=info.namespaced, kind=info.kind,
                                verbs=served.verbs(info, http=False))
            for info in KINDS
        ])

    async def SelfSubjectAccessReview(self, request: api_pb2.SelfSubjectAccessReviewRequest,
                                      context: grpc.aio.ServicerContext) -> api_pb2.SubjectAccessReviewStatus:
        """May the caller (or the user it impersonates) make the request described? The
        filter chain has checked the impersonation and set the caller (see access_review.py)."""
        caller = request_user.current() or request_user.UNKNOWN
        return await self._run(context, lambda: access_review.review(request, caller, self.authorizer))

    def _call(self, op: Callable[[], T]) -> T:
        """Run a registry call, turning kind errors into API errors as _run does."""
        try:
            return op()
        except UnknownKindError as err:
            raise errors.BadRequest(str(err)) from None

    def _batch_op(self, op: api_pb2.BatchOp) -> api_pb2.BatchResult:
        which = op.WhichOneof("op")
        calls: dict[str, Callable[[], Message]] = {
            "create": lambda: self.registry.create(unwrap(op.create.object), op.create.dry_run),
            "update": lambda: self.registry.update(unwrap(op.update.object), op.update.dry_run),
            "update_status": lambda: self.registry.update_status(unwrap(op.update_status.object),
                                                                 op.update_status.dry_run),
            "delete": lambda: self._delete(op.delete),
            "bind": lambda: self.registry.bind(op.bind.namespace, op.bind.name, op.bind.node_name, op.bind.uid),
        }
        if which is None:
            return api_pb2.BatchResult(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message="empty batch op")
        try:
            return api_pb2.BatchResult(object=wrap(self._call(calls[which])))
        except errors.APIError as err:
            return api_pb2.BatchResult(code=err.code.value[0], message=err.message)

    async def Batch(self, request: api_pb2.BatchRequest, context: grpc.aio.ServicerContext) -> api_pb2.BatchResponse:
        """Each op as its own call would run it, in order, in one turn of the event
        loop (so, like a single call, atomic with respect to other requests each)."""
        return api_pb2.BatchResponse(results=[self._batch_op(op) for op in request.ops])

    def _delete(self, request: api_pb2.DeleteRequest) -> Message:
        return self.registry.delete(
            request.kind, request.namespace, request.name,
            uid=request.preconditions.uid, resource_version=request.preconditions.resource_version,
            grace_period_seconds=request.grace_period_seconds if request.HasField("grace_period_seconds") else None,
            propagation_policy=request.propagation_policy, dry_run=request.dry_run)

    async def _events(self, request: api_pb2.WatchRequest, context: grpc.aio.ServicerContext,
                      batch_limit: int | None) -> AsyncIterator[list[PendingEvent]]:
        """The body of Watch and WatchBatches (see watch_loop.py): batches of pending events
        (at most batch_limit each) until the client goes away; a BOOKMARK after each quiet
        bookmark interval when the client allows them; ABORTED if the cache closes the watcher."""
        def start() -> tuple[KindInfo, Watcher]:
            try:
                info = kind_info(request.kind)
            except UnknownKindError as err:  # NOT_FOUND, as Get and List answer
                raise errors.NotFound(str(err)) from None
            labels, fields = watch_loop.parse_selectors(info, request.label_selector, request.field_selector)
            namespace = request.namespace if info.namespaced else ""
            return info, self.cache.watch(info.kind, namespace, labels, fields,
                                          watch_loop.parse_revision(request.resource_version))

        info, watcher = await self._run(context, start)
        try:
            async for batch in watch_loop.batches(self.cache, watcher, info, allow_bookmarks=request.allow_bookmarks,
                                                  bookmark_interval=self.bookmark_interval,
                                                  batch_limit=batch_limit):
                yield batch
        except watch_loop.WatchClosed as closed:
            await context.abort(grpc.StatusCode.ABORTED, closed.reason)
        finally:
            self.cache.stop(watcher)

    async def Watch(self, request: api_pb2.WatchRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[api_pb2.WatchEvent]:
        async for batch in self._events(request, context, None):
            for event in batch:
                yield api_pb2.WatchEvent(type=event.type, object=wrap(event.obj))

    async def WatchBatches(self, request: api_pb2.WatchRequest,
                           context: grpc.aio.ServicerContext) -> AsyncIterator[api_pb2.WatchEventBatch]:
        async for batch in self._events(request, context, WATCH_BATCH_LIMIT):
            yield api_pb2.WatchEventBatch(events=[event.encode(encode_event) for event in batch])

    async def Logs(self, request: kubelet_pb2.LogsRequest,
                   context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.LogChunk]:
        """A container's output, relayed from its node's kubelet (see logs_proxy.py)."""
        async for chunk in self.logs.stream(request, context):
            yield chunk

    async def Exec(self, request_iterator: AsyncIterator[kubelet_pb2.ExecInput],
                   context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.ExecOutput]:
        """A command in a container, relayed both ways to its node's kubelet (see exec_proxy.py)."""
        async for output in ExecProxy(self.logs).stream(request_iterator, context):
            yield output

    async def PortForward(self, request_iterator: AsyncIterator[kubelet_pb2.PortForwardInput],
                          context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.PortForwardOutput]:
        """One TCP connection to a Pod's port, relayed both ways to its node's kubelet
        (see port_forward_proxy.py)."""
        async for output in PortForwardProxy(self.logs).stream(request_iterator, context):
            yield output
