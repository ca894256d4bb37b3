"""The course app's images (examples/complex/): one shared root filesystem with the scripts of
cluster/course_app/ under /course, and the scripts doing their job under busybox on loopback
(kv store, API with its token, web page, migration, worker), as the Pods run them."""

from __future__ import annotations

import io
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cluster.images import COURSE_FILES, COURSE_IMAGES, LAB_IMAGES, busybox_rootfs_tar, find_busybox
from cluster.registry import free_port

TOKEN = "t0ken"


def test_the_course_images_share_one_root_filesystem_with_executable_scripts() -> None:
    assert all(image in LAB_IMAGES for image in COURSE_IMAGES)
    assert {i.repository for i in COURSE_IMAGES} == {f"library/course-{p}" for p in
                                                      ("kv", "api", "web", "worker", "agent", "migrate")}
    assert all(i.files is COURSE_FILES for i in COURSE_IMAGES)  # one tar, one layer for all of them
    modes = {f.path: f.mode for f in COURSE_FILES}
    assert modes["course/kv/cgi-bin/kv"] == modes["course/migrate.sh"] == 0o755
    assert modes["course/lib.sh"] == 0o755
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar(files=COURSE_FILES))) as tar:
        assert {"course/api/cgi-bin/notes", "course/web/cgi-bin/index.cgi", "course/worker.sh",
                "course/agent.sh"} <= set(tar.getnames())


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """The image's /course extracted, its absolute paths (/course, /etc/course) pointed at the
    extracted copy, and a bin directory of busybox applets for PATH."""
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar(files=COURSE_FILES))) as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers() if m.name.startswith("course")],
                       filter="data")
    root = tmp_path / "course"
    for script in root.rglob("*"):
        if script.is_file():
            script.write_text(script.read_text().replace("/etc/course/", f"{tmp_path}/etc/")
                              .replace("/course/", f"{root}/"))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "welcome.txt").write_text("Hello <course>\n")
    busybox = find_busybox()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split():
        (bin_dir / applet).symlink_to(busybox)
    return root


def listening(port: int) -> None:
    """Until busybox httpd accepts connections on port (it binds right after its start)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "busybox httpd did not listen"
            time.sleep(0.02)


class Servers:
    """busybox httpd for kv, api and web on loopback ports, with the Pods' environment."""

    def __init__(self, course: Path) -> None:
        self.course = course
        self.ports = {name: free_port() for name in ("kv", "api", "web")}
        self.env = {"PATH": str(course.parent / "bin"), "DATA_DIR": str(course.parent / "data"),
                    "KV_URL": self.url("kv"), "API_URL": self.url("api"), "API_TOKEN": TOKEN,
                    "HOSTNAME": "web-test", "NODE_NAME": "n1", "WORKER_INTERVAL": "1"}
        self.procs = [subprocess.Popen([find_busybox(), "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h",
                                        str(course / name)], env=self.env)
                      for name, port in self.ports.items()]
        for port in self.ports.values():
            listening(port)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def script(self, name: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([find_busybox(), "sh", str(self.course / name)], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


@pytest.fixture
def servers(course: Path):
    running = Servers(course)
    yield running
    running.close()


def fetch(url: str, data: bytes | None = None, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_kv_store_keeps_one_file_per_key(servers: Servers) -> None:
    kv = servers.url("kv") + "/cgi-bin/kv"
    assert fetch(kv + "?color", b"blue") == (200, "stored color\n")
    assert fetch(kv + "?color") == (200, "blue\n")
    assert fetch(kv) == (200, "color\n")
    assert fetch(kv + "?size")[0] == 404
    assert fetch(kv + "?../etc")[0] == 400
    assert (servers.course.parent / "data" / "keys" / "color").read_text() == "blue"


def test_migration_then_api_then_web_then_worker(servers: Servers) -> None:
    migrated = servers.script("migrate.sh")
    assert migrated.returncode == 0 and "migrated to schema version 1" in migrated.stdout, migrated
    again = servers.script("migrate.sh")
    assert again.returncode == 0 and "schema already at version 1" in again.stdout, again

    notes = servers.url("api") + "/cgi-bin/notes"
    assert fetch(notes)[0] == 401
    assert fetch(notes, token="wrong")[0] == 401
    status, key = fetch(notes, b"from the API", token=TOKEN)
    assert status == 201 and key.startswith("note-"), key
    status, body = fetch(notes, token=TOKEN)
    assert status == 200 and f"{key.strip()}: from the API" in body and "note-0-welcome: Welcome!" in body

    status, page = fetch(servers.url("web") + "/cgi-bin/add?text=hello+%3Cworld%3E%21")  # follows the 303
    assert status == 200 and "<h1>Hello &lt;course&gt;</h1>" in page, page
    assert ": hello &lt;world&gt;!" in page and "schema-version: 1" in page and "served by web-test" in page

    proc = subprocess.run([find_busybox(), "timeout", "3", "sh", str(servers.course / "worker.sh")],
                          env=servers.env, capture_output=True, text=True, timeout=30)
    assert "counted 3 notes" in proc.stdout, proc
    assert fetch(servers.url("kv") + "/cgi-bin/kv?notes-counted") == (200, "3\n")
    assert fetch(servers.url("api") + "/cgi-bin/info", token=TOKEN)[1].count("notes-counted: 3") == 1
    assert fetch(servers.url("web") + "/cgi-bin/health")[0] == 200


def test_health_is_503_without_the_store(course: Path) -> None:
    port = free_port()
    env = {"PATH": str(course.parent / "bin"), "KV_URL": f"http://127.0.0.1:{free_port()}"}
    proc = subprocess.Popen([find_busybox(), "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(course / "api")],
                            env=env)
    try:
        listening(port)
        assert fetch(f"http://127.0.0.1:{port}/cgi-bin/health")[0] == 503
    finally:
        proc.kill()
        proc.wait()
