"""The Kubernetes HTTP API of the apiserver: aiohttp on the apiserver's own event loop.

``pykube-apiserver --http-listen 127.0.0.1:6444`` serves the REST API Kubernetes clients
speak (the real kubectl, client-go, the Python ``kubernetes`` client) from the same
Registry, WatchCache and kubelet proxy as the gRPC port, behind the same filters in
Kubernetes' order:

* Authentication: mutual TLS with the gRPC port's files (--tls-cert-file,
  --tls-private-key-file, --client-ca-file); a client certificate is REQUIRED at the
  handshake, and its CN is the user, each O a group (component_base/tls.py). With
  --insecure-plaintext it is plain HTTP and every caller is ``system:unsecured`` in
  ``system:masters`` (filters.INSECURE_USER).
* Max in flight: the gRPC port's InFlightLimiter (one budget for both faces); watch, log,
  exec and portforward are not counted; over the limit 429 TooManyRequests with
  ``Retry-After: 1``; system:masters is never refused.
* Impersonation: ``Impersonate-User``/``Impersonate-Group`` (kubectl --as) when the caller may
  impersonate them (access.py).
* Authorization: the request's RequestInfo (requestinfo.py) becomes Attributes, asked of the
  gRPC port's authorizer; no → 403 Forbidden in Kubernetes' words.
* Audit: one event per request (stage ResponseComplete; objects are not recorded at the
  Request levels, only the metadata) through the apiserver's AuditLog.
* The handler runs with the user in ``auth.request_user.USER`` (admission reads it) and the
  field manager (``?fieldManager=``, else the User-Agent's first token) in
  ``registry.managed_fields.MANAGER``.

Every error is a ``Status`` (status.py). Bodies over --max-request-bytes get 413.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from typing import Any, Callable

import structlog
from aiohttp import web

from apimachinery.identity import UserInfo
from apimachinery.kinds import UnknownKindError
from apimachinery.limits import TOO_MANY_REQUESTS_MESSAGE
from apiserver import errors
from apiserver.audit import AuditLog, build_event, go_duration, response_status
from apiserver.audit_objects import object_ref
from apiserver.auth.attributes import Attributes, Authorizer, forbidden_message
from apiserver.auth.request_user import USER
from apiserver.filters import INSECURE_USER, InFlightLimiter
from apiserver.registry.managed_fields import MANAGER
from apiserver.rest import access, decode, handlers, routes, status
from apiserver.rest.handlers import API
from apiserver.rest.requestinfo import RequestInfo, RequestInfoError, request_info
from component_base.tls import certificate_identity

log = structlog.get_logger("apiserver")

READ_VERBS = frozenset({"get", "list", "watch"})
# The request's authorization (decision, reason), kept for its audit event.
DECISION = web.RequestKey("pykube_authorization_decision", tuple)
LONG_RUNNING_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward", "proxy"})

Authenticate = Callable[[web.Request], UserInfo | None]


def certificate_user(request: web.Request) -> UserInfo | None:
    """The user of the client certificate the TLS handshake verified (anonymous without one)."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport is not None else None
    cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return certificate_identity(cert)


def insecure_user(request: web.Request) -> UserInfo | None:
    return INSECURE_USER


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str) -> ssl.SSLContext:
    """TLS serving cert_file, requiring a client certificate signed by client_ca_file (HTTP/1.1)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])  # aiohttp speaks no HTTP/2: clients fall back
    return context


def attributes_of(user: UserInfo, info: RequestInfo) -> Attributes:
    """The authorization attributes of a request, as Kubernetes' WithAuthorization builds them."""
    if not info.is_resource_request:
        return Attributes(user, info.verb, "", "", path=info.path)
    return Attributes(user, info.verb, info.api_group, info.resource, info.subresource, info.namespace, info.name)


def is_long_running(info: RequestInfo) -> bool:
    return info.verb == "watch" or info.subresource in LONG_RUNNING_SUBRESOURCES


def is_mutating(info: RequestInfo) -> bool:
    return info.verb not in READ_VERBS and info.verb not in ("head", "options")


# ------------------------------------------------------------------ the server

