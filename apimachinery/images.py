"""Image references as Kubernetes reads them: what a Pod's ``image:`` means.

Shared by the kubelet (which pulls by the fully qualified name) and ``pykube image load``
(which pushes an image into the cluster's registry under the name a Pod will ask for).
"""

from __future__ import annotations

import re


def normalize_image(ref: str) -> str:
    """The fully qualified reference a Pod's ``image:`` means, as containerd and CRI-O read it.

    Kubernetes inherits Docker's rule: ``nginx`` is ``docker.io/library/nginx:latest``,
    ``me/app:1`` is ``docker.io/me/app:1``; a first component with a dot or a port, or
    ``localhost``, is a registry host. Runtimes resolve names this way themselves instead of
    trusting a node's short-name search list (Podman may refuse or ask which registry), so
    every node means the same image by the same words. Image ids pass through unchanged.
    """
    ref = ref.strip()
    if re.fullmatch(r"(sha256:)?[0-9a-f]{64}", ref):
        return ref
    first, sep, rest = ref.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        host, path = "docker.io", ref
        if "/" not in path:
            path = "library/" + path
    else:
        host, path = first, rest
        if host == "index.docker.io":
            host = "docker.io"
        if host == "docker.io" and "/" not in path:
            path = "library/" + path
    name = path.split("@", 1)[0]
    if "@" not in path and ":" not in name.rsplit("/", 1)[-1]:
        path += ":latest"
    return f"{host}/{path}"
