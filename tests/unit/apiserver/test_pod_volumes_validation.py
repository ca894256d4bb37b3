"""The Pod strategy on volumes, volumeMounts, valueFrom and envFrom: Kubernetes' rules and words."""

import pytest

from apimachinery.convert import from_dict, to_dict
from apiserver.registry.pod import PodStrategy


def errors(volumes=(), mounts=(), env=(), env_from=()):
    pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                     "spec": {"containers": [{"name": "c", "image": "busybox:1", "volumeMounts": list(mounts),
                                              "env": list(env), "envFrom": list(env_from)}],
                              "volumes": list(volumes)}})
    strategy = PodStrategy()
    strategy.default(pod)
    return [str(e) for e in strategy.validate(pod)]


def test_a_valid_pod():
    assert errors(
        volumes=[{"name": "cfg", "configMap": {"name": "app", "items": [{"key": "a.conf", "path": "conf/a"}]}},
                 {"name": "creds", "secret": {"secretName": "s"}},
                 {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                 {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                 {"name": "info", "downwardAPI": {"items": [
                     {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                     {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}}]}},
                 {"name": "all", "projected": {"sources": [{"configMap": {"name": "app"}}, {"secret": {"name": "s"}}]}},
                 {"name": "data", "persistentVolumeClaim": {"claimName": "claim"}}],
        mounts=[{"name": "cfg", "mountPath": "/etc/app"}, {"name": "cache", "mountPath": "/cache", "subPath": "x/y"}],
        env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}},
             {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
             {"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}],
        env_from=[{"prefix": "APP_", "configMapRef": {"name": "app"}}, {"secretRef": {"name": "s"}}]) == []


def test_defaults():
    pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "c", "image": "x:1", "env": [
                         {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
                              "volumes": [{"name": "v", "configMap": {"name": "a"}},
                                          {"name": "s", "secret": {"secretName": "a", "defaultMode": 256}}]}})
    PodStrategy().default(pod)
    spec = to_dict(pod)["spec"]
    assert spec["volumes"] == [{"name": "v", "configMap": {"name": "a", "defaultMode": 420}},
                               {"name": "s", "secret": {"secretName": "a", "defaultMode": 256}}]
    assert spec["containers"][0]["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "metadata.name"}


def test_volume_names_unique_labels_and_one_source():
    assert errors(volumes=[{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}},
                           {"name": "B_x", "emptyDir": {}}, {"name": "none"},
                           {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}]) == [
        'spec.volumes[1].name: Duplicate value: "a"',
        "spec.volumes[2].name: Invalid value: \"B_x\": a lowercase RFC 1123 label must consist of lower case "
        "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
        "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        "spec.volumes[3]: Required value: must specify a volume type",
        "spec.volumes[4].hostPath: Forbidden: may not specify more than 1 volume type"]


def test_host_path_type():
    assert errors(volumes=[{"name": "h", "hostPath": {"path": "/x", "type": "Dir"}}]) == [
        'spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", '
        '"CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"']
    assert errors(volumes=[{"name": "h", "hostPath": {}}]) == ["spec.volumes[0].hostPath.path: Required value"]


def test_sources_need_names_and_good_items():
    assert errors(volumes=[{"name": "c", "configMap": {"items": [{"key": "a", "path": "../x"}], "defaultMode": 1000}},
                           {"name": "s", "secret": {}},
                           {"name": "p", "persistentVolumeClaim": {}}]) == [
        "spec.volumes[0].configMap.name: Required value",
        "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
        "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not start with '..'",
        "spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), "
        "both inclusive",
        "spec.volumes[1].secret.secretName: Required value",
        "spec.volumes[2].persistentVolumeClaim.claimName: Required value"]


def test_mounts():
    assert errors(volumes=[{"name": "v", "emptyDir": {}}],
                  mounts=[{"name": "nope", "mountPath": "/a"}, {"name": "v", "mountPath": "rel"},
                          {"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/b", "subPath": "/abs"},
                          {"name": "v", "mountPath": "/c", "subPath": "a/../.."}, {"name": "v"}]) == [
        'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "rel": must be an absolute path',
        'spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/a": must be unique',
        'spec.containers[0].volumeMounts[3].subPath: Invalid value: "/abs": must be a relative path',
        "spec.containers[0].volumeMounts[4].subPath: Invalid value: \"a/../..\": must not contain '..'",
        "spec.containers[0].volumeMounts[5].mountPath: Required value"]


def test_env_value_from():
    assert errors(env=[{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                       {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
                       {"name": "C", "valueFrom": {"configMapKeyRef": {"key": "k"}}},
                       {"name": "D", "valueFrom": {"secretKeyRef": {"name": "s"}}},
                       {"name": "E", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
                       {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"},
                                                   "secretKeyRef": {"name": "s", "key": "k"}}}])[:6] == [
        "spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
        'spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.bogus": supported values: '
        '"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid", '
        '"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", '
        '"status.podIPs"',
        "spec.containers[0].env[2].valueFrom.configMapKeyRef.name: Required value",
        "spec.containers[0].env[3].valueFrom.secretKeyRef.key: Required value",
        'spec.containers[0].env[4].valueFrom.resourceFieldRef.resource: Unsupported value: "limits.gpu": supported '
        'values: "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", '
        '"requests.ephemeral-storage", "requests.memory"',
        "spec.containers[0].env[5].valueFrom: Invalid value: \"\": may not have more than one field specified at a time"]


def test_env_from():
    assert errors(env_from=[{"prefix": "1BAD", "configMapRef": {"name": "a"}}, {},
                            {"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]) == [
        'spec.containers[0].envFrom[0].prefix: Invalid value: "1BAD": a valid environment variable name must '
        "consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
        "spec.containers[0].envFrom[1]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
        "spec.containers[0].envFrom[2]: Invalid value: \"\": may not have more than one field specified at a time"]


@pytest.mark.parametrize("item,message", [
    ({"path": "x"}, "spec.volumes[0].downwardAPI.items[0]: Required value: one of fieldRef and resourceFieldRef is required"),
    ({"path": "x", "fieldRef": {"fieldPath": "spec.nodeName"}},
     'spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: "spec.nodeName": supported values: '
     '"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"'),
    ({"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}},
     "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: Required value"),
])
def test_downward_api_items(item, message):
    assert errors(volumes=[{"name": "d", "downwardAPI": {"items": [item]}}]) == [message]
