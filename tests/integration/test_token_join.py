"""Kubelets join with a token, against a real pykube-apiserver process serving mutual TLS,
``--authorization-mode Node,RBAC`` and the bootstrap listener: ``pykube token create``
(the real CLI) prints a join string; a real pykubelet (fake runtime) joins with it and works
on the API as system:node:<name>, and joins no more once it has a certificate; a forged CSR
name, an expired token and the name of a Ready node are refused."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from apiserver_process import REPO_ROOT, ApiserverProcess, ComponentProcess, repo_env, wait_for
from apimachinery.kinds import unwrap
from client import bootstrap_token as bt
from client import pki
from client.connection import TLSConfig, connect
from client.token_store import StoredToken, TokenStore, path_in
from kubelet import bootstrap
from protos import api_pb2, bootstrap_pb2, bootstrap_pb2_grpc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A state dir laid out as pykube up's (pki/, apiserver/) and the apiserver on it."""
    state = tmp_path_factory.mktemp("state")
    ca = pki.create_ca()
    pki.write_cert_key(state / "pki", "ca", ca)
    pki.write_cert_key(state / "pki", "apiserver", pki.issue_serving_cert(ca, "kube-apiserver", ips=["127.0.0.1"]))
    p = state / "pki"
    server = ApiserverProcess(state / "apiserver", state / "apiserver.log", extra_args=[
        "--tls-cert-file", str(p / "apiserver.crt"), "--tls-private-key-file", str(p / "apiserver.key"),
        "--client-ca-file", str(p / "ca.crt"), "--authorization-mode", "Node,RBAC",
        "--bootstrap-listen", "127.0.0.1:0",
        "--cluster-signing-cert-file", str(p / "ca.crt"), "--cluster-signing-key-file", str(p / "ca.key")]).start()
    serving = next(json.loads(line) for line in server.log_path.read_text().splitlines()
                   if '"apiserver serving"' in line)
    try:
        yield state, ca, server, serving["bootstrap"]
    finally:
        server.stop()


def token_create(state: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "cluster.cli", "--state-dir", str(state), "token", "create", *args],
                          capture_output=True, text=True, env=repo_env(), cwd=REPO_ROOT, timeout=30, check=True)
    return proc.stdout.strip()


def admin(server: ApiserverProcess, ca: pki.CertKey):
    pair = pki.issue_client_cert(ca, "kubernetes-admin", ["system:masters"])
    return connect(server.address, tls=TLSConfig(ca.cert_pem(), pair.cert_pem(), pair.key_pem()))


def test_a_kubelet_joins_with_a_token_and_works_as_its_node(cluster) -> None:
    state, ca, server, bootstrap_address = cluster
    join = token_create(state, "--description", "integration")
    cert_dir = state / "nodes" / "n1" / "pki"
    args = ["--server", server.address, "--node-name", "n1", "--runtime", "fake", "--token", join,
            "--bootstrap-server", bootstrap_address, "--cert-dir", str(cert_dir)]
    kubelet = ComponentProcess("kubelet.main", args, state / "kubelet-n1.log", "kubelet running").start()
    try:
        assert '"joined the cluster"' in kubelet.log_path.read_text()
        with admin(server, ca) as conn:
            node = wait_for("a Node", lambda: next((n for n in conn.stub.List(api_pb2.ListRequest(kind="Node")).items), None),
                            timeout=20.0)
        assert unwrap(node).metadata.name == "n1"
        key = cert_dir / "kubelet-client.key"
        assert key.stat().st_mode & 0o777 == 0o600
        # The certificate works on the API as system:node:n1: it may write its own Node's status.
        tls = TLSConfig((cert_dir / "ca.crt").read_bytes(), (cert_dir / "kubelet-client.crt").read_bytes(),
                        key.read_bytes())
        with connect(server.address, tls=tls) as conn:
            own = conn.stub.Get(api_pb2.GetRequest(kind="Node", name="n1"))
            assert conn.stub.UpdateStatus(api_pb2.UpdateRequest(object=own)) is not None
    finally:
        kubelet.kill()
    # Restarted with its certificate in the cert dir, it does not join again (the token is gone).
    subprocess.run([sys.executable, "-m", "cluster.cli", "--state-dir", str(state), "token", "delete",
                    join.rpartition("::")[2]], env=repo_env(), cwd=REPO_ROOT, check=True, capture_output=True)
    again = ComponentProcess("kubelet.main", args, state / "kubelet-n1.log", "kubelet running").start()
    try:
        assert "using the client certificate in the cert dir" in again.log_path.read_text()
    finally:
        again.kill()


def test_a_forged_csr_name_is_refused(cluster) -> None:
    state, ca, _, bootstrap_address = cluster
    join = bt.parse_join_token(token_create(state))
    csr = pki.create_csr(pki.new_private_key(), "system:node:n2", ["system:nodes"])
    with grpc.secure_channel(bootstrap_address, grpc.ssl_channel_credentials(ca.cert_pem())) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            bootstrap_pb2_grpc.BootstrapStub(channel).Join(bootstrap_pb2.JoinRequest(
                token=str(join.token), csr_pem=pki.csr_pem(csr), node_name="n3"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == ('certificate signing request for node "n3" refused: '
                                      'subject common name "system:node:n2" is not "system:node:n3"')


def test_an_expired_token_is_refused(cluster, tmp_path) -> None:
    state, ca, _, bootstrap_address = cluster
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    record = bt.new_token_record(past, token=bt.BootstrapToken("expird", "0123456789abcdef"))
    TokenStore(path_in(state / "apiserver")).add(StoredToken(record))
    join = bt.format_join_token(pki.ca_hash(ca.cert), record.token)
    with pytest.raises(bootstrap.BootstrapError, match=r'\(UNAUTHENTICATED\): token id "expird" is invalid for this '
                                                       r"cluster or it has expired"):
        bootstrap.client_credentials(tmp_path / "pki", "n4", join, bootstrap_address)
    assert not (tmp_path / "pki").exists()
