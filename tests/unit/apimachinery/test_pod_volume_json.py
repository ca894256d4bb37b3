"""Pod volumes, volumeMounts, envFrom and valueFrom decode from and encode to Kubernetes' JSON names."""

from apimachinery.convert import from_dict, to_dict

SPEC = {
    "containers": [{
        "name": "c", "image": "busybox",
        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": True}}},
                {"name": "B", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "C", "valueFrom": {"resourceFieldRef": {"containerName": "c", "resource": "limits.cpu",
                                                                  "divisor": "1m"}}},
                {"name": "D", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "envFrom": [{"prefix": "X_", "secretRef": {"name": "s", "optional": False}},
                    {"configMapRef": {"name": "cm"}}],
        "volumeMounts": [{"name": "v", "mountPath": "/etc/x", "subPath": "a", "readOnly": True}]}],
    "volumes": [
        {"name": "v", "configMap": {"name": "cm", "items": [{"key": "a", "path": "b", "mode": 256}],
                                    "defaultMode": 420, "optional": True}},
        {"name": "s", "secret": {"secretName": "s", "defaultMode": 256}},
        {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}},
                                                {"path": "m", "resourceFieldRef": {"containerName": "c",
                                                                                   "resource": "limits.memory"}}]}},
        {"name": "p", "projected": {"sources": [{"configMap": {"name": "cm"}}, {"secret": {"name": "s"}},
                                                {"downwardAPI": {"items": [{"path": "x",
                                                                            "fieldRef": {"fieldPath": "metadata.uid"}}]}}],
                                    "defaultMode": 420}},
        {"name": "e", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "h", "hostPath": {"path": "/var/log", "type": "DirectoryOrCreate"}},
        {"name": "c", "persistentVolumeClaim": {"claimName": "claim", "readOnly": True}},
    ],
}


def test_round_trip_keeps_kubernetes_names():
    pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": SPEC})
    assert to_dict(pod)["spec"] == SPEC
    assert pod.spec.volumes[2].HasField("downward_api") and pod.spec.volumes[0].config_map.default_mode == 0o644
