"""Integration fixtures: a real pykube-apiserver process and the real pykubectl CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiserver_process import ApiserverProcess, KubectlResult, run_kubectl


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
