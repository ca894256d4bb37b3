"""pykubectl describe pod: Mounts, Environment Variables from, resourceFieldRef env, Volumes."""

from __future__ import annotations

import pytest
from kubectl_cluster_fake import ClusterFake, pod_of
from kubectl_testlib import Harness, run_verb

from apimachinery.convert import from_dict

pytestmark = pytest.mark.usefixtures("utc")


def test_describe_pod_volumes_and_mounts() -> None:
    cluster = ClusterFake()
    p = pod_of(None, "vols", node="")
    p.status.phase = "Pending"
    extra = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {
        "containers": [{"name": "c", "image": "x",
                        "resources": {"limits": {"memory": "64Mi"}},
                        "envFrom": [{"configMapRef": {"name": "app"}}, {"prefix": "DB_", "secretRef": {"name": "db"}}],
                        "env": [{"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                                    "divisor": "1Mi"}}},
                                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
                        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                                         {"name": "cfg", "mountPath": "/etc/app", "subPath": "conf", "readOnly": True}]}],
        "volumes": [{"name": "cfg", "configMap": {"name": "app"}},
                    {"name": "scratch", "emptyDir": {"medium": "Memory"}},
                    {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                    {"name": "creds", "secret": {"secretName": "db", "optional": True}},
                    {"name": "info", "downwardAPI": {"items": [{"path": "labels",
                                                                "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    {"name": "all", "projected": {"sources": [{"configMap": {"name": "app"}},
                                                              {"secret": {"name": "db", "optional": False}}]}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "claim-1"}}]}})
    p.spec.containers[0].MergeFrom(extra.spec.containers[0])
    p.spec.volumes.extend(extra.spec.volumes)
    cluster.add(p)
    h = Harness(cluster)
    assert run_verb(h, "describe", "pod", "vols") == 0
    text = h.stdout
    assert ("    Environment Variables from:\n"
            "      app  ConfigMap                 Optional: false\n"
            "      db   Secret with prefix 'DB_'  Optional: false\n") in text
    assert "      MEM:  64 (limits.memory)\n      CPU:  node allocatable (limits.cpu)\n" in text
    assert ("    Mounts:\n"
            "      /etc/app from cfg (ro,path=\"conf\")\n"
            "      /scratch from scratch (rw)\n") in text
    volumes = text[text.index("Volumes:"):text.index("QoS Class:")]
    assert volumes == """\
Volumes:
  cfg:
    Type:      ConfigMap (a volume populated by a ConfigMap)
    Name:      app
    Optional:  false
  scratch:
    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:     Memory
    SizeLimit:  <unset>
  host:
    Type:          HostPath (bare host directory volume)
    Path:          /var/log
    HostPathType:  Directory
  creds:
    Type:        Secret (a volume populated by a Secret)
    SecretName:  db
    Optional:    true
  info:
    Type:  DownwardAPI (a volume populated by information about the pod)
    Items:
      metadata.labels -> labels
  all:
    Type:                Projected (a volume that contains injected data from multiple sources)
    ConfigMapName:       app
    ConfigMapOptional:   <nil>
    SecretName:          db
    SecretOptionalName:  false
  data:
    Type:        PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)
    ClaimName:   claim-1
    ReadOnly:    false
"""
