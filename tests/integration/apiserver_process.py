"""Helpers for integration tests: a real pykube-apiserver process and the real pykubectl CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import api_pb2, api_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


def wait_for(what: str, check: Callable[[], object], timeout: float = 60.0, interval: float = 0.2):
    """Poll ``check`` until it returns something true (and return that), or fail saying what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def repo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYKUBECONFIG", None)
    return env


@dataclass
class ApiserverProcess:
    """A pykube-apiserver started by the test, stopped by its PID."""

    data_dir: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    address: str = ""
    http_address: str = ""  # the Kubernetes HTTP API's, when started with --http-listen

    def start(self) -> "ApiserverProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # Without TLS files the apiserver would make its own CA: these tests talk plaintext
        # unless they give certificates (or --cert-dir, asking for the apiserver's own).
        tls = any(arg.startswith(("--tls-", "--cert-dir")) for arg in self.extra_args)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "apiserver.main", "--listen", "127.0.0.1:0",
             "--data-dir", str(self.data_dir), *([] if tls else ["--insecure-plaintext"]), *self.extra_args],
            stdout=log, stderr=log, env=repo_env(), cwd=REPO_ROOT)
        log.close()
        self.address = self._wait_for_address()
        return self

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        seen = 0
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"apiserver exited early:\n{self.log_path.read_text()}")
            lines = self.log_path.read_text().splitlines()
            for line in lines[seen:]:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == "apiserver serving":
                    self.http_address = record.get("http") or ""
                    return record["address"]
            seen = len(lines)
            time.sleep(0.02)
        raise TimeoutError(f"apiserver did not start:\n{self.log_path.read_text()}")

    def stub(self) -> api_pb2_grpc.APIStub:
        return api_pb2_grpc.APIStub(grpc.insecure_channel(self.address))

    def healthy(self) -> bool:
        with grpc.insecure_channel(self.address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.RpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def revision(self) -> int:
        """The store's current revision (List answers it with any kind)."""
        with grpc.insecure_channel(self.address) as channel:
            reply = api_pb2_grpc.APIStub(channel).List(api_pb2.ListRequest(kind="Namespace"), timeout=5)
        return int(reply.resource_version)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise


@dataclass
class KubectlResult:
    code: int
    out: str
    err: str


def run_kubectl(address: str, *args: str, stdin: str | None = None, timeout: float = 30.0) -> KubectlResult:
    proc = subprocess.run([sys.executable, "-m", "kubectl", "--server", address, *args],
                          input=stdin, capture_output=True, text=True, env=repo_env(), cwd=REPO_ROOT,
                          timeout=timeout)
    return KubectlResult(proc.returncode, proc.stdout, proc.stderr)


class ComponentProcess:
    """Another pykube component (scheduler, controller-manager, hollow kubelet) started by
    the test with `python -m MODULE ARGS`, ready once its log shows `ready_event`."""

    def __init__(self, module: str, args: list[str], log_path: Path, ready_event: str) -> None:
        self.module, self.args, self.log_path, self.ready_event = module, args, log_path, ready_event
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = START_TIMEOUT) -> "ComponentProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.module, *self.args],
                                     stdout=log, stderr=log, env=repo_env(), cwd=REPO_ROOT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited early:\n{self.log_path.read_text()[-3000:]}")
            with self.log_path.open("rb") as f:
                f.seek(offset)
                if f'"{self.ready_event}"'.encode() in f.read():
                    return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.module} not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)
