"""Integration fixtures: a real pykube-apiserver process and the real pykubectl CLI; one
shared apiserver serving the Kubernetes HTTP API (rest_server.py) for the real kubectl and
the official Python client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from apiserver_process import ApiserverProcess, KubectlResult, run_kubectl
from rest_server import RestServer, start as start_rest_server


@pytest.fixture
def apiserver(tmp_path: Path):
    server = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver.log").start()
    yield server
    server.stop()


@pytest.fixture
def kubectl(apiserver: ApiserverProcess):
    def call(*args: str, stdin: str | None = None) -> KubectlResult:
        return run_kubectl(apiserver.address, *args, stdin=stdin)
    return call


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    """One apiserver with --http-listen for every test of the HTTP API in the session."""
    server = start_rest_server(tmp_path_factory.mktemp("rest-server"))
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def kube_client(rest_server: RestServer):
    """The official Python client's ApiClient, from the same admin kubeconfig."""
    client = kubernetes.config.new_client_from_config(config_file=str(rest_server.kubeconfig))
    yield client
    client.close()
