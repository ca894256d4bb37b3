"""pykube's version, as Kubernetes' version.Info reports it (``kubectl version``).

One source: the installed package's version (pyproject.toml), so the apiserver and
pykubectl of one install say the same thing.
"""

from __future__ import annotations

import importlib.metadata
import platform

from protos import api_pb2

PACKAGE = "pykube"


def version_info() -> api_pb2.VersionInfo:
    """``v0.1.0`` split as Kubernetes does (major "0", minor "1"), with the platform and Python."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # running from a tree that was never installed
        version = "0.0.0"
    major, minor, *_ = (version.split(".") + ["0", "0"])[:3]
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return api_pb2.VersionInfo(major=major, minor=minor, git_version=f"v{version}",
                               platform=f"{platform.system().lower()}/{machine}",
                               python_version=platform.python_version())
