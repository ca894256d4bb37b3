"""``pykubectl port-forward`` on real processes and real Podman: a real apiserver, a real pykubelet,
a node with its own Podman service in a sealed network namespace, and the real CLI as a
subprocess. The test reaches the Pod only through 127.0.0.1 ports the CLI opens: the kubelet dials
the Pod's port inside the Pod's network namespace (so even a server bound to the Pod's own
localhost is reachable), with no route from the root namespace to the Pod.

Needs root: fails, never skips, when something is missing."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from apiserver_process import REPO_ROOT, ApiserverProcess, repo_env, run_kubectl
from test_kubelet_podman import WORKER_IMAGE, cluster, create, make_pod, running, wait_for  # noqa: F401 (cluster)

WAIT = 30.0
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""


@pytest.fixture(scope="module")
def web(cluster) -> ApiserverProcess:
    """Pod web Running on node n1 (``cluster``: a real apiserver, kubelet and Podman node).

    The worker's httpd on 8080 (port "http"), and a second one bound to the Pod's own localhost
    only, which nothing outside the Pod's network namespace could reach."""
    apiserver, _, _ = cluster
    pod = make_pod("web")
    pod.metadata.labels["app"] = "web"
    pod.spec.containers[0].ports.add(name="http", container_port=8080)
    pod.spec.containers.add(name="local", image=WORKER_IMAGE,
                            command=["httpd", "-f", "-p", "127.0.0.1:9000", "-h", "/www"])
    create(apiserver, pod)
    wait_for("web Running", running(apiserver, "web"), timeout=90)
    return apiserver


class PortForward:
    """``pykubectl port-forward`` as a subprocess, its stdout lines readable with a timeout."""

    def __init__(self, apiserver: ApiserverProcess, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kubectl", "--server", apiserver.address,
                                      "port-forward", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=repo_env(), cwd=REPO_ROOT)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))

    def forwarding(self, count: int) -> list[int]:
        """The local ports of the first ``count`` "Forwarding from 127.0.0.1:P -> R" lines."""
        lines = [self.lines.get(timeout=WAIT) for _ in range(count)]
        assert all(line.startswith("Forwarding from 127.0.0.1:") for line in lines), lines
        return [int(line.split()[2].rsplit(":", 1)[1]) for line in lines]

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the exit code and everything on stderr."""
        os.kill(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return code, self.proc.stderr.read()  # type: ignore[union-attr]


def has_ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


def get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT) as response:
        return response.read().decode()


def raw_get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    return b"".join(iter(lambda: sock.recv(65536), b""))


def test_port_forward_to_a_pod_serves_http_concurrently_and_stops_on_ctrl_c(web: ApiserverProcess) -> None:
    forward = PortForward(web, "pod/web", "0:8080", ":9000", ":7777")  # --address localhost
    try:
        # localhost is 127.0.0.1 and, where this machine has it, [::1] on the same port.
        lines = [forward.lines.get(timeout=WAIT) for _ in range(3 * (2 if has_ipv6_loopback() else 1))]
        ports = [int(line.split()[2].rsplit(":", 1)[1]) for line in lines if line.startswith("Forwarding from 127.")]
        local, pod_local, refused = ports
        assert lines[0] == f"Forwarding from 127.0.0.1:{local} -> 8080"
        if has_ipv6_loopback():
            assert lines[1] == f"Forwarding from [::1]:{local} -> 8080"
        assert "multi-worker" in get(local)
        assert "multi-worker" in get(pod_local)  # the Pod's 127.0.0.1:9000, from outside the Pod

        # Two connections at once: both open before either is answered.
        with socket.create_connection(("127.0.0.1", local), timeout=WAIT) as first, \
                socket.create_connection(("127.0.0.1", local), timeout=WAIT) as second:
            assert b"multi-worker" in raw_get(second)
            assert b"multi-worker" in raw_get(first)

        with socket.create_connection(("127.0.0.1", refused), timeout=WAIT) as conn:
            assert conn.recv(1024) == b""  # nothing listens on the Pod's 7777: the connection is closed
    finally:
        code, err = forward.interrupt()
    assert code == 0, err
    assert f"an error occurred forwarding {refused} -> 7777: error forwarding port 7777 to pod " in err
    assert "dial tcp4 127.0.0.1:7777: connect: connection refused" in err


def test_port_forward_to_a_service_uses_its_target_port_on_one_of_its_pods(web: ApiserverProcess) -> None:
    assert run_kubectl(web.address, "apply", "-f", "-", stdin=SERVICE).code == 0
    forward = PortForward(web, "svc/web", ":80", "--address", "127.0.0.1")
    try:
        [local] = forward.forwarding(1)
        assert "multi-worker" in get(local)
        assert forward.lines.get(timeout=WAIT) == f"Handling connection for {local}"
    finally:
        code, err = forward.interrupt()
    assert (code, err) == (0, "")


def test_a_pod_that_does_not_run_and_a_taken_port_are_one_line(web: ApiserverProcess) -> None:
    pending = make_pod("nowhere")
    pending.spec.node_name = ""
    create(web, pending)
    result = run_kubectl(web.address, "port-forward", "nowhere", "8080")
    assert (result.code, result.err) == (
        1, "error: unable to forward port because pod is not running. Current status=Pending\n")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_kubectl(web.address, "port-forward", "web", f"{port}:8080", "--address", "127.0.0.1")
    assert (result.code, result.out) == (1, "")
    assert result.err == (f"error: Unable to listen on port {port}: Listeners failed to create with the following "
                          f"errors: [unable to create listener: Error listen tcp4 127.0.0.1:{port}: bind: address "
                          "already in use]\n")
