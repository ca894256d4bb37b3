"""The kubelet's own service over mutual TLS: a real grpc.aio log server on 127.0.0.1 with
--tls-cert-file/--tls-private-key-file/--client-ca-file (certificates from client.pki),
dialled by clients holding various certificates. Only the apiserver's kubelet-client
identity (and system:masters) gets in; a missing or foreign certificate is refused at the
handshake, another identity with the kubelet's Forbidden wording."""

from __future__ import annotations

import argparse
import asyncio
import datetime
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest

from apimachinery.identity import ANONYMOUS, authenticated_user
from client import pki
from client.connection import TLSConfig, aio_channel
from kubelet.log_server import start_log_server
from kubelet.runtime import RUNNING, ContainerStatus
from kubelet.server_tls import (APISERVER_KUBELET_CLIENT_USER, KubeletServing, add_serving_flags,
                                serving_from_flags)
from protos import kubelet_pb2, kubelet_pb2_grpc

TIMEOUT = 10.0
REQUEST = kubelet_pb2.LogsRequest(namespace="default", pod="web", container="main")


class StubRuntime:
    """One running container printing a line: all the logs path needs."""

    async def list_containers(self) -> list[ContainerStatus]:
        return [ContainerStatus(id="c0", pod_uid="u", pod_name="web", pod_namespace="default", name="main",
                                attempt=0, image="busybox", image_id="sha256:0", state=RUNNING)]

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        yield b"hello from n1\n"


class PKI:
    """A cluster CA, the kubelet's serving certificate (in files) and clients' certificates."""

    def __init__(self, directory: Path) -> None:
        self.ca = pki.create_ca()
        self.other_ca = pki.create_ca("another-ca")
        self.dir = directory
        pki.write_cert(directory / "ca.crt", self.ca.cert)
        serving = pki.issue_serving_cert(self.ca, "system:node:n1", ips=["127.0.0.1"], dns_names=["localhost", "n1"])
        self.cert_file, self.key_file = pki.write_cert_key(directory, "kubelet", serving)
        self.apiserver = pki.issue_client_cert(self.ca, APISERVER_KUBELET_CLIENT_USER, ["system:masters"])

    def serving(self) -> KubeletServing:
        return KubeletServing(tls_cert_file=str(self.cert_file), tls_private_key_file=str(self.key_file),
                              client_ca_file=str(self.dir / "ca.crt"))

    def client(self, user: str | None, groups: tuple[str, ...] = (), signer: pki.CertKey | None = None,
               **issue: Any) -> TLSConfig:
        pair = pki.issue_client_cert(signer or self.ca, user, groups, **issue) if user else None
        return TLSConfig(ca_pem=self.ca.cert_pem(), cert_pem=pair.cert_pem() if pair else None,
                         key_pem=pair.key_pem() if pair else None)


@pytest.fixture
def certs(tmp_path: Path) -> PKI:
    return PKI(tmp_path)


async def _logs(port: int, tls: TLSConfig | None, host: str = "127.0.0.1") -> bytes:
    async with aio_channel(f"{host}:{port}", [], tls) as channel:
        stub = kubelet_pb2_grpc.KubeletStub(channel)
        return b"".join([c.data async for c in stub.ContainerLogs(REQUEST, timeout=TIMEOUT)])


async def _exec(port: int, tls: TLSConfig | None) -> list[Any]:
    start = kubelet_pb2.ExecInput(start=kubelet_pb2.ExecStart(namespace="default", pod="web", container="main",
                                                              command=["true"]))
    async with aio_channel(f"127.0.0.1:{port}", [], tls) as channel:
        return [m async for m in kubelet_pb2_grpc.KubeletStub(channel).Exec(iter([start]), timeout=TIMEOUT)]


def _serve(serving: KubeletServing | None, *calls: Any) -> list[Any]:
    """Start the kubelet's server, run each call(port) and return its result or AioRpcError."""
    async def scenario() -> list[Any]:
        server, port = await start_log_server(StubRuntime(), serving=serving)  # type: ignore[arg-type]
        results: list[Any] = []
        try:
            for call in calls:
                try:
                    results.append(await asyncio.wait_for(call(port), TIMEOUT))
                except grpc.aio.AioRpcError as err:
                    results.append(err)
        finally:
            await server.stop(0)
        return results
    return asyncio.run(scenario())


