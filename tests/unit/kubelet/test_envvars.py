"""kubelet.envvars: env, envFrom and valueFrom as the kubelet resolves them."""

import pytest

from apimachinery.convert import from_dict
from kubelet.envvars import (
    ConfigError, container_env, data_of, expand, lookup_from, pod_field, references,
)

OBJECTS = {
    ("ConfigMap", "cm"): {"a": b"1", "b": b"2"},
    ("Secret", "s"): {"password": b"hunter2"},
}


def pod(env=None, env_from=None, resources=None):
    container = {"name": "c", "image": "busybox", "env": env or [], "envFrom": env_from or []}
    if resources:
        container["resources"] = resources
    return from_dict({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "p", "namespace": "default", "uid": "u-1",
                                   "labels": {"app": "x", "tier": "web"}},
                      "spec": {"nodeName": "n1", "containers": [container]}})


def resolve(p, objects=OBJECTS, **kw):
    return container_env(p, p.spec.containers[0], lookup_from(objects), **kw)


def test_plain_values_expand_earlier_variables_only():
    p = pod(env=[{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-$(C)-$$(A)"},
                 {"name": "C", "value": "c"}])
    assert resolve(p) == {"A": "x", "B": "x-$(C)-$(A)", "C": "c"}


def test_expand_leaves_unknown_references():
    assert expand("$(X)$(Y)", {"X": "1"}) == "1$(Y)"


def test_config_map_and_secret_key_refs():
    p = pod(env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
                 {"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}])
    assert resolve(p) == {"A": "1", "P": "hunter2"}


@pytest.mark.parametrize("ref,message", [
    ({"configMapKeyRef": {"name": "nope", "key": "a"}}, 'configmap "nope" not found'),
    ({"secretKeyRef": {"name": "nope", "key": "a"}}, 'secret "nope" not found'),
    ({"configMapKeyRef": {"name": "cm", "key": "k"}}, "couldn't find key k in ConfigMap default/cm"),
    ({"secretKeyRef": {"name": "s", "key": "k"}}, "couldn't find key k in Secret default/s"),
])
def test_missing_references_are_config_errors(ref, message):
    with pytest.raises(ConfigError) as err:
        resolve(pod(env=[{"name": "A", "valueFrom": ref}]))
    assert str(err.value) == message
    assert err.value.reason == "CreateContainerConfigError"


def test_optional_missing_references_leave_the_variable_out():
    p = pod(env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "a", "optional": True}}},
                 {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}}],
            env_from=[{"configMapRef": {"name": "nope", "optional": True}}])
    assert resolve(p) == {}


def test_env_from_with_prefix_and_env_overrides():
    p = pod(env_from=[{"configMapRef": {"name": "cm"}}, {"prefix": "S_", "secretRef": {"name": "s"}}],
            env=[{"name": "b", "value": "override"}])
    assert resolve(p) == {"a": "1", "b": "override", "S_password": "hunter2"}


def test_env_from_missing_is_an_error():
    with pytest.raises(ConfigError, match='configmap "gone" not found'):
        resolve(pod(env_from=[{"configMapRef": {"name": "gone"}}]))


def test_field_refs():
    p = pod(env=[{"name": n, "valueFrom": {"fieldRef": {"fieldPath": f}}} for n, f in [
        ("NAME", "metadata.name"), ("NS", "metadata.namespace"), ("UID", "metadata.uid"),
        ("NODE", "spec.nodeName"), ("IP", "status.podIP"), ("HOST", "status.hostIP"),
        ("APP", "metadata.labels['app']")]])
    assert resolve(p, pod_ip="10.0.0.5", host_ip="192.168.1.2") == {
        "NAME": "p", "NS": "default", "UID": "u-1", "NODE": "n1", "IP": "10.0.0.5",
        "HOST": "192.168.1.2", "APP": "x"}


def test_labels_as_a_file():
    assert pod_field(pod(), "metadata.labels") == 'app="x"\ntier="web"'


def test_resource_field_refs_with_divisors():
    p = pod(resources={"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "100m"}},
            env=[{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                 {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                 {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                 {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                 {"name": "REQ_MEM", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}}])
    assert resolve(p) == {"CPU": "1", "CPU_M": "250", "MEM_MI": "64", "REQ": "100", "REQ_MEM": "0"}


def test_missing_limit_is_the_node_allocatable():
    p = pod(env=[{"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}])
    assert resolve(p, node_allocatable={"memory": "1Gi"}) == {"MEM": str(2**30)}


def test_references():
    p = pod(env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}}],
            env_from=[{"secretRef": {"name": "s"}}])
    assert references(p) == {("ConfigMap", "cm"), ("Secret", "s")}


def test_data_of_merges_fields():
    class CM:
        data = {"a": "x"}
        binary_data = {"b": b"\x00"}
    assert data_of(CM()) == {"a": b"x", "b": b"\x00"}
