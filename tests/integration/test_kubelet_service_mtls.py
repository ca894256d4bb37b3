"""The kubelet's own service over mutual TLS, on real processes: a pykube-apiserver given its
kubelet-client certificate (--kubelet-client-certificate, --kubelet-client-key,
--kubelet-certificate-authority) and a pykubelet (fake runtime: no Podman needed) serving
--tls-cert-file/--tls-private-key-file/--client-ca-file, published as Hostname localhost as
`pykube up`'s kubelets are. `pykubectl logs` and `exec` go through; dialling the kubelet
directly without a certificate, or as another node, does not."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest

from apimachinery.kinds import wrap
from client import pki
from client.connection import TLSConfig, connect
from kubelet.server_tls import APISERVER_KUBELET_CLIENT_USER
from protos import api_pb2, core_pb2, kubelet_pb2, kubelet_pb2_grpc
from apiserver_process import ApiserverProcess, ComponentProcess, run_kubectl, wait_for

WAIT = 30.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tuple[pki.CertKey, Path]:
    root = tmp_path_factory.mktemp("pki")
    ca = pki.create_ca()
    pki.write_cert_key(root, "ca", ca)
    # The addresses the apiserver may dial: Hostname localhost, InternalIP 127.0.0.1, the node name.
    pki.write_cert_key(root, "kubelet", pki.issue_serving_cert(ca, "system:node:n1", ips=["127.0.0.1"],
                                                               dns_names=["localhost", "n1"]))
    pki.write_cert_key(root, "apiserver-kubelet-client",
                       pki.issue_client_cert(ca, APISERVER_KUBELET_CLIENT_USER, ["system:masters"]))
    return ca, root


@pytest.fixture(scope="module")
def cluster(certs, tmp_path_factory):
    _, root = certs
    base = tmp_path_factory.mktemp("kubelet-tls")
    apiserver = ApiserverProcess(base / "data", base / "apiserver.log", extra_args=[
        "--kubelet-client-certificate", str(root / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key", str(root / "apiserver-kubelet-client.key"),
        "--kubelet-certificate-authority", str(root / "ca.crt")]).start()
    kubelet = None
    try:
        kubelet = ComponentProcess("kubelet.main", [
            "--server", apiserver.address, "--node-name", "n1", "--runtime", "fake",
            "--node-ip", "127.0.0.1", "--hostname-override", "localhost",
            "--tls-cert-file", str(root / "kubelet.crt"), "--tls-private-key-file", str(root / "kubelet.key"),
            "--client-ca-file", str(root / "ca.crt")], base / "kubelet.log", "kubelet running").start()
        yield apiserver
    finally:
        if kubelet is not None and kubelet.proc is not None:
            kubelet.kill(signal.SIGTERM)
        apiserver.stop()


def get(apiserver, kind: str, name: str, namespace: str = ""):
    reply = apiserver.stub().Get(api_pb2.GetRequest(kind=kind, namespace=namespace, name=name), timeout=10)
    return getattr(reply, reply.WhichOneof("kind"))


@pytest.fixture(scope="module")
def web(cluster) -> tuple[ApiserverProcess, int]:
    """Pod web Running on n1; (apiserver, the kubelet's port)."""
    stub = cluster.stub()
    node = wait_for("node n1", lambda: _node(cluster), timeout=WAIT)
    node.spec.pod_cidr = "10.244.1.0/24"  # no controller-manager here: the kubelet waits for it
    stub.Update(api_pb2.UpdateRequest(object=wrap(node)), timeout=10)
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = "web", "default"
    pod.spec.node_name = "n1"
    pod.spec.containers.add(name="main", image="docker.io/library/multi-worker:1.0")
    stub.Create(api_pb2.CreateRequest(object=wrap(pod)), timeout=10)
    wait_for("web Running", lambda: get(cluster, "Pod", "web", "default").status.phase == "Running",
             timeout=WAIT)
    return cluster, node.status.daemon_endpoints.kubelet_endpoint.port


def _node(apiserver):
    try:
        node = get(apiserver, "Node", "n1")
    except grpc.RpcError:
        return None
    return node if node.status.daemon_endpoints.kubelet_endpoint.port else None


def test_logs_and_exec_go_through_the_apiserver(web) -> None:
    apiserver, _ = web
    logs = run_kubectl(apiserver.address, "logs", "web")
    assert logs.code == 0, logs.err
    exec_ = run_kubectl(apiserver.address, "exec", "web", "--", "true")
    assert exec_.code == 0, exec_.err


def _direct_logs(port: int, tls: TLSConfig | None) -> bytes:
    with connect(f"localhost:{port}", tls=tls) as conn:
        request = kubelet_pb2.LogsRequest(namespace="default", pod="web", container="main")
        return b"".join(c.data for c in kubelet_pb2_grpc.KubeletStub(conn.channel).ContainerLogs(request, timeout=10))


def test_the_kubelet_refuses_everyone_but_the_apiserver(web, certs) -> None:
    _, port = web
    ca, root = certs
    apiserver_identity = pki.load_cert_key(root, "apiserver-kubelet-client")
    assert _direct_logs(port, TLSConfig(ca.cert_pem(), apiserver_identity.cert_pem(),
                                        apiserver_identity.key_pem())) == b""
    with pytest.raises(grpc.RpcError) as plaintext:
        _direct_logs(port, None)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as no_cert:
        _direct_logs(port, TLSConfig(ca.cert_pem()))
    assert no_cert.value.code() == grpc.StatusCode.UNAVAILABLE
    n2 = pki.issue_client_cert(ca, "system:node:n2", ["system:nodes"])
    with pytest.raises(grpc.RpcError) as other_node:
        _direct_logs(port, TLSConfig(ca.cert_pem(), n2.cert_pem(), n2.key_pem()))
    assert (other_node.value.code(), other_node.value.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource=proxy)")