def test_the_apiservers_client_certificate_gets_logs(certs: PKI) -> None:
    apiserver = TLSConfig(ca_pem=certs.ca.cert_pem(), cert_pem=certs.apiserver.cert_pem(),
                          key_pem=certs.apiserver.key_pem())
    by_ip, by_name, user_only, admin = _serve(
        certs.serving(),
        lambda port: _logs(port, apiserver),
        lambda port: _logs(port, apiserver, host="localhost"),
        lambda port: _logs(port, certs.client(APISERVER_KUBELET_CLIENT_USER)),
        lambda port: _logs(port, certs.client("admin", ("system:masters",))))
    assert by_ip == by_name == user_only == admin == b"hello from n1\n"


def test_no_certificate_plaintext_another_ca_or_expired_is_refused_at_the_handshake(certs: PKI) -> None:
    last_week = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=7)
    results = _serve(
        certs.serving(),
        lambda port: _logs(port, certs.client(APISERVER_KUBELET_CLIENT_USER, ("system:masters",), now=last_week,
                                              validity=datetime.timedelta(days=1))),
        lambda port: _logs(port, certs.client(None)),
        lambda port: _logs(port, None),
        lambda port: _logs(port, certs.client(APISERVER_KUBELET_CLIENT_USER, ("system:masters",),
                                              signer=certs.other_ca)))
    for err in results:
        assert isinstance(err, grpc.aio.AioRpcError), err
        assert err.code() == grpc.StatusCode.UNAVAILABLE


def test_another_identity_is_forbidden_in_the_kubelets_words(certs: PKI) -> None:
    logs, exec_, alice = _serve(
        certs.serving(),
        lambda port: _logs(port, certs.client("system:node:n2", ("system:nodes",))),
        lambda port: _exec(port, certs.client("system:node:n2", ("system:nodes",))),
        lambda port: _logs(port, certs.client("alice", ("dev",))))
    assert (logs.code(), logs.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource=proxy)")
    assert (exec_.code(), exec_.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Forbidden (user=system:node:n2, verb=create, resource=nodes, subresource=proxy)")
    assert alice.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "user=alice" in alice.details()


def test_without_the_flags_the_service_stays_plaintext() -> None:
    (data,) = _serve(None, lambda port: _logs(port, None))
    assert data == b"hello from n1\n"


# ------------------------------------------------------------------ the decision and the flags


def test_authorizer_decisions() -> None:
    decide = KubeletServing().authorizer().decide
    assert decide(authenticated_user(APISERVER_KUBELET_CLIENT_USER), "ContainerLogs") is None
    assert decide(authenticated_user("root", ["system:masters"]), "PortForward") is None
    assert decide(ANONYMOUS, "ContainerLogs") == (grpc.StatusCode.UNAUTHENTICATED, "Unauthorized")
    assert decide(authenticated_user("system:node:n1", ["system:nodes"]), "PortForward") == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Forbidden (user=system:node:n1, verb=create, resource=nodes, subresource=proxy)")
    custom = KubeletServing(authorized_users=("metrics",), authorized_groups=()).authorizer().decide
    assert custom(authenticated_user("metrics"), "ContainerLogs") is None
    assert custom(authenticated_user("root", ["system:masters"]), "ContainerLogs") is not None


def _flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serving_flags(parser)
    return parser.parse_args(list(argv))


def test_the_three_files_go_together(certs: PKI) -> None:
    assert not serving_from_flags(_flags()).tls
    full = serving_from_flags(_flags("--tls-cert-file", str(certs.cert_file), "--tls-private-key-file",
                                     str(certs.key_file), "--client-ca-file", str(certs.dir / "ca.crt")))
    assert full.tls and full.credentials() is not None
    with pytest.raises(ValueError, match="go together"):
        serving_from_flags(_flags("--tls-cert-file", str(certs.cert_file)))
    missing = KubeletServing(tls_cert_file=str(certs.cert_file), tls_private_key_file=str(certs.key_file),
                             client_ca_file=str(certs.dir / "nope.crt"))
    with pytest.raises(ValueError, match="cannot read the client CA file"):
        missing.credentials()
