"""persistentVolumeClaim volumes: the kubelet waits for a bound claim, then mounts its volume's path."""

from __future__ import annotations

import asyncio
import os

import pytest

from apimachinery.convert import from_dict
from kubelet.claims import ClaimNotReady, StaticClaimSource, check_bound, volume_path
from kubelet.pod_config import prepare


def pod():
    return from_dict({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "db", "namespace": "default", "uid": "u1"},
                      "spec": {"containers": [{"name": "c", "image": "x",
                                               "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                               "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})


def claim(phase="Pending", volume=""):
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": "data", "namespace": "default"},
                      "spec": {"volumeName": volume}, "status": {"phase": phase}})


def test_check_bound_messages():
    with pytest.raises(ClaimNotReady, match='persistentvolumeclaim "data" not found'):
        check_bound("default", "data", None)
    with pytest.raises(ClaimNotReady, match="error processing PVC default/data: PVC is not bound"):
        check_bound("default", "data", claim())
    assert check_bound("default", "data", claim("Bound", "pv-1")) == "pv-1"


def test_volume_path_of_host_path_and_local():
    pv = from_dict({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "p"},
                    "spec": {"hostPath": {"path": "/s/x", "type": "DirectoryOrCreate"}}})
    assert volume_path(pv) == ("/s/x", True)
    pv = from_dict({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "p"},
                    "spec": {"local": {"path": "/mnt/disk"}}})
    assert volume_path(pv) == ("/mnt/disk", False)


def test_prepare_waits_for_the_claim_then_uses_its_path(tmp_path):
    source = StaticClaimSource()
    config = asyncio.run(prepare(pod(), None, str(tmp_path), claims=source))
    assert config.volume_error is not None and 'persistentvolumeclaim "data" not found' in str(config.volume_error)
    target = tmp_path / "pv"
    os.makedirs(target)
    source.paths[("default", "data")] = str(target)
    config = asyncio.run(prepare(pod(), None, str(tmp_path / "root"), claims=source))
    assert config.volume_error is None and config.volume_paths == {"d": str(target)}
