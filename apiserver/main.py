"""``pykube-apiserver``: serve the pykube API over gRPC from a durable store.

    pykube-apiserver --listen 127.0.0.1:6443 --data-dir /var/lib/pykube [--http-listen 127.0.0.1:6444]

Without --tls-* flags it makes its own CA, serving certificate and admin kubeconfig in the
data dir (apiserver/self_signed.py) and serves mutual TLS with Node,RBAC; --insecure-plaintext
is the explicit way back to a plaintext port (every caller a superuser).

--http-listen adds the Kubernetes HTTP API (apiserver/rest/: what the real kubectl and
client libraries speak) on a second port, over the same objects, TLS files and filters.

Runs in the foreground, logs JSON lines to stderr and stops cleanly on SIGTERM or Ctrl-C
(in-flight calls get a short grace, then the store is closed)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from apimachinery.limits import MAX_REQUEST_BYTES
from apimachinery.network import NODE_PORT_RANGE, SERVICE_CIDR
from apiserver import bootstrap, self_signed
from apiserver.audit import LEVELS as AUDIT_LEVELS, AuditLog
from apiserver.auth.authorizer import MODES as AUTHORIZATION_MODES, authorizer_for, ensure_bootstrap_policy
from apiserver.filters import FilterChain, InFlightLimiter
from apiserver.registry.admission import Admission
from apiserver.registry.allocators import ClusterIPAllocator, format_port_range, parse_port_range
from apiserver.registry.network import ServiceRanges
from apiserver.logs_proxy import ADDRESS_PREFERENCE, LogsProxy, kubelet_client_tls, parse_address_types
from apiserver.registry.registry import MAX_OBJECT_BYTES, Registry
from apiserver.request_limits import RequestSizeLimit, hard_cap
from apiserver.rest.handlers import API
from apiserver.rest.server import RESTServer, server_ssl_context
from apiserver.service import APIService
from apiserver.storage import Store
from apiserver.storage.encryption import EncryptingStore, load_config as load_encryption_config
from apiserver.storage.sqlite import SQLiteStore
from apiserver.watchcache import WatchCache
from client import pki, token_store
from client.connection import DEFAULT_ADDRESS
from client.token_store import TokenStore
from component_base.flags import add_config_flag, field_default
from component_base.logs import add_log_format_flag, configure_logging
from component_base.service import run_until_signalled
from component_base.tls import peer_identity, server_credentials_from_files, serving_tls
from protos import api_pb2, api_pb2_grpc

log = structlog.get_logger("apiserver")

# Kubernetes' apiserver refuses request bodies over 3 MiB.
DEFAULT_MAX_REQUEST_BYTES = MAX_REQUEST_BYTES
API_SERVICE_NAME = api_pb2.DESCRIPTOR.services_by_name["API"].full_name


@dataclass
class ServerConfig:
    listen: str = DEFAULT_ADDRESS
    # The Kubernetes HTTP API (apiserver/rest/): "" off; port 0 picks a free port (http_address).
    http_listen: str = ""
    data_dir: Path | None = None  # None: an in-memory store (tests, hollow clusters)
    watch_history: int = 10_000
    bookmark_interval: float = 5.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_object_bytes: int = MAX_OBJECT_BYTES
    service_cluster_ip_range: str = SERVICE_CIDR
    service_node_port_range: str = format_port_range(NODE_PORT_RANGE)
    # Which Node address to dial a kubelet at (logs, exec, port-forward): the first of these it has.
    kubelet_preferred_address_types: str = ",".join(ADDRESS_PREFERENCE)
    # The request filters (filters.py): Kubernetes' flags and defaults; 0 is no limit.
    max_requests_inflight: int = 400
    max_mutating_requests_inflight: int = 200
    authorization_mode: str = "AlwaysAllow"
    audit_log_path: str = ""  # "" no audit log, "-" stdout
    audit_level: str = "Metadata"
    # Kubernetes' EncryptionConfiguration file (apiserver/storage/encryption.py): "" stores plaintext.
    encryption_provider_config: str = ""
    # Set by code, not flags (Kubernetes' server.Config carries them the same way): who the
    # caller is (None: filters.InsecureAuthenticator, for a server without TLS) and, if
    # given, the authorizer to use instead of authorization_mode's.
    authenticator: Any = None
    authorizer: Any = None
    # Mutual TLS (Kubernetes' flag names): with all three the API is served only to clients
    # holding a certificate signed by client_ca_file, and that certificate names the user.
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    # Dialling kubelets (logs, exec, port-forward) over mutual TLS (Kubernetes' flag names): all
    # three or none; the kubelet's serving certificate is verified against the CA and the address.
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    kubelet_certificate_authority: str = ""
    # The token join (apiserver/bootstrap.py): a separate TLS listener, off unless given an
    # address; certificates it issues are signed with the cluster-signing CA (Kubernetes'
    # controller-manager flags; here the apiserver signs). Tokens: <data-dir>/bootstrap-tokens.json.
    bootstrap_listen: str = ""
    cluster_signing_cert_file: str = ""
    cluster_signing_key_file: str = ""
    # No certificates given: make a CA, a serving certificate and an admin kubeconfig
    # (self_signed.py) in cert_dir ("": <data_dir>/pki) and serve them. Set by parse_args.
    self_signed: bool = False
    cert_dir: str = ""
    # The explicit opt-out of TLS (tests and benchmarks that measure the bare API).
    insecure_plaintext: bool = False

    @property
    def tls(self) -> bool:
        return serving_tls(self.tls_cert_file, self.tls_private_key_file, self.client_ca_file)

    def service_ranges(self) -> ServiceRanges:
        return ServiceRanges(cluster_ip_range=self.service_cluster_ip_range,
                             node_ports=parse_port_range(self.service_node_port_range))


def bootstrap_signer(config: ServerConfig) -> pki.CertKey:
    """The CA that signs joining nodes' certificates (a pki.CertKey); ValueError when the
    bootstrap listener's flags do not fit together."""
    if not config.tls or config.data_dir is None:
        raise ValueError("--bootstrap-listen needs TLS (--tls-cert-file, --tls-private-key-file, "
                         "--client-ca-file) and --data-dir (the tokens live there)")
    return bootstrap.load_signer(config.cluster_signing_cert_file, config.cluster_signing_key_file,
                                 config.tls_cert_file, config.client_ca_file)


