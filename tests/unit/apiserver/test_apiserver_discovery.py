"""Version and Discovery: what ``pykubectl version`` and ``api-resources`` ask the server."""

from __future__ import annotations

import importlib.metadata

from apimachinery.kinds import KINDS
from apimachinery.version import KUBERNETES_VERSION
from protos import api_pb2


def test_version_is_the_kubernetes_release_served_with_the_installed_package(stub) -> None:
    info = stub.Version(api_pb2.VersionRequest())
    version = importlib.metadata.version("pykube")
    assert info.git_version == f"v{KUBERNETES_VERSION}+pykube-{version}"
    assert (info.major, info.minor) == tuple(KUBERNETES_VERSION.split(".")[:2])
    assert int(info.minor) >= 29  # the real kubectl and clients compare it
    assert info.platform.count("/") == 1 and info.python_version


def test_discovery_lists_every_served_kind(stub) -> None:
    resources = {r.kind: r for r in stub.Discovery(api_pb2.DiscoveryRequest()).resources}
    assert set(resources) == {k.kind for k in KINDS}
    deployments = resources["Deployment"]
    assert (deployments.name, list(deployments.short_names), deployments.api_version, deployments.namespaced) == \
        ("deployments", ["deploy"], "apps/v1", True)
    assert not resources["Node"].namespaced
    assert "watch" in deployments.verbs and "patch" not in deployments.verbs
