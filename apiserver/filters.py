"""The apiserver's request filters, as Kubernetes' handler chain runs them around every
request: authentication → audit → max-in-flight → authorization → the handler.

gRPC's server interceptors see a call before its request message is read, so they cannot
authorize by what the request asks for; instead ``FilterChain.wrap`` wraps each method of
a servicer (unary and streaming alike) and serves the wrapped set in its place.

* Authentication: an ``Authenticator`` names the caller from the call's context (its TLS
  peer certificate once there is one). None answers UNAUTHENTICATED "Unauthorized".
  Without TLS there is nothing to tell callers apart: ``InsecureAuthenticator`` makes
  every caller ``system:unsecured`` in ``system:masters``, as Kubernetes' old insecure
  port did, so a plaintext apiserver behaves as before.
* Max in flight: Kubernetes' ``--max-requests-inflight`` (reads) and
  ``--max-mutating-requests-inflight`` (writes); 0 is no limit. Long-running calls
  (watches, logs, exec, port-forward) are not counted. Over the limit the call is
  answered at once with RESOURCE_EXHAUSTED "Too many requests, please try again later."
  and trailing metadata ``reason: TooManyRequests``, ``retry-after: 1`` (Kubernetes' 429
  and Retry-After; no queueing) — except for ``system:masters``, which Kubernetes always
  serves. A request holds its slot until gRPC has sent its answer (the call's done
  callback), not only while the handler runs: the registry answers within one turn of the
  event loop, but the response still has to be serialized and written while other calls
  arrive, as Kubernetes holds the slot while its handler writes the response body.
* Authorization: every Kubernetes request a call stands for (``attributes_for``: one per
  op of a Batch or object of an Apply) must be allowed, else PERMISSION_DENIED with
  Kubernetes' wording and nothing is done.
* Audit: see audit.py; one event per Kubernetes request, including refused ones.
* The handler runs with the authenticated user in ``auth.request_user.USER``, where the
  registry's admission (NodeRestriction, RBAC escalation checks) and access reviews read it.

The default chain (insecure authenticator, AlwaysAllow, no audit) skips working out the
request's attributes at all: nothing would read them."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, AsyncIterator, Callable, Protocol

import grpc
import structlog
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from apimachinery.identity import UserInfo
from apimachinery.limits import (REASON_KEY, RETRY_AFTER_KEY, RETRY_AFTER_SECONDS, TOO_MANY_REQUESTS_MESSAGE,
                                 TOO_MANY_REQUESTS_REASON)
from apiserver import errors
from apiserver.audit import REQUEST, AuditLog, build_event, go_duration, response_status
from apiserver.audit_objects import ObjectParts, object_parts, object_ref, response_parts
from apiserver.auth.attributes import Attributes, Authorizer, Exists, UnmappedCallError, attributes_for, forbidden_message
from apiserver.auth.modes import AlwaysAllow
from apiserver.auth.request_user import USER

log = structlog.get_logger("apiserver")

SYSTEM_MASTERS = "system:masters"
# Kubernetes' insecure port's user (pkg/kubeapiserver/server/insecure_handler.go).
INSECURE_USER = UserInfo("system:unsecured", (SYSTEM_MASTERS, "system:authenticated"))
UNAUTHORIZED_MESSAGE = "Unauthorized"
TOO_MANY_REQUESTS_TRAILER = ((REASON_KEY, TOO_MANY_REQUESTS_REASON), (RETRY_AFTER_KEY, str(RETRY_AFTER_SECONDS)))
# Kubernetes' long-running requests (watch; log, exec, portforward subresources) are not
# counted in flight: they would hold their slots for hours.
LONG_RUNNING = frozenset({"Watch", "WatchBatches", "Logs", "Exec", "PortForward"})
# The verb of a two-way stream refused before its first message said which Pod it is for.
STREAM_VERBS = {"Exec": "create", "PortForward": "create"}
# Methods whose Kubernetes verbs are all get/list/watch (the rest count as mutating).
READ_ONLY = frozenset({"Get", "List", "Watch", "WatchBatches", "Logs", "Version", "Discovery"})


class Authenticator(Protocol):
    def authenticate(self, context: grpc.aio.ServicerContext) -> UserInfo | None: ...


class InsecureAuthenticator:
    """Every caller is INSECURE_USER: for a server without TLS only."""

    def authenticate(self, context: grpc.aio.ServicerContext) -> UserInfo | None:
        return INSECURE_USER


@dataclass
class InFlightLimiter:
    """Kubernetes' WithMaxInFlightLimit, without queueing. The counters are the requests
    being served now (read them in tests)."""

    max_read_only: int = 400
    max_mutating: int = 200
    read_only: int = 0
    mutating: int = 0
    rejected: int = 0

    def admit(self, mutating: bool, user: UserInfo) -> bool | None:
        """True: counted (call release); None: served uncounted (system:masters over the
        limit, or no limit); False: refused."""
        limit = self.max_mutating if mutating else self.max_read_only
        if limit <= 0:
            return None
        current = self.mutating if mutating else self.read_only
        if current < limit:
            if mutating:
                self.mutating += 1
            else:
                self.read_only += 1
            return True
        if SYSTEM_MASTERS in user.groups:
            return None
        self.rejected += 1
        return False

    def release(self, mutating: bool) -> None:
        if mutating:
            self.mutating -= 1
        else:
            self.read_only -= 1


@dataclass
class _Call:
    """What the chain knows about one call while it runs."""

    method: str
    uri: str
    request: Any
    received: float
    started: float
    user: UserInfo | None = None
    attrs: list[Attributes] = field(default_factory=list)
    parts: list[ObjectParts] | None = None
    counted: bool = False
    decision: str = ""
    reason: str = ""


def _code_of(context: grpc.aio.ServicerContext, err: BaseException | None) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code
    if err is None:
        return grpc.StatusCode.OK
    if isinstance(err, (asyncio.CancelledError, GeneratorExit)):  # the client went away
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.INTERNAL


class FilterChain:
    def __init__(self, authenticator: Authenticator | None = None, authorizer: Authorizer | None = None,
                 limiter: InFlightLimiter | None = None, audit: AuditLog | None = None,
                 exists: Exists | None = None) -> None:
        """exists: whether an object is stored (kind, namespace, name), so that an Apply is
        authorized as a patch of what exists and a create of what does not."""
        self.authenticator = authenticator or InsecureAuthenticator()
        self.exists = exists
        self.authorizer = authorizer or AlwaysAllow()
        self.limiter = limiter or InFlightLimiter()
        self.audit = audit if audit is not None and audit.level > 0 else None
        self._needs_attrs = self.audit is not None or not isinstance(self.authorizer, AlwaysAllow)

    # ------------------------------------------------------------------ wrapping

    def wrap(self, servicer: Any, service: ServiceDescriptor) -> SimpleNamespace:
        """An object with every method of `service`, each running `servicer`'s through
        the chain; hand it to the generated add_*Servicer_to_server."""
        return SimpleNamespace(**{m.name: self._wrap_method(m, getattr(servicer, m.name), service.full_name)
                                  for m in service.methods})

    def _wrap_method(self, method: MethodDescriptor, handler: Callable[..., Any], service: str) -> Callable[..., Any]:
        name, uri = method.name, f"/{service}/{method.name}"
        mutating = name not in READ_ONLY
        limited = name not in LONG_RUNNING
        if method.client_streaming and not method.server_streaming:
            raise ValueError(f"{uri}: client-streaming calls with one answer are not supported")

        if not method.server_streaming:
            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                call = await self._authenticate(name, uri, request, context)
                await self._admit(call, request, context, mutating, limited)
                self._hold_until_done(call, context, mutating)
                err: BaseException | None = None
                response = None
                token = USER.set(call.user)  # the registry's admission reads who it is
                try:
                    response = await handler(request, context)
                    return response
                except BaseException as caught:
                    err = caught
                    raise
                finally:
                    USER.reset(token)
                    self._finish(call, context, err, mutating, response)
            return unary

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            # A client stream's first message says what it is for: read only once authenticated.
            call = await self._authenticate(name, uri, None if method.client_streaming else request, context)
            head = request
            if method.client_streaming:
                messages = aiter(request)
                head = await anext(messages, None)
                request = _prepend(head, messages)
            await self._admit(call, head, context, mutating, limited)
            self._hold_until_done(call, context, mutating)
            if self.audit is not None:
                self._audit(call, context, "ResponseStarted", grpc.StatusCode.OK)
            err: BaseException | None = None
            USER.set(call.user)  # the call's own task: nothing else runs in this context
            try:
                async for item in handler(request, context):
                    yield item
            except BaseException as caught:
                err = caught
                raise
            finally:
                self._finish(call, context, err, mutating, None, streamed=True)
        return streaming

    # ------------------------------------------------------------------ the filters

    async def _authenticate(self, name: str, uri: str, request: Any, context: grpc.aio.ServicerContext) -> _Call:
        """Who is calling; no one is refused (audited, then aborts). `request` is None for a
        client stream, whose first message is not read before this."""
        call = _Call(name, uri, request, time.time() if self.audit else 0.0, time.monotonic() if self.audit else 0.0)
        call.user = self.authenticator.authenticate(context)
        if call.user is None:
            if self.audit is not None:
                try:
                    call.attrs = attributes_for(name, request, UserInfo(""), self.exists)
                except UnmappedCallError:
                    call.attrs = []
                call.parts = self._parts(call, request)
            await self._refuse(call, context, errors.Unauthorized(UNAUTHORIZED_MESSAGE))
        return call

    async def _admit(self, call: _Call, request: Any, context: grpc.aio.ServicerContext, mutating: bool,
                     limited: bool) -> None:
        """Max in flight and authorization; a refusal is audited and aborts."""
        user = call.user
        assert user is not None
        call.request = request
        name = call.method
        if self._needs_attrs:
            try:
                call.attrs = attributes_for(name, request, user, self.exists)
            except UnmappedCallError as err:
                await self._refuse(call, context, errors.BadRequest(str(err)))
            if self.audit is not None:  # only the audit events show the objects
                call.parts = self._parts(call, request)
        if limited:
            admitted = self.limiter.admit(mutating, user)
            if admitted is False:
                await self._refuse(call, context, errors.TooManyRequests(TOO_MANY_REQUESTS_MESSAGE),
                                   errors.TOO_MANY_REQUESTS, TOO_MANY_REQUESTS_TRAILER)
            call.counted = admitted is True
        for attrs in call.attrs:
            decision = self.authorizer.authorize(attrs)
            call.decision, call.reason = ("allow" if decision.allowed else "forbid"), decision.reason
            if not decision.allowed:
                if call.counted:
                    self.limiter.release(mutating)
                    call.counted = False
                await self._refuse(call, context, errors.PermissionDenied(forbidden_message(attrs, decision.reason)))

    async def _refuse(self, call: _Call, context: grpc.aio.ServicerContext, err: errors.APIError,
                      status: tuple[int, str] | None = None, trailer: tuple[tuple[str, str], ...] = ()) -> None:
        if self.audit is not None:
            self._audit(call, context, "ResponseComplete", err.code, err.message, status)
        await context.abort(err.code, err.message, trailer)

    def _hold_until_done(self, call: _Call, context: grpc.aio.ServicerContext, mutating: bool) -> None:
        """Keep an admitted call's in-flight slot until gRPC has finished the call (answer
        sent, or the call cancelled), then free it; without a done callback (a test's fake
        context), _finish frees it when the handler returns."""
        if not call.counted or not hasattr(context, "add_done_callback"):
            return
        call.counted = False  # _finish leaves it to the callback
        context.add_done_callback(lambda _context: self.limiter.release(mutating))

    def _finish(self, call: _Call, context: grpc.aio.ServicerContext, err: BaseException | None,
                mutating: bool, response: Any, streamed: bool = False) -> None:
        if call.counted:
            self.limiter.release(mutating)
        if self.audit is not None:
            code = _code_of(context, err)
            if streamed and code is grpc.StatusCode.CANCELLED:
                code = grpc.StatusCode.OK  # the client closed a stream it was served (Kubernetes: 200)
            message = (context.details() or "") if err is not None else ""
            self._audit(call, context, "ResponseComplete", code, message, response=response)

    # ------------------------------------------------------------------ audit

    def _parts(self, call: _Call, request: Any) -> list[ObjectParts] | None:
        parts = object_parts(call.method, request)
        return parts if len(parts) == len(call.attrs) else None

    def _audit(self, call: _Call, context: grpc.aio.ServicerContext, stage: str, code: grpc.StatusCode,
               message: str = "", status: tuple[int, str] | None = None, response: Any = None) -> None:
        """One event per Kubernetes request of the call (a Batch's ops each with their own answer)."""
        try:
            self._audit_events(call, context, stage, code, message, status, response)
        except Exception as err:  # never the request's problem
            log.error("audit event failed", method=call.uri, error=repr(err))

    def _audit_events(self, call: _Call, context: grpc.aio.ServicerContext, stage: str, code: grpc.StatusCode,
                      message: str, status: tuple[int, str] | None, response: Any) -> None:
        audit = self.audit
        assert audit is not None
        now = time.time()
        http, reason = status or errors.http_status(code)
        annotations = {"apiserver.latency.k8s.io/total": go_duration(time.monotonic() - call.started)}
        if call.decision:
            annotations["authorization.k8s.io/decision"] = call.decision
            annotations["authorization.k8s.io/reason"] = call.reason
        peer, agent = context.peer() or "", _user_agent(context)
        answers = None if response is None else response_parts(call.method, call.request, response, audit.level)
        if answers is not None and len(answers) != len(call.attrs):
            answers = None  # cannot be paired: the call's own answer stands for all
        for i, attrs in enumerate(call.attrs or [None]):  # type: ignore[list-item]
            part = call.parts[i] if call.parts is not None and attrs is not None else None
            op_http, op_reason, op_message, answer = http, reason, message, None
            if answers is not None:
                op_http, op_reason, op_message, answer = answers[i]
            if op_http == 200 and attrs is not None and attrs.verb == "create" and stage == "ResponseComplete":
                op_http = 201  # Kubernetes answers a create (a binding too) 201 Created
            ref = part.object_ref(attrs) if part is not None else object_ref(attrs) if attrs is not None else None
            audit.log(build_event(
                level=audit.level, audit_id=str(uuid.uuid4()), stage=stage, uri=call.uri,
                verb=attrs.verb if attrs is not None else STREAM_VERBS.get(call.method, "get"), user=call.user, peer=peer, user_agent=agent,
                object_ref=ref, status=response_status(op_http, op_reason, op_message), received=call.received,
                now=now, annotations=annotations,
                request_object=part.request_object() if part is not None and audit.level >= REQUEST else None,
                response_object=answer))


def _user_agent(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "user-agent":
            return value if isinstance(value, str) else value.decode(errors="replace")
    return ""


async def _prepend(first: Any, rest: Any) -> AsyncIterator[Any]:
    if first is None:
        return
    yield first
    async for item in rest:
        yield item
