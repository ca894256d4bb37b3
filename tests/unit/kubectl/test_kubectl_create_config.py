"""pykubectl create configmap / secret generic: kubectl's generators (kubectl/verbs/create_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubectl_cluster_fake import ClusterFake
from kubectl_testlib import Harness, run_verb

from kubectl.errors import CliError


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


def test_create_configmap_from_literals_and_files(cluster: ClusterFake, tmp_path: Path) -> None:
    (tmp_path / "app.properties").write_text("color=blue\n")
    (tmp_path / "logo.bin").write_bytes(b"\xff\x00")
    h = Harness(cluster)
    assert run_verb(h, "create", "configmap", "app", "--from-literal=mode=fast=yes",
                    f"--from-file={tmp_path / 'app.properties'}", f"--from-file=logo={tmp_path / 'logo.bin'}") == 0
    assert h.stdout == "configmap/app created\n"
    cm = cluster.get("ConfigMap", "app")
    assert dict(cm.data) == {"mode": "fast=yes", "app.properties": "color=blue\n"}
    assert dict(cm.binary_data) == {"logo": b"\xff\x00"}


def test_create_configmap_from_a_directory(cluster: ClusterFake, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_text(name * 2)
    assert run_verb(Harness(cluster), "create", "cm", "dir", f"--from-file={tmp_path}") == 0
    assert dict(cluster.get("ConfigMap", "dir").data) == {"a": "aa", "b": "bb"}


def test_create_secret_generic(cluster: ClusterFake) -> None:
    h = Harness(cluster)
    assert run_verb(h, "create", "secret", "generic", "db", "--from-literal=password=s3cr3t",
                    "--type=example.com/db") == 0
    assert h.stdout == "secret/db created\n"
    secret = cluster.get("Secret", "db")
    assert dict(secret.data) == {"password": b"s3cr3t"} and secret.type == "example.com/db"


def test_duplicate_keys_and_bad_literals_are_kubectls_errors(cluster: ClusterFake) -> None:
    with pytest.raises(CliError, match='cannot add key "a", another key by that name already exists in Data '
                                       'for Secret "db"'):
        run_verb(Harness(cluster), "create", "secret", "generic", "db", "--from-literal=a=1", "--from-literal=a=2")
    with pytest.raises(CliError, match="invalid literal source nokey, expected key=value"):
        run_verb(Harness(cluster), "create", "configmap", "c", "--from-literal=nokey")
    assert cluster.requests("Create") == []
