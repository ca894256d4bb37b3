"""The lab's images, built offline from busybox-static and pushed to the local registry.

No registry on the internet is reachable, so there is no ``docker pull busybox``. Instead a
tiny root filesystem - the statically linked busybox binary plus a symlink per applet (sh,
httpd, sleep, wget, cat, echo ...), ``/tmp``, ``/www/index.html`` - is written as a tar in
memory and piped to ``podman import``, which turns a tar into a one-layer image and lets us set
``CMD``/``ENV`` (0.1 s, 2 MB). An image may add files of its own (the multi-client page's CGI
script). The images are named like Docker Hub's
(``docker.io/library/...``) because node registries.conf maps docker.io to the local registry.

Building uses a throwaway Podman storage (vfs driver: no mounts at all) and our own configs,
so the machine's own Podman state is never touched; it is deleted afterwards.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cluster.podman_config import PodmanConfig

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

INDEX_HTML = (
    "<!DOCTYPE html>\n<html><head><title>multi-worker</title></head>\n"
    "<body><h1>multi-worker</h1><p>Served by busybox httpd from a pykube pod.</p></body></html>\n"
)

# The multi-client page: busybox httpd runs /cgi-bin/index.cgi for "/" when the directory has no
# index.html. It names the Pod that answered: $HOSTNAME is the Pod's name (the kubelet gives the
# sandbox the Pod's name as hostname and Podman exports it as HOSTNAME, as Docker and containerd
# do), and the Pod IP is the address of its one interface. Browsers (Accept: text/html) get a
# page; curl and wget get the plain line, easy to grep.
CLIENT_CGI = r"""#!/bin/sh
name="${HOSTNAME:-$(hostname)}"
ip="$(ip -o -4 addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')"
line="multi-client served by $name (${ip:-no IPv4 address})"
case "${HTTP_ACCEPT:-}" in
*text/html*)
    printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
    printf '<!DOCTYPE html>\n<html><head><title>multi-client</title></head>\n'
    printf '<body><h1>multi-client</h1>\n<p>%s</p>\n</body></html>\n' "$line" ;;
*)
    printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n%s\n' "$line" ;;
