"""``pykube image load``: your own image into the cluster's registry, like ``kind load docker-image``.

Every node pulls ``docker.io/...`` from the cluster's registry (its registries.conf says so), so
an image built on the host (``podman build -t foo:1 .``) runs in the cluster once it is in that
registry under its docker.io name. ``pykube image load foo:1`` pushes it there from the host's
Podman storage; ``pykube image load --archive foo.tar`` (or a positional ``.tar``) pushes what a
``podman save`` archive holds, through a throwaway Podman storage (the host's is not touched).

The name in the cluster is the one a Pod's ``image:`` means (see
:func:`apimachinery.images.normalize_image`): ``foo:1`` and ``localhost/foo:1`` (what ``podman
build -t foo:1`` names it) both become ``docker.io/library/foo:1``; ``me/app:2`` becomes
``docker.io/me/app:2``. Images of other registries (``quay.io/...``) are refused: the nodes take
only docker.io from the cluster's registry.

Nothing is pushed unless every image was found: a missing one is one line, non-zero exit.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from apimachinery.images import normalize_image
from cluster.images import ImageBuilder
from cluster.state_dir import ClusterError

PUSH_TIMEOUT = 600.0


@dataclass(frozen=True)
class Loaded:
    source: str       # as the host (or the archive) names it
    image_id: str
    target: str       # docker.io/... : what a Pod names
    pushed_to: str    # 127.0.0.1:PORT/...: where it went


def cluster_name(ref: str) -> str:
    """The docker.io reference a Pod uses for an image the host calls ``ref``."""
    full = normalize_image(ref)
    host, _, path = full.partition("/")
    if host == "localhost":  # what `podman build -t foo:1` names a local image
        full = normalize_image(path)
        host, _, path = full.partition("/")
    if host != "docker.io" or "@" in path:
        raise ClusterError(f'cannot load "{ref}": only docker.io names by tag go into the cluster registry '
                           f"(tag it e.g. docker.io/library/<name>:<tag> first)")
    return full


def registry_reference(docker_io_name: str, registry: str) -> str:
    return registry + "/" + docker_io_name.partition("/")[2]


def _podman(args: list[str], timeout: float = PUSH_TIMEOUT) -> subprocess.CompletedProcess:
    """The host's own podman (its default storage: where the user's images are)."""
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)


def host_image_id(ref: str) -> str | None:
    """The image id of ``ref`` in the host's own Podman storage, or None when it is not there."""
    result = _podman(["image", "inspect", "--format", "{{.Id}}", ref], timeout=60)
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def load_from_host(refs: list[str], registry: str) -> list[Loaded]:
    """Push each of ``refs`` from the host's Podman storage to ``registry`` (127.0.0.1:PORT)."""
    found = []
    for ref in refs:  # check them all before pushing any
        target = cluster_name(ref)
        image_id = host_image_id(ref)
        if image_id is None:
            raise ClusterError(f'image "{ref}" not found in the host\'s Podman storage '
                               f"(podman images lists what is there)")
        found.append(Loaded(ref, image_id, target, registry_reference(target, registry)))
    for item in found:
        result = _podman(["push", "--quiet", "--tls-verify=false", item.image_id, item.pushed_to])
        if result.returncode != 0:
            raise ClusterError(f'pushing "{item.source}" to the cluster registry failed: '
                               f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")
    return found


LOADED_LINE = re.compile(r"^Loaded image(?:\(s\))?: *(.+)$")


def load_from_archive(archive: Path, registry: str) -> list[Loaded]:
    """Push every image of a ``podman save`` (docker-archive or oci-archive) tar to ``registry``."""
    if not archive.is_file():
        raise ClusterError(f"archive {archive} not found")
    loaded: list[Loaded] = []
    with ImageBuilder() as builder:
        try:
            output = builder.podman("load", "--input", str(archive))
        except RuntimeError as err:
            raise ClusterError(f"{archive} is not an image archive podman can load: {err}") from None
        names = [n.strip() for line in output.splitlines() if (m := LOADED_LINE.match(line.strip()))
                 for n in m[1].split(",") if n.strip()]
        if not names:
            raise ClusterError(f"{archive} holds no named image (save it with a name: podman save -o "
                               f"{archive.name} NAME:TAG)")
        targets = [(name, cluster_name(name)) for name in names]
        for name, target in targets:
            image_id = builder.podman("image", "inspect", "--format", "{{.Id}}", name).strip()
            pushed_to = registry_reference(target, registry)
            builder.podman("push", "--quiet", "--tls-verify=false", image_id, pushed_to)
            loaded.append(Loaded(name, image_id, target, pushed_to))
    return loaded
