"""Mutual TLS for real, in one process on 127.0.0.1: a grpc.aio server with
component_base.tls's credentials and a tiny "who am I" method, dialled with
client.connection.connect(tls=...). Who gets in, who is refused at the handshake, and
what identity the server sees; then the token join over the bootstrap listener."""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest

from apimachinery.identity import ANONYMOUS
from client import bootstrap_token as bt
from client import pki
from client.ca_discovery import discover_ca
from client.connection import TLSConfig, connect
from component_base import tls

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
WHO = "/pykube.test.Who/Am"
JOIN = "/pykube.test.Bootstrap/Join"


class ServerThread:
    """An event loop in a thread running one grpc.aio server (the tests' clients are sync)."""

    def __init__(self, build: Callable[[], Awaitable[tuple[grpc.aio.Server, int]]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server, self.port = self.run(build())

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.run(self.server.stop(None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Cluster:
    """A CA, the apiserver's serving certificate, and a few clients' certificates."""

    def __init__(self) -> None:
        self.ca = pki.create_ca()
        self.serving = pki.issue_serving_cert(self.ca, "kube-apiserver", ips=["127.0.0.1"], dns_names=["localhost"])
        self.alice = pki.issue_client_cert(self.ca, "alice", ["dev", "qa"])
        self.seen: list[str] = []  # the users the who-am-I handler saw
        self.records = {"abcdef": bt.new_token_record(NOW, token=bt.BootstrapToken("abcdef", "0123456789abcdef"))}

    def tls(self, pair: pki.CertKey | None, ca: pki.CertKey | None = None, server_name: str | None = None) -> TLSConfig:
        return TLSConfig(ca_pem=(ca or self.ca).cert_pem(), cert_pem=pair.cert_pem() if pair else None,
                         key_pem=pair.key_pem() if pair else None, server_name=server_name)

    async def who_am_i(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        user = tls.peer_identity(context)
        self.seen.append(user.name)
        return json.dumps([user.name, list(user.groups)]).encode()

    async def join(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """What the apiserver's bootstrap call will do: token, then a CSR for that node only."""
        body = json.loads(request)
        try:
            bt.authenticate_token(self.records, body["token"], datetime.datetime.now(datetime.timezone.utc))
        except bt.TokenError:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Unauthorized")
        try:
            cert = pki.sign_csr(self.ca, body["csr"].encode(), pki.node_client_policy(body["node"]))
        except pki.CSRRefused as err:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(err))
        return json.dumps([tls.peer_identity(context).name, pki.cert_pem(cert).decode()]).encode()


def handler(service: str, method: str, fn: Callable[..., Awaitable[bytes]]) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(service, {method: grpc.unary_unary_rpc_method_handler(fn)})


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster()


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[ServerThread]:
    async def build() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(handlers=[handler("pykube.test.Who", "Am", cluster.who_am_i)])
        port = server.add_secure_port("127.0.0.1:0", tls.server_credentials(
            cluster.ca.cert_pem(), cluster.serving.cert_pem(), cluster.serving.key_pem()))
        await server.start()
        return server, port

    thread = ServerThread(build)
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def bootstrap(cluster: Cluster) -> Iterator[ServerThread]:
    async def build() -> tuple[grpc.aio.Server, int]:
        server, port = tls.bootstrap_server("127.0.0.1:0", cluster.ca.cert_pem(), cluster.serving.cert_pem(),
                                            cluster.serving.key_pem(),
                                            [handler("pykube.test.Bootstrap", "Join", cluster.join)])
        await server.start()
        return server, port

    thread = ServerThread(build)
    yield thread
    thread.stop()


def call(address: str, config: TLSConfig | None, method: str = WHO, request: bytes = b"") -> Any:
    with connect(address, tls=config, call_timeout=3) as conn:
        return json.loads(conn.channel.unary_unary(method)(request))


def test_a_ca_signed_client_is_served_and_seen_as_its_certificate_says(api: ServerThread, cluster: Cluster) -> None:
    assert call(f"127.0.0.1:{api.port}", cluster.tls(cluster.alice)) == ["alice", ["dev", "qa", "system:authenticated"]]
    assert call(f"localhost:{api.port}", cluster.tls(cluster.alice))[0] == "alice"  # the DNS SAN
    before = tls.identity_cache_info()
    assert call(f"127.0.0.1:{api.port}", cluster.tls(cluster.alice))[0] == "alice"
    after = tls.identity_cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses  # parsed once, not per request


@pytest.mark.parametrize("client", ["plaintext", "no certificate", "another CA", "expired", "not yet valid"])
def test_the_server_refuses_at_the_handshake(api: ServerThread, cluster: Cluster, client: str) -> None:
    other_ca = pki.create_ca("evil-ca")
    config = {
        "plaintext": None,
        "no certificate": cluster.tls(None),
        "another CA": cluster.tls(pki.issue_client_cert(other_ca, "alice", ["system:masters"])),
        "expired": cluster.tls(pki.issue_client_cert(cluster.ca, "old", now=NOW - 2 * DAY, validity=DAY)),
        "not yet valid": cluster.tls(pki.issue_client_cert(cluster.ca, "early", now=NOW + DAY)),
    }[client]
    seen = len(cluster.seen)
    with pytest.raises(grpc.RpcError) as err:
        call(f"127.0.0.1:{api.port}", config)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(cluster.seen) == seen  # no handler ran


@pytest.mark.parametrize(("server_ca", "server_name", "refused"), [
    ("other", None, "unable to get local issuer certificate"),
    ("ours", "example.com", "Hostname Verification Check failed"),
    ("ours", "127.0.0.2", "Hostname Verification Check failed"),
])
def test_the_client_refuses_a_server_it_cannot_verify(api: ServerThread, cluster: Cluster, server_ca: str,
                                                     server_name: str | None, refused: str) -> None:
    ca = pki.create_ca("evil-ca") if server_ca == "other" else cluster.ca
    with pytest.raises(grpc.RpcError) as err:
        call(f"127.0.0.1:{api.port}", cluster.tls(cluster.alice, ca=ca, server_name=server_name))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused in err.value.details()


def test_a_tls_server_name_override_names_a_san(api: ServerThread, cluster: Cluster) -> None:
    assert call(f"127.0.0.1:{api.port}", cluster.tls(cluster.alice, server_name="localhost"))[0] == "alice"


def test_a_token_join_over_the_bootstrap_listener(api: ServerThread, bootstrap: ServerThread,
                                                   cluster: Cluster) -> None:
    """The kubelet's whole join: learn the CA by the token's pin, then (CA-verified TLS, no
    client certificate) trade the token and a CSR for its certificate, then use it."""
    boot = f"127.0.0.1:{bootstrap.port}"
    join = bt.parse_join_token(bt.format_join_token(pki.ca_hash(cluster.ca.cert), cluster.records["abcdef"].token))
    with pytest.raises(bt.CAPinMismatch):
        discover_ca(boot, pki.ca_hash(pki.create_ca().cert))
    ca_cert = discover_ca(boot, join.ca_hash)
    assert ca_cert == cluster.ca.cert
    anonymous = TLSConfig(ca_pem=pki.cert_pem(ca_cert))
    key = pki.new_private_key()

    def ask(node: str, token: str = str(join.token)) -> Any:
        csr = pki.csr_pem(pki.create_csr(key, f"system:node:{node}", ["system:nodes"])).decode()
        return call(boot, anonymous, JOIN, json.dumps({"token": token, "node": "n1", "csr": csr}).encode())

    peer, cert_pem = ask("n1")
    assert peer == "system:anonymous"  # no client certificate on the bootstrap listener
    for node, token, code in (("n2", str(join.token), grpc.StatusCode.PERMISSION_DENIED),
                              ("n1", "abcdef.xxxxxxxxxxxxxxxx", grpc.StatusCode.UNAUTHENTICATED)):
        with pytest.raises(grpc.RpcError) as err:
            ask(node, token)
        assert err.value.code() == code
    node_tls = TLSConfig(ca_pem=pki.cert_pem(ca_cert), cert_pem=cert_pem.encode(), key_pem=pki.key_pem(key))
    assert call(f"127.0.0.1:{api.port}", node_tls) == ["system:node:n1", ["system:nodes", "system:authenticated"]]


def test_the_bootstrap_listener_serves_nothing_else(bootstrap: ServerThread, cluster: Cluster) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(f"127.0.0.1:{bootstrap.port}", cluster.tls(cluster.alice))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_an_identity_outside_its_validity_is_anonymous() -> None:
    """A connection can outlive its certificate: the cached identity is checked against the clock."""
    ca = pki.create_ca()
    cert = pki.issue_client_cert(ca, "bob", ["g"], validity=DAY)

    class Context:
        def auth_context(self) -> dict[str, list[bytes]]:
            return {"transport_security_type": [b"ssl"], "x509_pem_cert": [cert.cert_pem()]}

    now = datetime.datetime.now(datetime.timezone.utc).timestamp()  # not NOW: the suite may have run for minutes
    assert tls.peer_identity(Context(), now=now).name == "bob"
    assert tls.peer_identity(Context(), now=now + 2 * DAY.total_seconds()) == ANONYMOUS
    assert tls.peer_identity(type("Plain", (), {"auth_context": lambda self: {}})()) == ANONYMOUS


def test_certificate_identity_reads_der_and_pem() -> None:
    """The HTTPS face hands over the DER certificate ssl gives it; gRPC hands over PEM."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography import x509

    ca = pki.create_ca()
    cert = pki.issue_client_cert(ca, "carol", ["team"], validity=DAY)
    der = x509.load_pem_x509_certificate(cert.cert_pem()).public_bytes(Encoding.DER)
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    for form in (der, cert.cert_pem()):
        user = tls.certificate_identity(form, now=now)
        assert (user.name, "team" in user.groups) == ("carol", True)
    assert tls.certificate_identity(der, now=now + 2 * DAY.total_seconds()) == ANONYMOUS
    assert tls.certificate_identity(None) == ANONYMOUS
    assert tls.certificate_identity(b"not a certificate") == ANONYMOUS