class CertificateAuthenticator:
    """The user named by the client certificate the TLS handshake verified (CN → name, each
    O → a group); system:anonymous when there is none or it is outside its validity."""

    def authenticate(self, context: grpc.aio.ServicerContext) -> Any:
        return peer_identity(context)


class APIServer:
    """An apiserver bound to an address; start() and stop() from a running event loop."""

    def __init__(self, config: ServerConfig, store: Store | None = None) -> None:
        self.config = config
        kubelet_tls = kubelet_client_tls(config.kubelet_client_certificate, config.kubelet_client_key,
                                         config.kubelet_certificate_authority)  # before opening anything
        encryption = load_encryption_config(config.encryption_provider_config) \
            if config.encryption_provider_config else None
        if store is None:
            if config.data_dir is None:
                from apiserver.storage.memory import MemoryStore
                store = MemoryStore()
            else:
                store = SQLiteStore.open_in(config.data_dir)
        if encryption is not None:
            store = EncryptingStore(store, encryption)
        self.store = store
        self.self_signed: self_signed.SelfSignedFiles | None = None
        self.admin_kubeconfig: Path | None = None
        if config.self_signed:
            self._make_certificates()
        self.audit = AuditLog(config.audit_log_path, config.audit_level) \
            if config.audit_log_path and config.audit_level != "None" else None
        self.cache = WatchCache(history_size=config.watch_history)
        self.registry = Registry(self.store, self.cache, max_object_bytes=config.max_object_bytes,
                                 service_ranges=config.service_ranges())
        # Requests over max_request_bytes get Kubernetes' "Request entity too large" from the
        # interceptor; gRPC's own cap (with its internal wording) sits well above it.
        self.server = grpc.aio.server(interceptors=[RequestSizeLimit(config.max_request_bytes)], options=[
            ("grpc.max_receive_message_length", hard_cap(config.max_request_bytes)),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ])
        self.service = APIService(self.registry, self.cache, config.bookmark_interval, logs=LogsProxy(
            self.registry, address_types=parse_address_types(config.kubelet_preferred_address_types),
            tls=kubelet_tls))
        authenticator = config.authenticator or (CertificateAuthenticator() if config.tls else None)
        authorizer = config.authorizer or authorizer_for(config.authorization_mode, self.cache)
        limiter = InFlightLimiter(config.max_requests_inflight, config.max_mutating_requests_inflight)
        # Admission (NodeRestriction, RBAC escalation) and access reviews ask the same authorizer.
        self.registry.admission = Admission(authorizer)
        self.service.authorizer = authorizer
        self.filters = FilterChain(authenticator, authorizer, limiter, self.audit, exists=self.registry.exists)
        # The HTTP face shares the authorizer, the in-flight budget and the audit log.
        self.rest: RESTServer | None = None
        self.http_address = ""
        if config.http_listen:
            try:
                ssl_context = server_ssl_context(config.tls_cert_file, config.tls_private_key_file,
                                                 config.client_ca_file) if config.tls else None
            except OSError as err:  # ssl.SSLError too
                self.store.close()
                raise OSError(f"cannot serve HTTPS (--http-listen) with the TLS files: {err}") from err
            self.rest = RESTServer(
                API(self.registry, self.cache, logs=self.service.logs, bookmark_interval=config.bookmark_interval,
                    max_request_bytes=config.max_request_bytes, authorizer=authorizer),
                config.http_listen, authorizer=authorizer, limiter=limiter, audit=self.audit,
                ssl_context=ssl_context)
        api_pb2_grpc.add_APIServicer_to_server(
            self.filters.wrap(self.service, api_pb2.DESCRIPTOR.services_by_name["API"]), self.server)
        self.health = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        try:
            if config.tls:
                self.port = self.server.add_secure_port(config.listen, server_credentials_from_files(
                    config.client_ca_file, config.tls_cert_file, config.tls_private_key_file))
            else:
                self.port = self.server.add_insecure_port(config.listen)
        except RuntimeError:  # grpc's way of saying bind() failed
            self.port = 0
        if self.port == 0:
            self.store.close()
            if self.audit is not None:
                self.audit.close()
            raise OSError(f"cannot listen on {config.listen}: the address is in use or not local")
        self.address = f"{config.listen.rsplit(':', 1)[0]}:{self.port}"
        if self.self_signed is not None:  # now that the port is known
            self.admin_kubeconfig = self_signed.ensure_admin_kubeconfig(self.self_signed, self.address)
        self.bootstrap: grpc.aio.Server | None = None
        self.bootstrap_address = ""
        if config.bootstrap_listen:
            self._bootstrap_listener()

    def _make_certificates(self) -> None:
        """The CA, serving certificate (and, once bound, admin kubeconfig) of self_signed.py,
        filled into the config's TLS fields; OSError when the files there are unusable."""
        config = self.config
        if config.data_dir is None:
            self.store.close()
            raise OSError("an apiserver making its own certificates needs --data-dir")
        files = self_signed.files_for(config.data_dir, config.cert_dir)
        try:
            made_ca = self_signed.ensure_serving(files, config.listen)
        except (OSError, ValueError) as err:
            self.store.close()
            raise OSError(f"cannot make or use the apiserver's own certificates in {files.cert_dir}: {err}") from err
        config.tls_cert_file, config.tls_private_key_file = str(files.serving_cert), str(files.serving_key)
        config.client_ca_file = str(files.ca_cert)
        if config.bootstrap_listen and not config.cluster_signing_cert_file:
            config.cluster_signing_cert_file, config.cluster_signing_key_file = str(files.ca_cert), str(files.ca_key)
        self.self_signed = files
        log.info("apiserver certificates", cert_dir=str(files.cert_dir), ca_created=made_ca)

    def _bootstrap_listener(self) -> None:
        config = self.config
        try:
            tokens = TokenStore(token_store.path_in(config.data_dir))
            handler = bootstrap.JoinHandler(bootstrap_signer(config), tokens, bootstrap.node_ready_in(self.registry))
            self.bootstrap, port = bootstrap.start_listener(config.bootstrap_listen, handler, config.tls_cert_file,
                                                            config.tls_private_key_file)
        except (OSError, RuntimeError) as err:
            self.store.close()
            raise OSError(f"cannot listen on {config.bootstrap_listen} (--bootstrap-listen): "
                          "the address is in use or not local") from err
        except ValueError:
            self.store.close()
            raise
        self.bootstrap_address = f"{config.bootstrap_listen.rsplit(':', 1)[0]}:{port}"

    async def _set_health(self, status: int) -> None:
        for service in ("", API_SERVICE_NAME):
            result = self.health.set(service, status)
            if asyncio.iscoroutine(result):
                await result

    async def start(self) -> None:
        if "RBAC" in self.config.authorization_mode.split(","):
            ensure_bootstrap_policy(self.registry)  # before the first request is served
        await self.server.start()
        if self.bootstrap is not None:
            await self.bootstrap.start()
        if self.rest is not None:
            try:
                await self.rest.start()
            except OSError:
                await self.server.stop(0)
                raise
            self.http_address = self.rest.address
            if self.self_signed is not None:
                self_signed.write_kubectl_kubeconfig(self.self_signed, self.http_address)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("apiserver serving", address=self.address, revision=self.cache.revision,
                 store=type(self.store).__name__, bootstrap=self.bootstrap_address or None,
                 http=self.http_address or None,
                 tls=self.config.tls, authorization_mode=self.config.authorization_mode,
                 admin_kubeconfig=str(self.admin_kubeconfig) if self.admin_kubeconfig else None)

    async def stop(self, grace: float = 2.0) -> None:
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)  # first, then drain
        if self.rest is not None:
            await self.rest.stop()
        if self.bootstrap is not None:
            await self.bootstrap.stop(grace)
        await self.server.stop(grace)
        await self.service.logs.close()  # the channels to kubelets
        self.store.close()
        if self.audit is not None:
            self.audit.close()  # writes what is queued
        log.info("apiserver stopped", address=self.address)


