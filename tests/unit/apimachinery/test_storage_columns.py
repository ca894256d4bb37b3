"""kubectl's get columns for pv, pvc and sc (apimachinery/tables/columns.py)."""

from __future__ import annotations

import datetime

from apimachinery.tables.columns import row_cells, table_spec
from protos import core_pb2, storage_pb2

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def headers(kind: str, wide: bool = False) -> list[str]:
    spec = table_spec(kind)
    return [spec.columns[i].header for i in spec.shown(wide)]


def test_headers_are_kubectls() -> None:
    assert headers("PersistentVolume") == ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM",
                                           "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
    assert headers("PersistentVolumeClaim") == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES",
                                                "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert headers("StorageClass") == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                                       "ALLOWVOLUMEEXPANSION", "AGE"]
    assert headers("PersistentVolume", wide=True)[-1] == "VOLUMEMODE"


def test_rows() -> None:
    pv = core_pb2.PersistentVolume()
    pv.metadata.name = "pv1"
    pv.metadata.creation_timestamp.FromDatetime(NOW - datetime.timedelta(minutes=5))
    pv.spec.capacity["storage"] = "5Gi"
    pv.spec.access_modes.extend(["ReadWriteMany", "ReadWriteOnce"])
    pv.spec.persistent_volume_reclaim_policy = "Retain"
    pv.spec.claim_ref.namespace, pv.spec.claim_ref.name = "ns", "c"
    pv.status.phase = "Bound"
    assert row_cells(pv, NOW)[:9] == ["pv1", "5Gi", "RWO,RWX", "Retain", "Bound", "ns/c", "", "<unset>", ""]
    pvc = core_pb2.PersistentVolumeClaim()
    pvc.metadata.name = "c"
    pvc.status.phase = "Pending"
    pvc.status.capacity["storage"] = "5Gi"
    assert row_cells(pvc, NOW)[:7] == ["c", "Pending", "", "", "", "", "<unset>"]
    sc = storage_pb2.StorageClass(provisioner="p")
    sc.metadata.name = "fast"
    sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"] = "true"
    assert row_cells(sc, NOW)[:5] == ["fast (default)", "p", "Delete", "Immediate", "false"]
