"""pykube's version, as Kubernetes' version.Info reports it (``kubectl version``).

One source: the installed package's version (pyproject.toml), so the apiserver and
pykubectl of one install say the same thing. The version is reported as the Kubernetes
release whose API pykube serves, with pykube's own version as build metadata
(``v1.31.0+pykube-0.1.0``, major "1", minor "31"): the real kubectl and client libraries
compare the server's minor version (kubectl warns beyond one minor of skew, and some
features are only used against servers >= 1.29), so it has to read as a Kubernetes version.
"""

from __future__ import annotations

import importlib.metadata
import platform

from protos import api_pb2

PACKAGE = "pykube"
# The Kubernetes release whose API pykube serves.
KUBERNETES_VERSION = "1.31.0"


def version_info() -> api_pb2.VersionInfo:
    """``v1.31.0+pykube-0.1.0`` split as Kubernetes does (major "1", minor "31"), with the platform
    and Python."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # running from a tree that was never installed
        version = "0.0.0"
    major, minor, *_ = KUBERNETES_VERSION.split(".")
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return api_pb2.VersionInfo(major=major, minor=minor, git_version=f"v{KUBERNETES_VERSION}+{PACKAGE}-{version}",
                               platform=f"{platform.system().lower()}/{machine}",
                               python_version=platform.python_version())
