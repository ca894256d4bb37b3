"""The everyday habits of kubectl and kind users, on a real ``pykube up --nodes 1`` cluster:
``pykubectl exec`` (pipes, stdin, a real TTY with ``-it``), ``pykube podman NODE``, ``pykube image
load`` (host storage and ``podman save`` archives), the pull error that says how to load an image,
and ``--registry-upstream`` with a second local registry standing in for Docker Hub.

One cluster for the module (its registry a pull-through cache of the stand-in upstream, which
holds an image the lab does not have); the real CLIs run as subprocesses. Needs root: fails,
never skips, when something is missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from apiserver_process import REPO_ROOT
from node_env_fixtures import environment_problems, wait_for

from cluster.images import LabImage, build_and_push_lab_images, busybox_rootfs_tar
from cluster.registry import LocalRegistry

TAG = f"{os.getpid() % 100000}"
HOST_IMAGE = f"localhost/pk-load-{TAG}:1"            # built in the host's own Podman storage
ARCHIVE_IMAGE = f"localhost/pk-archive-{TAG}:1"      # only ever in a podman save archive
UPSTREAM_ONLY = LabImage("library/upstream-only", TAG, ["sleep", "100000"])
SHELL_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: sh
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - {name: main, image: docker.io/library/busybox:1.36, command: ["sleep", "100000"]}
    - {name: side, image: docker.io/library/busybox:1.36, command: ["sleep", "100000"]}
"""


def pod_manifest(name: str, image: str) -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n"
            f"  containers:\n    - name: main\n      image: {image}\n")


