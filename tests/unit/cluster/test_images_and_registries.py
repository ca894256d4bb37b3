"""``pykube image load``'s naming, the nodes' registries.conf with and without an upstream cache,
the relay carrying both registries, and the one-line refusals of the new commands (no processes)."""

from __future__ import annotations

import pytest

from cluster import cli, local_cluster
from cluster.image_load import cluster_name, registry_reference
from cluster.podman_config import PodmanConfig
from cluster.relay import RelayProcess
from cluster.state_dir import ClusterError, ClusterSpec


@pytest.mark.parametrize("ref, name", [
    ("foo:1", "docker.io/library/foo:1"),
    ("localhost/foo:1", "docker.io/library/foo:1"),  # what `podman build -t foo:1` names it
    ("me/app", "docker.io/me/app:latest"),
    ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36"),
])
def test_an_image_goes_into_the_cluster_under_the_name_a_pod_uses(ref: str, name: str) -> None:
    assert cluster_name(ref) == name
    assert registry_reference(name, "127.0.0.1:5000") == "127.0.0.1:5000/" + name.removeprefix("docker.io/")


def test_other_registries_are_refused_in_one_line() -> None:
    with pytest.raises(ClusterError, match='cannot load "quay.io/x/y:1": only docker.io names'):
        cluster_name("quay.io/x/y:1")


def test_registries_conf_without_and_with_the_upstream_cache(tmp_path) -> None:
    plain = PodmanConfig(tmp_path, registry_mirror="127.0.0.1:5000").render_registries_conf()
    assert 'prefix = "docker.io"\nlocation = "127.0.0.1:5000"' in plain and "registry.mirror" not in plain
    cached = PodmanConfig(tmp_path, registry_mirror="127.0.0.1:5000",
                          registry_cache="127.0.0.1:5001").render_registries_conf()
    # docker.io: the lab registry first (a mirror is tried before the location), then the cache.
    assert ('prefix = "docker.io"\nlocation = "127.0.0.1:5001"\ninsecure = true\n'
            '[[registry.mirror]]\nlocation = "127.0.0.1:5000"\ninsecure = true') in cached


def test_one_relay_carries_the_registry_and_its_cache(tmp_path) -> None:
    relay = RelayProcess("/run/netns/x", "127.0.0.1:5000", "127.0.0.1:5000", tmp_path, also=["127.0.0.1:5001"])
    argv = relay.argv()
    assert argv[argv.index("--netns"):] == ["--netns", "/run/netns/x", "--listen", "127.0.0.1:5000", "--to",
                                            "127.0.0.1:5000", "--listen", "127.0.0.1:5001", "--to", "127.0.0.1:5001"]


def test_image_load_and_podman_without_a_cluster_are_one_line(tmp_path, capsys) -> None:
    assert cli.main(["image", "load", "foo:1", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (f"pykube image: the cluster's registry is not running "
                                               f"(no cluster up in {tmp_path.resolve()}?)")
    assert cli.main(["--state-dir", str(tmp_path), "podman", "n1", "ps"]) == 1
    assert capsys.readouterr().err.strip() == f"pykube podman: no cluster in {tmp_path.resolve()} (run pykube up)"


def test_podman_on_a_hollow_or_unknown_node_names_the_nodes(tmp_path, capsys) -> None:
    ClusterSpec(name="x", port=1234, nodes=["n1", "n2"], hollow_nodes=["hollow-1"]).save(tmp_path / "cluster.json")
    assert cli.main(["--state-dir", str(tmp_path), "podman", "hollow-1", "ps"]) == 1
    assert capsys.readouterr().err.strip() == ("pykube podman: no node hollow-1 with a Podman in this cluster (a "
                                               "hollow node runs no containers, so it has no Podman) (nodes: n1, n2)")


def test_a_registry_upstream_that_is_not_a_url_is_refused(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(local_cluster.os, "geteuid", lambda: 0)
    assert cli.main(["up", "--registry-upstream", "docker.io", "--state-dir", str(tmp_path / "s")]) == 1
    assert capsys.readouterr().err.strip() == ("pykube up: --registry-upstream must be a registry URL like "
                                               "https://registry-1.docker.io, not 'docker.io'")
    assert not (tmp_path / "s").exists()
