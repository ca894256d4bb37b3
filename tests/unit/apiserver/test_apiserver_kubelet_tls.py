"""The apiserver dialling kubelets over mutual TLS, in one process: a real apiserver
(conftest's server_factory, with --kubelet-client-certificate/--kubelet-client-key/
--kubelet-certificate-authority) and a real kubelet log server on its loop serving
--tls-cert-file/--client-ca-file (certificates from client.pki). API.Logs reaches the
kubelet whose serving certificate matches the address dialled; one whose certificate names
another address, or comes from another CA, is not reached (INTERNAL naming the node); a
kubelet refusing the apiserver's identity answers Forbidden, passed through."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest

from apiserver.logs_proxy import kubelet_client_tls
from apiserver.main import parse_args
from apiserver_testlib import create, pod, update_status
from client import pki
from kubelet.log_server import start_log_server
from kubelet.runtime import RUNNING, ContainerStatus
from kubelet.server_tls import APISERVER_KUBELET_CLIENT_USER, KubeletServing
from protos import api_pb2, kubelet_pb2

WAIT = 10.0


class StubRuntime:
    async def list_containers(self) -> list[ContainerStatus]:
        return [ContainerStatus(id="c0", pod_uid="u", pod_name="web", pod_namespace="default", name="main",
                                attempt=0, image="busybox", image_id="sha256:0", state=RUNNING)]

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        yield b"hello over TLS\n"


class Files:
    """The cluster CA and certificates in files, as pykube up would write them."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca = pki.create_ca()
        pki.write_cert(directory / "ca.crt", self.ca.cert)

    def pair(self, name: str, cert: pki.CertKey) -> tuple[str, str]:
        cert_file, key_file = pki.write_cert_key(self.dir, name, cert)
        return str(cert_file), str(key_file)

    def apiserver_config(self, user: str = APISERVER_KUBELET_CLIENT_USER,
                         groups: tuple[str, ...] = ("system:masters",)) -> dict[str, str]:
        cert, key = self.pair(f"client-{user}", pki.issue_client_cert(self.ca, user, groups))
        return dict(kubelet_client_certificate=cert, kubelet_client_key=key,
                    kubelet_certificate_authority=str(self.dir / "ca.crt"))

    def kubelet(self, ips: tuple[str, ...] = ("127.0.0.1",), dns: tuple[str, ...] = ("localhost",),
                signer: pki.CertKey | None = None) -> KubeletServing:
        cert, key = self.pair("kubelet", pki.issue_serving_cert(signer or self.ca, "system:node:n1", ips=ips,
                                                                dns_names=dns))
        return KubeletServing(tls_cert_file=cert, tls_private_key_file=key, client_ca_file=str(self.dir / "ca.crt"))


@pytest.fixture
def files(tmp_path: Path) -> Files:
    (tmp_path / "pki").mkdir()
    return Files(tmp_path / "pki")


def scenario(server: Any, serving: KubeletServing, host: str = "127.0.0.1") -> Any:
    """Node n1 publishing ``host`` and the port of a kubelet serving ``serving``; Pod web on it."""
    log_server, port = server._call(start_log_server(StubRuntime(), serving=serving), WAIT)  # type: ignore[arg-type]
    stub = server.stub
    obj = api_pb2.Object()
    obj.node.metadata.name = "n1"
    node = create(stub, obj)
    node.status.addresses.add(type="Hostname" if host == "localhost" else "InternalIP", address=host)
    node.status.daemon_endpoints.kubelet_endpoint.port = port
    update_status(stub, node)
    create(stub, pod("web"))
    stub.Bind(api_pb2.BindRequest(namespace="default", name="web", node_name="n1"))
    return log_server, port


def read(server: Any) -> bytes:
    request = kubelet_pb2.LogsRequest(namespace="default", pod="web")
    return b"".join(c.data for c in server.stub.Logs(request, timeout=WAIT))


def run(server: Any, serving: KubeletServing, host: str = "127.0.0.1") -> tuple[Any, int]:
    log_server, port = scenario(server, serving, host)
    try:
        return read(server), port
    except grpc.RpcError as err:
        return err, port
    finally:
        server._call(log_server.stop(0), WAIT)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_logs_reach_a_kubelet_whose_certificate_names_the_address(server_factory: Any, files: Files,
                                                                  host: str) -> None:
    server = server_factory(**files.apiserver_config())
    data, _ = run(server, files.kubelet(ips=("127.0.0.1",) if host != "localhost" else (), dns=("localhost",)),
                  host)
    assert data == b"hello over TLS\n"


@pytest.mark.parametrize("mismatch, reason", [
    ("address", "x509: certificate is not valid for 127.0.0.1"),
    ("ca", "x509: certificate signed by unknown authority"),
])
def test_a_kubelet_whose_serving_certificate_does_not_match_is_not_reached(server_factory: Any, files: Files,
                                                                          mismatch: str, reason: str) -> None:
    server = server_factory(**files.apiserver_config())
    # Another address than the one dialled (the Node's InternalIP 127.0.0.1), or another CA.
    serving = files.kubelet(ips=("10.0.0.9",), dns=("n1",)) if mismatch == "address" \
        else files.kubelet(signer=pki.create_ca("another-ca"))
    err, port = run(server, serving)
    assert (err.code(), err.details()) == (
        grpc.StatusCode.INTERNAL,
        f'cannot reach the kubelet of node "n1" at 127.0.0.1:{port}: tls: failed to verify certificate: {reason}')


def test_a_plaintext_apiserver_does_not_reach_a_tls_kubelet(server_factory: Any, files: Files) -> None:
    err, _ = run(server_factory(), files.kubelet())
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "cannot reach the kubelet" in err.details()


def test_the_kubelets_forbidden_passes_through(server_factory: Any, files: Files) -> None:
    # An apiserver configured with a node's certificate for kubelets: the kubelet says no.
    server = server_factory(**files.apiserver_config(user="system:node:n2", groups=("system:nodes",)))
    err, _ = run(server, files.kubelet())
    assert (err.code(), err.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource=proxy)")


def test_flags_go_together_and_files_must_be_readable(files: Files, capsys: Any) -> None:
    assert kubelet_client_tls("", "", "") is None
    config = files.apiserver_config()
    tls = kubelet_client_tls(config["kubelet_client_certificate"], config["kubelet_client_key"],
                             config["kubelet_certificate_authority"])
    assert tls is not None and tls.ca_pem == files.ca.cert_pem()
    with pytest.raises(SystemExit):
        parse_args(["--in-memory", "--insecure-plaintext", "--kubelet-client-certificate",
                    config["kubelet_client_certificate"]])
    assert "go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--in-memory", "--insecure-plaintext", "--kubelet-client-certificate", "/nonexistent.crt",
                    "--kubelet-client-key",
                    config["kubelet_client_key"], "--kubelet-certificate-authority", "/nonexistent-ca.crt"])
    assert "cannot read --kubelet-certificate-authority /nonexistent-ca.crt" in capsys.readouterr().err
