"""One real pykube-apiserver serving the Kubernetes HTTP API, shared by the integration tests
of the REST face (the ``rest_server`` fixture in conftest.py starts it once per session).

Started as a person would: ``--data-dir`` only (it makes its own CA and admin credentials and
serves mutual TLS with Node,RBAC) plus ``--http-listen 127.0.0.1:0``. Beside its
``admin.kubeconfig`` (pykubectl's, the gRPC port) it writes ``kubeconfig``, the same admin
pointed at the HTTPS address: what the real kubectl and the official Python client read. Raw requests
(:meth:`RestServer.request`) go over the same mutual TLS with the admin's certificate.

Tests share the process, so each works in namespaces (:meth:`RestServer.namespace`) or under
names of its own, and leaves nothing behind.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apimachinery.kinds import KINDS
from apiserver_process import REPO_ROOT, ApiserverProcess, KubectlResult, repo_env
from real_kubectl import real_kubectl


@dataclass
class Reply:
    """An HTTP answer: status code, headers and the body (JSON decoded when it is JSON)."""

    status: int
    headers: http.client.HTTPMessage
    body: Any


@dataclass
class RestServer:
    process: ApiserverProcess
    address: str  # HOST:PORT of the HTTPS API
    kubeconfig: Path  # the admin's, pointed at the HTTPS address (kubectl and the Python client)
    cache_dir: Path  # kubectl's discovery and OpenAPI cache, shared by the whole session
    ssl_context: ssl.SSLContext  # the cluster CA, the admin's client certificate

    # ------------------------------------------------------------------ kubectl

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 30,
                cache_dir: Path | None = None) -> subprocess.CompletedProcess:
        """Run the real kubectl with the admin kubeconfig (text in, text out); ``cache_dir``
        for a kubectl that must fetch discovery and OpenAPI afresh."""
        argv, env = self._kubectl_command(args, cache_dir)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=REPO_ROOT)

    def kubectl_popen(self, *args: str) -> subprocess.Popen:
        """The real kubectl running on (``get -w``, ``logs -f``); the caller ends it."""
        argv, env = self._kubectl_command(args, None)
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=REPO_ROOT)

    def _kubectl_command(self, args: tuple[str, ...], cache_dir: Path | None) -> tuple[list[str], dict[str, str]]:
        cache = cache_dir or self.cache_dir
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(cache.parent)}
        return [str(real_kubectl()), f"--cache-dir={cache}", *args], env

    def pykubectl(self, *args: str, stdin: str | None = None, timeout: float = 30) -> KubectlResult:
        """Run pykubectl with the admin's ``admin.kubeconfig`` (the gRPC port, mutual TLS)."""
        admin = self.kubeconfig.with_name("admin.kubeconfig")
        proc = subprocess.run([sys.executable, "-m", "kubectl", "--kubeconfig", str(admin), *args], input=stdin,
                              capture_output=True, text=True, env=repo_env(), cwd=REPO_ROOT, timeout=timeout)
        return KubectlResult(proc.returncode, proc.stdout, proc.stderr)

    # ------------------------------------------------------------------ raw HTTPS

    def request(self, method: str, path: str, body: bytes | dict | None = None,
                content_type: str = "application/json", headers: dict[str, str] | None = None) -> Reply:
        """One request over mutual TLS as the admin; a dict body is sent as JSON."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = content_type
        host, port = self.address.rsplit(":", 1)
        connection = http.client.HTTPSConnection(host, int(port), context=self.ssl_context, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        text = raw.decode(errors="replace")
        decoded: Any = text
        if (response.headers.get("Content-Type") or "").startswith("application/json"):
            decoded = json.loads(text)
        return Reply(response.status, response.headers, decoded)

    # ------------------------------------------------------------------ namespaces

    @contextlib.contextmanager
    def namespace(self, prefix: str) -> Iterator[str]:
        """A new namespace ``<prefix>-<random>``; its objects and itself deleted afterwards."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        made = self.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": name}})
        assert made.status == 201, made.body
        try:
            yield name
        finally:
            self.empty_namespace(name)
            self.request("DELETE", f"/api/v1/namespaces/{name}")

    def empty_namespace(self, namespace: str) -> None:
        """Delete every object in ``namespace`` at once (grace period 0: no kubelet waits)."""
        for info in KINDS:
            if not info.namespaced:
                continue
            prefix = "/api/v1" if not info.group else f"/apis/{info.api_version}"
            self.request("DELETE", f"{prefix}/namespaces/{namespace}/{info.plural}?gracePeriodSeconds=0")


def client_ssl_context(kubeconfig: dict[str, Any], directory: Path) -> ssl.SSLContext:
    """An SSL context trusting the kubeconfig's CA and presenting its user's certificate."""
    cluster = kubeconfig["clusters"][0]["cluster"]
    user = kubeconfig["users"][0]["user"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    cert, key = directory / "admin.crt", directory / "admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    key.chmod(0o600)
    context.load_cert_chain(str(cert), str(key))
    return context


def start(directory: Path) -> RestServer:
    """Start the apiserver in ``directory`` (data, log, kubeconfig, kubectl's cache)."""
    data_dir = directory / "data"
    process = ApiserverProcess(data_dir, directory / "apiserver.log", ["--cert-dir", str(data_dir / "pki"),
                                                                       "--http-listen", "127.0.0.1:0"]).start()
    try:
        assert process.http_address, f"no HTTP address in the log:\n{process.log_path.read_text()}"
        # The apiserver wrote the admin's kubeconfig for kubectl beside its admin.kubeconfig.
        kubeconfig = data_dir / "kubeconfig"
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == f"https://{process.http_address}", config
        assert kubeconfig.stat().st_mode & 0o077 == 0, "the kubeconfig holds the admin's key: 0600"
        cache_dir = directory / "home" / "kubectl-cache"
        cache_dir.mkdir(parents=True)
        return RestServer(process, process.http_address, kubeconfig, cache_dir,
                          client_ssl_context(config, directory))
    except BaseException:
        process.stop()
        raise
