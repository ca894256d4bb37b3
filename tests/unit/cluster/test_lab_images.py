"""The lab images' contents: the multi-client page names the Pod that served it, as a plain line
for curl/wget and as HTML for browsers, and busybox httpd serves it for "/" (its CGI index)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from cluster.images import LAB_IMAGES, busybox_rootfs_tar, find_busybox
from cluster.registry import free_port

CLIENT = next(i for i in LAB_IMAGES if i.repository == "library/multi-client")


def test_multi_client_serves_http_on_3000_from_its_cgi_index() -> None:
    assert CLIENT.reference() == "docker.io/library/multi-client:1.0"
    assert CLIENT.cmd == ["httpd", "-f", "-p", "3000", "-h", "/client"]
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar(files=CLIENT.files))) as tar:
        names = set(tar.getnames())
        script = tar.getmember("client/cgi-bin/index.cgi")
    assert script.isfile() and script.mode == 0o755
    # No index.html next to it: httpd answers "/" with /cgi-bin/index.cgi only then.
    assert {"client", "client/cgi-bin"} <= names and "client/index.html" not in names
    assert "www/index.html" in names  # the common tree is unchanged


@pytest.fixture
def client_root(tmp_path: Path) -> Path:
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar(files=CLIENT.files))) as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers() if m.name.startswith("client")],
                       filter="data")
    return tmp_path / "client"


def run_cgi(client_root: Path, **env: str) -> str:
    """The script under busybox's own sh (the image's /bin/sh), as httpd runs it."""
    return subprocess.run([find_busybox(), "sh", str(client_root / "cgi-bin" / "index.cgi")],
                          env={"PATH": os.environ["PATH"], **env}, capture_output=True, check=True,
                          timeout=10).stdout.decode()  # bytes: keep the CGI header's \r\n


def test_the_page_names_the_pod_from_its_hostname(client_root: Path) -> None:
    plain = run_cgi(client_root, HOSTNAME="multi-client-7d9f-abcde", HTTP_ACCEPT="*/*")
    header, body = plain.split("\r\n\r\n", 1)
    assert header == "Content-Type: text/plain; charset=utf-8"
    assert body.startswith("multi-client served by multi-client-7d9f-abcde (") and body.endswith(")\n")
    html = run_cgi(client_root, HOSTNAME="multi-client-7d9f-abcde",
                   HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    header, body = html.split("\r\n\r\n", 1)
    assert header == "Content-Type: text/html; charset=utf-8"
    assert body.startswith("<!DOCTYPE html>") and "<p>multi-client served by multi-client-7d9f-abcde (" in body


def test_busybox_httpd_answers_slash_with_the_page(client_root: Path) -> None:
    port = free_port()
    httpd = subprocess.Popen([find_busybox(), "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(client_root)],
                             env={"PATH": os.environ["PATH"], "HOSTNAME": "multi-client-test"})
    try:
        deadline = time.monotonic() + 10
        while True:  # until httpd listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert httpd.poll() is None and time.monotonic() < deadline, "busybox httpd did not listen"
                time.sleep(0.02)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert response.read().decode().startswith("multi-client served by multi-client-test (")
    finally:
        httpd.kill()
        httpd.wait()