class Lab:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "state"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.env["PYKUBECONFIG"] = str(base / "pykubectl-config")
        self.env["PYKUBE_STATE_DIR"] = str(self.state)

    def pykube(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cluster.cli", *args], capture_output=True, text=True,
                              env=self.env, cwd=REPO_ROOT, timeout=timeout, check=False)

    def pykubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kubectl", *args], input=stdin, capture_output=True,
                              text=True, env=self.env, cwd=REPO_ROOT, timeout=60, check=False)

    def pod(self, name: str) -> dict:
        result = self.pykubectl("get", "pod", name, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def running(self, name: str, timeout: float = 60.0) -> dict:
        return wait_for(f"pod {name} Running", lambda: (lambda p: p if p["status"].get("phase") == "Running"
                                                         else None)(self.pod(name)), timeout)

    def apply(self, manifest: str) -> None:
        result = self.pykubectl("apply", "-f", "-", stdin=manifest)
        assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    problems = environment_problems()
    if problems:
        pytest.fail("cannot run the cluster habit tests: " + "; ".join(problems))
    base = tmp_path_factory.mktemp("habits")
    upstream = LocalRegistry(base / "upstream").start()  # stands in for Docker Hub, on 127.0.0.1
    lab = Lab(base)
    try:
        build_and_push_lab_images(upstream.address, (UPSTREAM_ONLY,))
        subprocess.run(["podman", "import", "--change", 'CMD ["sh", "-c", "echo loaded-image-runs; sleep 100000"]',
                        "-", HOST_IMAGE], input=busybox_rootfs_tar(), capture_output=True, check=True)
        up = lab.pykube("up", "--nodes", "1", "--name", f"h{TAG}", "--no-user-config",
                        "--registry-upstream", upstream.url, timeout=300)
        assert up.returncode == 0, up.stderr
        lab.env["PYKUBECONFIG"] = str(lab.state / "config")
        lab.apply(SHELL_POD)
        lab.running("sh")
        yield lab
    finally:
        lab.pykube("down", "--purge")
        upstream.stop()
        subprocess.run(["podman", "rmi", "--force", HOST_IMAGE], capture_output=True, check=False)


# ------------------------------------------------------------------------------- exec


def test_exec_streams_stdout_and_stderr_apart_and_passes_the_exit_code(lab):
    result = lab.pykubectl("exec", "sh", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert result.stderr.splitlines() == ['Defaulted container "main" out of: main, side', "err",
                                          "command terminated with exit code 3"]


def test_exec_passes_stdin_to_the_named_container(lab):
    result = lab.pykubectl("exec", "-i", "sh", "-c", "side", "--", "sh", "-c", "cat; hostname >/dev/null",
                           stdin="hello from stdin\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello from stdin\n", "")


def test_exec_it_is_a_real_terminal_with_its_size_and_resizes(lab):
    """pykubectl under a pseudo-terminal, as a user at a terminal runs it."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: pykubectl exec -it, its terminal the pty
        os.execve(sys.executable, [sys.executable, "-m", "kubectl", "exec", "-it", "sh", "-c", "main", "--", "sh"],
                  lab.env)
    output = b""

    def read_until(needle: bytes, timeout: float = 20.0) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while needle not in output:
            assert time.monotonic() < deadline, f"no {needle!r} in {output!r}"
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    output += os.read(fd, 4096)
                except OSError:
                    break

    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        read_until(b"/ # ")
        os.write(fd, b"tty; stty size\r")
        read_until(b"33 101")
        assert b"/dev/pts/" in output  # the command has a terminal of its own
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # SIGWINCH to pykubectl
        os.write(fd, b"sleep 1; stty size; exit 5\r")
        read_until(b"command terminated with exit code 5")
        assert b"40 120" in output
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5


def test_exec_into_a_missing_container_or_pod_is_one_line(lab):
    result = lab.pykubectl("exec", "sh", "-c", "nope", "--", "true")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == 'error: unable to upgrade connection: container not found ("nope")\n'
    result = lab.pykubectl("exec", "nosuch", "--", "true")
    assert (result.returncode, result.stderr) == (1, 'Error from server (NotFound): pods "nosuch" not found\n')


# ----------------------------------------------------------------------------- podman


def test_pykube_podman_runs_podman_against_the_node(lab):
    result = lab.pykube("podman", "n1", "ps", "--format", "{{.Names}}")
    assert result.returncode == 0, result.stderr
    assert any(name.startswith("pk_main_sh_default_") for name in result.stdout.split())
    assert lab.pykube("podman", "n1", "inspect", "no-such-container").returncode == 125  # passed through
    unknown = lab.pykube("podman", "n7", "ps")
    assert (unknown.returncode, unknown.stderr) == (1, "pykube podman: no node n7 with a Podman in this "
                                                       "cluster (nodes: n1)\n")


# ------------------------------------------------------------------------ image load


def cluster_registry_repositories(lab) -> list[str]:
    spec = json.loads((lab.state / "cluster.json").read_text())
    return LocalRegistry(lab.state / "registry", port=int(spec["registry"].rsplit(":", 1)[1])).catalog()


def test_image_load_of_a_missing_image_is_one_line_and_pushes_nothing(lab):
    before = cluster_registry_repositories(lab)
    result = lab.pykube("image", "load", f"pk-load-{TAG}:1", f"pk-missing-{TAG}:1")
    assert result.returncode == 1
    assert result.stderr == (f'pykube image: image "pk-missing-{TAG}:1" not found in the host\'s Podman storage '
                             "(podman images lists what is there)\n")
    assert cluster_registry_repositories(lab) == before


def test_a_loaded_host_image_runs_in_the_cluster(lab):
    result = lab.pykube("image", "load", f"pk-load-{TAG}:1")
    assert result.returncode == 0, result.stderr
    assert f"loaded into the cluster registry as docker.io/library/pk-load-{TAG}:1" in result.stdout
    lab.apply(pod_manifest("mine", f"pk-load-{TAG}:1"))
    lab.running("mine")
    wait_for("its output", lambda: lab.pykubectl("logs", "mine").stdout == "loaded-image-runs\n", 20)


def test_a_loaded_archive_runs_in_the_cluster(lab):
    archive = lab.base / "image.tar"
    subprocess.run(["podman", "tag", HOST_IMAGE, ARCHIVE_IMAGE], check=True, capture_output=True)
    try:
        subprocess.run(["podman", "save", "-o", str(archive), ARCHIVE_IMAGE], check=True, capture_output=True)
    finally:
        subprocess.run(["podman", "untag", HOST_IMAGE, ARCHIVE_IMAGE], capture_output=True, check=False)
    result = lab.pykube("image", "load", str(archive))
    assert result.returncode == 0, result.stderr
    lab.apply(pod_manifest("from-archive", f"docker.io/library/pk-archive-{TAG}:1"))
    lab.running("from-archive")


def test_an_image_nowhere_says_how_to_load_it(lab):
    image = f"docker.io/library/nowhere-{TAG}:1"
    lab.apply(pod_manifest("nowhere", image))
    hint = f"load it with: pykube image load {image}"

    def waiting_message() -> str | None:
        statuses = lab.pod("nowhere")["status"].get("containerStatuses") or [{}]
        waiting = statuses[0].get("state", {}).get("waiting", {})
        return waiting.get("message") if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None

    message = wait_for("ErrImagePull", waiting_message)
    assert "manifest unknown" in message and hint in message  # the registry's words, then the way out
    events = lab.pykubectl("get", "events", "-o", "json")
    assert any(hint in e.get("message", "") for e in json.loads(events.stdout)["items"])


# ------------------------------------------------------------------ registry upstream


def test_an_image_only_upstream_is_pulled_through_the_cache_once(lab):
    lab.apply(pod_manifest("upstream", f"upstream-only:{TAG}"))
    lab.running("upstream", timeout=90)
    cached = lab.state / "registry-cache" / "storage" / "docker" / "registry" / "v2" / "repositories" / "library"
    assert (cached / "upstream-only").is_dir()  # now in the cache's own storage
    assert "library/upstream-only" not in cluster_registry_repositories(lab)  # not pushed to the lab's