# What an apiserver that made its own CA authorizes with (kubeadm's default).
SELF_SIGNED_AUTHORIZATION_MODE = "Node,RBAC"


class _Given(argparse.Action):
    """Store the value and remember that the flag was given (dest + "_given")."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def parse_args(argv: list[str] | None) -> ServerConfig:
    parser = argparse.ArgumentParser(prog="pykube-apiserver", description=__doc__.splitlines()[0])
    add_config_flag(parser, "--listen", ServerConfig, "listen", metavar="HOST:PORT",
                    help="address to serve gRPC on (port 0 picks a free port); mutual TLS with the --tls-* "
                         "files, else with certificates the apiserver makes in --cert-dir")
    add_config_flag(parser, "--http-listen", ServerConfig, "http_listen", metavar="HOST:PORT",
                    help="also serve the Kubernetes HTTP API (kubectl, client-go) on this address, over HTTPS "
                         "with the same certificates (client certificates required) or plain HTTP with "
                         "--insecure-plaintext; port 0 picks a free port; empty: off")
    parser.add_argument("--cert-dir", default=field_default(ServerConfig, "cert_dir"), metavar="DIR",
                        help="without --tls-* files: where the apiserver keeps the CA and serving certificate it "
                             "makes (once; reused) (default DATA_DIR/pki); the admin kubeconfig is "
                             f"DATA_DIR/{self_signed.ADMIN_KUBECONFIG}")
    parser.add_argument("--insecure-plaintext", action="store_true",
                        help="serve plaintext gRPC without any certificates: every caller is system:unsecured in "
                             "system:masters, as on Kubernetes' removed insecure port (tests, benchmarks)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="where the SQLite store lives (created if missing); required unless --in-memory")
    parser.add_argument("--in-memory", action="store_true", help="keep objects in memory only (nothing survives)")
    add_config_flag(parser, "--watch-history", ServerConfig, "watch_history", metavar="N",
                    help="changes kept for watch replay; older resourceVersions get 'too old'")
    add_config_flag(parser, "--bookmark-interval", ServerConfig, "bookmark_interval", metavar="SECONDS",
                    help="idle time after which watchers that allow bookmarks get one")
    add_config_flag(parser, "--max-request-bytes", ServerConfig, "max_request_bytes", metavar="N",
                    help="largest request accepted")
    add_config_flag(parser, "--service-cluster-ip-range", ServerConfig, "service_cluster_ip_range", metavar="CIDR",
                    help="the IPv4 range ClusterIPs are allocated from")
    add_config_flag(parser, "--service-node-port-range", ServerConfig, "service_node_port_range",
                    metavar="FIRST-LAST", help="the ports NodePorts are allocated from")
    add_config_flag(parser, "--kubelet-preferred-address-types", ServerConfig, "kubelet_preferred_address_types",
                    metavar="TYPE,...", help="Node address types to dial kubelets at, first usable wins")
    add_config_flag(parser, "--max-requests-inflight", ServerConfig, "max_requests_inflight", metavar="N",
                    help="read requests served at once, more are refused with RESOURCE_EXHAUSTED "
                         "(watch, logs, exec and port-forward are not counted; system:masters is never refused; "
                         "0: no limit)")
    add_config_flag(parser, "--max-mutating-requests-inflight", ServerConfig, "max_mutating_requests_inflight",
                    metavar="N", help="write requests served at once, as --max-requests-inflight")
    add_config_flag(parser, "--authorization-mode", ServerConfig, "authorization_mode", metavar="MODE,...",
                    action=_Given, help=f"authorizers, any of which may allow a request: "
                                        f"{', '.join(AUTHORIZATION_MODES)}; Node,RBAC when the apiserver made "
                                        "its own certificates")
    add_config_flag(parser, "--audit-log-path", ServerConfig, "audit_log_path", metavar="PATH",
                    help="write an audit event (JSON, audit.k8s.io/v1) per request to PATH, '-' for stdout; "
                         "empty: no audit log")
    add_config_flag(parser, "--audit-level", ServerConfig, "audit_level", choices=AUDIT_LEVELS,
                    help="what an audit event holds: Metadata (who, verb, object, answer, latency), Request "
                         "(+ the request's object), RequestResponse (+ the response's); None logs nothing")
    add_config_flag(parser, "--encryption-provider-config", ServerConfig, "encryption_provider_config",
                    metavar="FILE", help="an EncryptionConfiguration (apiserver.config.k8s.io/v1): the listed "
                                         "resources (secrets) are stored encrypted (aesgcm); empty: plaintext")
    add_config_flag(parser, "--tls-cert-file", ServerConfig, "tls_cert_file", metavar="PATH",
                    help="the apiserver's serving certificate (PEM); with --tls-private-key-file and --client-ca-file "
                         "the API is served over mutual TLS")
    add_config_flag(parser, "--tls-private-key-file", ServerConfig, "tls_private_key_file", metavar="PATH",
                    help="the serving certificate's private key (PEM)")
    add_config_flag(parser, "--client-ca-file", ServerConfig, "client_ca_file", metavar="PATH",
                    help="the CA (PEM) whose client certificates are accepted; a certificate's CN is the user, "
                         "each O a group")
    # Dialling kubelets over mutual TLS (see apiserver/logs_proxy.py).
    add_config_flag(parser, "--kubelet-client-certificate", ServerConfig, "kubelet_client_certificate",
                    metavar="PATH", help="the apiserver's client certificate (PEM) for kubelets "
                                         "(CN kube-apiserver-kubelet-client)")
    add_config_flag(parser, "--kubelet-client-key", ServerConfig, "kubelet_client_key", metavar="PATH",
                    help="its private key (PEM)")
    add_config_flag(parser, "--kubelet-certificate-authority", ServerConfig, "kubelet_certificate_authority",
                    metavar="PATH", help="the CA (PEM) kubelets' serving certificates must be signed by")
    # --- the token join (apiserver/bootstrap.py) ---
    add_config_flag(parser, "--bootstrap-listen", ServerConfig, "bootstrap_listen", metavar="HOST:PORT",
                    help="serve the token join (pykubelet --token) on this address: TLS without client "
                         "certificates, the one call Bootstrap.Join; tokens from DATA_DIR/bootstrap-tokens.json "
                         "(pykube token create); empty: off")
    add_config_flag(parser, "--cluster-signing-cert-file", ServerConfig, "cluster_signing_cert_file",
                    metavar="PATH", help="the cluster CA (PEM) that signs joining nodes' client certificates; "
                                         "must be in --client-ca-file and have signed --tls-cert-file")
    add_config_flag(parser, "--cluster-signing-key-file", ServerConfig, "cluster_signing_key_file",
                    metavar="PATH", help="that CA's private key (PEM)")
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    if args.data_dir is None and not args.in_memory:
        parser.error("--data-dir DIR is required (or --in-memory)")
    if args.watch_history < 1:
        parser.error("--watch-history must be at least 1")
    if args.max_requests_inflight < 0 or args.max_mutating_requests_inflight < 0:
        parser.error("--max-requests-inflight and --max-mutating-requests-inflight must not be negative")
    tls_files = (args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
    if args.insecure_plaintext and any(tls_files):
        parser.error("--insecure-plaintext and --tls-cert-file/--tls-private-key-file/--client-ca-file "
                     "exclude each other")
    self_signed_mode = not args.insecure_plaintext and not any(tls_files)
    if self_signed_mode and args.in_memory:
        parser.error("--in-memory keeps no files, so the apiserver cannot make its own certificates: give "
                     "--tls-cert-file, --tls-private-key-file and --client-ca-file, or --insecure-plaintext")
    if args.cert_dir and not self_signed_mode:
        parser.error("--cert-dir is where the apiserver makes its own certificates: not with --tls-* files "
                     "or --insecure-plaintext")
    authorization_mode = args.authorization_mode
    if self_signed_mode and not getattr(args, "authorization_mode_given", False):
        authorization_mode = SELF_SIGNED_AUTHORIZATION_MODE
    config = ServerConfig(listen=args.listen, http_listen=args.http_listen,
                          data_dir=None if args.in_memory else args.data_dir,
                          watch_history=args.watch_history, bookmark_interval=args.bookmark_interval,
                          max_request_bytes=args.max_request_bytes,
                          service_cluster_ip_range=args.service_cluster_ip_range,
                          service_node_port_range=args.service_node_port_range,
                          kubelet_preferred_address_types=args.kubelet_preferred_address_types,
                          max_requests_inflight=args.max_requests_inflight,
                          max_mutating_requests_inflight=args.max_mutating_requests_inflight,
                          authorization_mode=authorization_mode, audit_log_path=args.audit_log_path,
                          audit_level=args.audit_level,
                          encryption_provider_config=args.encryption_provider_config, tls_cert_file=args.tls_cert_file,
                          tls_private_key_file=args.tls_private_key_file, client_ca_file=args.client_ca_file,
                          kubelet_client_certificate=args.kubelet_client_certificate,
                          kubelet_client_key=args.kubelet_client_key,
                          kubelet_certificate_authority=args.kubelet_certificate_authority,
                          bootstrap_listen=args.bootstrap_listen,
                          cluster_signing_cert_file=args.cluster_signing_cert_file,
                          cluster_signing_key_file=args.cluster_signing_key_file,
                          self_signed=self_signed_mode, cert_dir=args.cert_dir,
                          insecure_plaintext=args.insecure_plaintext)
    try:
        authorizer_for(config.authorization_mode, WatchCache(history_size=1))
        _ = config.tls
        ClusterIPAllocator(config.service_cluster_ip_range)
        config.service_ranges()
        parse_address_types(config.kubelet_preferred_address_types)
        if config.encryption_provider_config:
            load_encryption_config(config.encryption_provider_config)
        kubelet_client_tls(config.kubelet_client_certificate, config.kubelet_client_key,
                           config.kubelet_certificate_authority)
        if config.bootstrap_listen and not config.self_signed:  # else checked once the files exist
            bootstrap_signer(config)
    except ValueError as err:
        parser.error(str(err))
    configure_logging(args.log_format)
    return config


async def serve(config: ServerConfig) -> None:
    server = APIServer(config)

    async def start() -> None:
        await server.start()
        if server.self_signed is not None:
            print(self_signed.usage_line(server.self_signed, http=bool(server.http_address)), file=sys.stderr,
                  flush=True)
        elif config.insecure_plaintext:
            log.warning("apiserver serving plaintext: every caller is system:unsecured in system:masters",
                        address=server.address)

    await run_until_signalled("apiserver", start, server.stop)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        asyncio.run(serve(config))
    except (OSError, ValueError) as err:  # ValueError: the bootstrap signer, checked once the files exist
        log.error("apiserver failed to start", error=str(err))
        print(f"pykube-apiserver: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