esac
"""


@dataclass(frozen=True)
class ImageFile:
    """A file an image adds to the common busybox root filesystem."""

    path: str                  # relative to /, e.g. "client/cgi-bin/index.cgi"
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class LabImage:
    """An image to build: repository path under docker.io, tag, CMD, optional entrypoint and
    files of its own."""

    repository: str            # e.g. "library/busybox"
    tag: str
    cmd: list[str]
    entrypoint: list[str] | None = None
    files: tuple[ImageFile, ...] = ()

    def reference(self, registry: str = "docker.io") -> str:
        return f"{registry}/{self.repository}:{self.tag}"


# The course app (examples/complex/): its shell scripts are the files of cluster/course_app/,
# under /course in every course image. The images differ only by CMD, so they share one root
# filesystem tar: one layer, pushed once (the registry has the blob for the next ones).
COURSE_APP_DIR = Path(__file__).with_name("course_app")


def course_files(root: Path = COURSE_APP_DIR) -> tuple[ImageFile, ...]:
    """cluster/course_app/* as /course/*: scripts (``*.sh``, ``cgi-bin/*``) executable."""
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            executable = path.parent.name == "cgi-bin" or path.suffix == ".sh"
            files.append(ImageFile("course/" + path.relative_to(root).as_posix(), path.read_text(),
                                   0o755 if executable else 0o644))
    return tuple(files)


COURSE_FILES = course_files()
COURSE_IMAGES: tuple[LabImage, ...] = (
    # The key-value store: busybox httpd + one CGI script, a file per key under /data.
    LabImage("library/course-kv", "1.0", ["httpd", "-f", "-p", "8080", "-h", "/course/kv"], files=COURSE_FILES),
    # The API: notes for clients with the Secret's token, kept in the kv store.
    LabImage("library/course-api", "1.0", ["httpd", "-f", "-p", "8080", "-h", "/course/api"], files=COURSE_FILES),
    # The web client: an HTML page over the API, behind a NodePort.
    LabImage("library/course-web", "1.0", ["httpd", "-f", "-p", "3000", "-h", "/course/web"], files=COURSE_FILES),
    LabImage("library/course-worker", "1.0", ["sh", "/course/worker.sh"], files=COURSE_FILES),
    LabImage("library/course-agent", "1.0", ["sh", "/course/agent.sh"], files=COURSE_FILES),
    LabImage("library/course-migrate", "1.0", ["sh", "/course/migrate.sh"], files=COURSE_FILES),
)

LAB_IMAGES: tuple[LabImage, ...] = (
    # HTTP on 8080 forever: the Deployment workload of the demo (readiness/liveness target).
    LabImage("library/multi-worker", "1.0", ["httpd", "-f", "-p", "8080", "-h", "/www"]),
    # The next release of the same workload: a rolling update's target.
    LabImage("library/multi-worker", "2.0", ["httpd", "-f", "-p", "8080", "-h", "/www"]),
    # The seed's client: HTTP on 3000, a page naming the Pod that served it (behind a NodePort).
    LabImage("library/multi-client", "1.0", ["httpd", "-f", "-p", "3000", "-h", "/client"],
             files=(ImageFile("client/cgi-bin/index.cgi", CLIENT_CGI, 0o755),)),
    # A shell image for one-off pods; `command`/`args` override CMD like Docker Hub's busybox.
    LabImage("library/busybox", "1.36", ["sh"]),
    # Exits 1 at once, for restartCount / CrashLoopBackOff.
    LabImage("library/crashloop", "1.0", ["sh", "-c", "echo crashing; exit 1"]),
    *COURSE_IMAGES,
)


def find_busybox() -> str:
    for candidate in BUSYBOX_CANDIDATES:
        if os.path.exists(candidate):
            try:
                out = subprocess.run([candidate, "--list"], capture_output=True, text=True,
                                     timeout=10)
            except OSError:
                continue
            if out.returncode == 0 and "httpd" in out.stdout.split():
                return candidate
    raise RuntimeError("a static busybox with httpd is needed: install busybox-static "
                       "(scripts/bootstrap.sh does)")


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = 0
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mode = 0o777
    info.mtime = 0
    tar.addfile(info)


def busybox_rootfs_tar(busybox: str | None = None, files: tuple[ImageFile, ...] = ()) -> bytes:
    """A deterministic (mtime 0) root filesystem tar: busybox, one symlink per applet, /www,
    and ``files`` (their parent directories created)."""
    busybox = busybox or find_busybox()
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "root",
                "var", "run", "www"]
        for extra in files:  # the parents of the image's own files
            parts = extra.path.split("/")[:-1]
            dirs += ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
        for d in dict.fromkeys(dirs):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        _add_dir(tar, "var/tmp", 0o1777)
        with open(busybox, "rb") as f:
            _add_file(tar, "bin/busybox", f.read(), 0o755)
        seen = {"bin/busybox"}
        for path in applets:  # e.g. "bin/sh", "usr/sbin/httpd"
            if path in seen or "/" not in path:
                continue
            seen.add(path)
            _add_symlink(tar, path, "/bin/busybox")  # absolute: resolved inside the container
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                     b"nobody:x:65534:65534:nobody:/:/bin/false\n")
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        _add_file(tar, "www/index.html", INDEX_HTML.encode())
        for extra in files:
            _add_file(tar, extra.path, extra.content.encode(), extra.mode)
    return buf.getvalue()


class ImageBuilder:
    """A throwaway Podman (own vfs storage and configs) that imports and pushes images."""

    def __init__(self, work_dir: str | os.PathLike | None = None) -> None:
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="pykube-imagebuild-")).resolve()
        self.config = PodmanConfig(self.work_dir, storage_driver="vfs")

    def __enter__(self) -> "ImageBuilder":
        self.config.write()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def podman(self, *args: str, stdin: bytes | None = None) -> str:
        env = dict(os.environ)
        env.update(self.config.env())
        result = subprocess.run(["podman", *args], input=stdin, capture_output=True, env=env,
                                timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode(errors="replace")

    def import_image(self, rootfs: bytes, reference: str, cmd: list[str],
                     entrypoint: list[str] | None = None) -> str:
        changes = [f"CMD {json.dumps(cmd)}",
                   "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "WORKDIR /"]
        if entrypoint is not None:
            changes.append(f"ENTRYPOINT {json.dumps(entrypoint)}")
        args = ["import", "--quiet"]
        for change in changes:
            args += ["--change", change]
        return self.podman(*args, "-", reference, stdin=rootfs).strip()

    def push(self, reference: str) -> None:
        self.podman("push", "--quiet", "--tls-verify=false", reference)


def build_and_push_lab_images(registry, images: tuple[LabImage, ...] = LAB_IMAGES) -> list[str]:
    """Build the lab images and push them to ``registry`` (a :class:`LocalRegistry` or an
    ``127.0.0.1:PORT`` string) from the root namespace; return their docker.io references."""
    address = registry if isinstance(registry, str) else registry.address
    host = address.rsplit(":", 1)[0]
    if not (host.startswith("127.") or host in ("localhost", "[::1]")):
        raise ValueError(f"the lab pushes only to a loopback registry, got {address}")
    busybox = find_busybox()
    rootfs: dict[tuple[ImageFile, ...], bytes] = {}  # one tar per set of files
    refs = []
    with ImageBuilder() as builder:
        for image in images:
            if image.files not in rootfs:
                rootfs[image.files] = busybox_rootfs_tar(busybox, image.files)
            local_ref = image.reference(address)
            builder.import_image(rootfs[image.files], local_ref, image.cmd, image.entrypoint)
            builder.push(local_ref)
            refs.append(image.reference("docker.io"))
    return refs
