"""describe pv, pvc and sc: kubectl's describers (the whole text is compared with the real
kubectl's in tests/integration/test_rest_api.py; here the parts with logic)."""

from __future__ import annotations

import pytest
from kubectl_cluster_fake import ClusterFake
from kubectl_testlib import Harness, meta, run_verb

from protos import core_pb2, storage_pb2

pytestmark = pytest.mark.usefixtures("utc")


def describe(cluster: ClusterFake, *args: str) -> str:
    h = Harness(cluster)
    assert run_verb(h, "describe", *args) == 0
    return h.stdout


def test_a_claim_shows_capacity_only_once_bound_and_the_pods_using_it() -> None:
    cluster = ClusterFake()
    claim = core_pb2.PersistentVolumeClaim(metadata=meta("data", "default"))
    claim.spec.access_modes.append("ReadWriteOnce")
    claim.spec.resources.requests["storage"] = "1Gi"
    claim.status.phase = "Pending"
    cluster.add(claim)
    for name in ("web", "api"):
        pod = core_pb2.Pod(metadata=meta(name, "default"))
        pod.spec.volumes.add(name="v").persistent_volume_claim.claim_name = "data"
        cluster.add(pod)
    out = describe(cluster, "pvc", "data")
    assert "\nCapacity:      \nAccess Modes:  \n" in out
    assert "\nUsed By:       api\n               web\n" in out

    claim.spec.volume_name = "pv1"
    claim.status.phase = "Bound"
    claim.status.capacity["storage"] = "5Gi"
    claim.status.access_modes.extend(["ReadOnlyMany", "ReadWriteOnce"])
    claim.metadata.name = "bound"
    cluster.add(claim)
    out = describe(cluster, "pvc", "bound")
    assert "\nCapacity:      5Gi\nAccess Modes:  RWO,ROX\n" in out and "Used By:       <none>" in out


def test_a_volume_with_node_affinity_and_a_default_class() -> None:
    cluster = ClusterFake()
    pv = core_pb2.PersistentVolume(metadata=meta("pv1"))
    pv.spec.capacity["storage"] = "5Gi"
    pv.spec.local.path = "/mnt/disk"
    term = pv.spec.node_affinity.required.node_selector_terms.add()
    term.match_expressions.add(key="kubernetes.io/hostname", operator="In", values=["n1"])
    term.match_expressions.add(key="disk", operator="Exists")
    cluster.add(pv)
    out = describe(cluster, "pv", "pv1")
    assert ("Node Affinity:     \n  Required Terms:  \n    Term 0:        kubernetes.io/hostname in [n1]\n"
            "                   disk exists\n") in out
    assert "Type:  LocalVolume (a persistent volume backed by local storage on a node)" in out

    sc = storage_pb2.StorageClass(metadata=meta("local-path"), provisioner="pykube.io/local-path")
    sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"] = "true"
    cluster.add(sc)
    out = describe(cluster, "sc", "local-path")
    assert "IsDefaultClass:        Yes" in out and "AllowVolumeExpansion:  <unset>" in out
