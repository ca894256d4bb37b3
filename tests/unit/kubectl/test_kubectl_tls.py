"""pykubectl against a mutual-TLS server: the kubeconfig's credentials get it in; a plaintext
config gets one line naming the file that lacks them (client.config.credentials_hint)."""

from __future__ import annotations

import io
from concurrent import futures
from typing import Iterator

import grpc
import pytest

from client import pki
from client.kubeconfig import user_kubeconfig, write_kubeconfig
from component_base.tls import server_credentials
from kubectl.main import main
from protos import api_pb2, api_pb2_grpc


class Versioned(api_pb2_grpc.APIServicer):
    def Version(self, request, context):
        return api_pb2.VersionInfo(git_version="v1.0.0-test")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[str, pki.CertKey]]:
    ca = pki.create_ca()
    serving = pki.issue_serving_cert(ca, "kube-apiserver", ips=["127.0.0.1"])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    api_pb2_grpc.add_APIServicer_to_server(Versioned(), server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(ca.cert_pem(), serving.cert_pem(),
                                                                     serving.key_pem()))
    server.start()
    yield f"127.0.0.1:{port}", ca
    server.stop(None)


def run(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env=env, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def test_the_kubeconfig_credentials_get_in(tls_server, tmp_path):
    address, ca = tls_server
    config = tmp_path / "admin.conf"
    write_kubeconfig(config, user_kubeconfig(ca, address, "system:admin", ("system:masters",)))
    code, out, err = run({"PYKUBECONFIG": str(config)}, "version")
    assert code == 0, err
    assert "v1.0.0-test" in out


def test_a_plaintext_config_is_told_which_file_lacks_credentials(tls_server, tmp_path):
    address, _ = tls_server
    config = tmp_path / "old-config"
    config.write_text(f"server: {address}\n")
    code, _, err = run({"PYKUBECONFIG": str(config)}, "version")
    assert code == 1
    assert err == (f"error: the server at {address} closed a plaintext connection (it requires TLS): "
                   f"config file {config} has no credentials (client-certificate-data/client-key-data); "
                   f'run "pykube up" again or "pykube user add NAME"\n')