class RESTServer:
    """The HTTP(S) listener; ``start()`` binds (port 0: a free one, see ``address``), ``stop()`` closes."""

    def __init__(self, api: API, listen: str, *, authorizer: Authorizer, limiter: InFlightLimiter | None = None,
                 audit: AuditLog | None = None, ssl_context: ssl.SSLContext | None = None,
                 authenticate: Authenticate | None = None) -> None:
        self.api = api
        self.listen = listen
        self.authorizer = authorizer
        self.limiter = limiter or InFlightLimiter()
        self.audit = audit if audit is not None and audit.level > 0 else None
        self.ssl_context = ssl_context
        self.authenticate = authenticate or (certificate_user if ssl_context is not None else insecure_user)
        if api.authorizer is None:  # access reviews ask the same authorizer
            api.authorizer = authorizer
        self.app = self.application()
        self.runner: web.AppRunner | None = None
        self.address = ""

    def application(self) -> web.Application:
        # aiohttp refuses larger bodies on read (HTTPRequestEntityTooLarge); handlers.read_body words it.
        limit = self.api.max_request_bytes
        app = web.Application(client_max_size=limit if limit >= 0 else 2**62)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def start(self) -> None:
        host, _, port = self.listen.rpartition(":")
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host or "127.0.0.1", int(port), ssl_context=self.ssl_context,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await self.runner.cleanup()
            raise OSError(f"cannot listen on {self.listen} (--http-listen): {err.strerror or err}") from err
        bound = self.runner.addresses[0]
        self.address = f"{host or '127.0.0.1'}:{bound[1]}"
        log.info("apiserver serving the Kubernetes HTTP API", address=self.address,
                 tls=self.ssl_context is not None)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # -------------------------------------------------------------- one request

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received, started = time.time(), time.monotonic()
        user = self.authenticate(request)
        info: RequestInfo | None = None
        attrs: Attributes | None = None
        try:
            if user is None or not user.name:
                raise errors.Unauthorized("Unauthorized")
            try:
                info = request_info(request.method, request.path, request.query)
            except RequestInfoError:
                raise status.not_found() from None
            user = await self._impersonate(request, user)
            attrs = attributes_of(user, info)
            response = await self._admitted(request, info, attrs, user)
        except errors.APIError as err:
            response = self.error_response(err, info)
        except UnknownKindError as err:
            response = self.error_response(errors.NotFound(str(err)), info)
        except Exception as err:  # a bug: answered as Kubernetes answers one, and logged
            log.exception("HTTP handler failed", path=request.path, method=request.method)
            response = self.error_response(status.HTTPError(500, "InternalError",
                                                            f"an error on the server has prevented the request "
                                                            f"from succeeding: {err!r}"), info)
        if self.audit is not None:
            self._audit(request, user, info, attrs, response, request.get(DECISION, ("", "")), received, started)
        return response

    async def _impersonate(self, request: web.Request, caller: UserInfo) -> UserInfo:
        """The user to serve the request as: the caller, or whom its Impersonate-* headers name
        once the caller is allowed to impersonate them (403 otherwise)."""
        user, needed = access.impersonation(request.headers, caller)
        for attrs in needed:
            verdict = self.authorizer.authorize(attrs)
            if not verdict.allowed:
                raise errors.PermissionDenied(forbidden_message(attrs, verdict.reason))
        return user

    async def _admitted(self, request: web.Request, info: RequestInfo, attrs: Attributes,
                        user: UserInfo) -> web.StreamResponse:
        """Max in flight, authorization (its decision kept in request[DECISION] for the audit
        event), then the handler (with the user and field manager set)."""
        mutating = is_mutating(info)
        counted = False
        if not is_long_running(info):
            admitted = self.limiter.admit(mutating, user)
            if admitted is False:
                raise errors.TooManyRequests(TOO_MANY_REQUESTS_MESSAGE)
            counted = admitted is True
        try:
            verdict = self.authorizer.authorize(attrs)
            request[DECISION] = ("allow" if verdict.allowed else "forbid", verdict.reason)
            if not verdict.allowed:
                raise errors.PermissionDenied(forbidden_message(attrs, verdict.reason))
            user_token = USER.set(user)
            manager_token = MANAGER.set(handlers.field_manager(request))
            try:
                if info.is_resource_request:
                    return await routes.serve_resource(self.api, request, info)
                return routes.serve_path(request, info)
            finally:
                MANAGER.reset(manager_token)
                USER.reset(user_token)
        finally:
            if counted:
                self.limiter.release(mutating)

    def error_response(self, err: errors.APIError, info: RequestInfo | None) -> web.Response:
        name = group = resource = ""
        if info is not None and info.is_resource_request:
            name, group, resource = info.name, info.api_group, info.resource
        name = name or getattr(err, "object_name", "")
        known = handlers.RESOURCES.get((info.api_group, info.api_version, info.resource)) if info else None
        if isinstance(err, errors.Invalid) and known is not None:
            resource = known.kind  # NewInvalid's details name the kind ("Pod"), the others the resource
        body = status.error_status(err, name=name, group=group, resource=resource)
        headers = {"Retry-After": "1"} if body["code"] == 429 else None
        return decode.json_response(body, body["code"], headers=headers)

    def _audit(self, request: web.Request, user: UserInfo | None, info: RequestInfo | None,
               attrs: Attributes | None, response: web.StreamResponse, decision: tuple[str, str],
               received: float, started: float) -> None:
        try:
            annotations = {"apiserver.latency.k8s.io/total": go_duration(time.monotonic() - started)}
            if decision[0]:
                annotations["authorization.k8s.io/decision"] = decision[0]
                annotations["authorization.k8s.io/reason"] = decision[1]
            message = reason = ""
            if isinstance(response, web.Response) and response.status >= 400 and response.body:
                failure = decode_status(response.body)
                message, reason = failure.get("message", ""), failure.get("reason", "")
            assert self.audit is not None
            self.audit.log(build_event(
                level=self.audit.level, audit_id=str(uuid.uuid4()), stage="ResponseComplete", uri=request.path_qs,
                verb=info.verb if info is not None else request.method.lower(), user=user,
                peer=request.remote or "", user_agent=request.headers.get("User-Agent", ""),
                object_ref=object_ref(attrs) if attrs is not None and attrs.is_resource_request else None,
                status=response_status(response.status, reason, message), received=received, now=time.time(),
                annotations=annotations))
        except Exception as err:  # never the request's problem
            log.error("audit event failed", path=request.path, error=repr(err))


def decode_status(body: Any) -> dict[str, Any]:
    """The Status an error response carries (for the audit event)."""
    try:
        data = json.loads(bytes(body))
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}

