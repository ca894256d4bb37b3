"""A container's environment: env, envFrom and valueFrom resolved the way the kubelet does.

Pure: the ConfigMaps and Secrets a container refers to come in through a :data:`Lookup`
(``lookup(kind, namespace, name)`` -> the object's data as bytes by key, or None when it does
not exist), so the pod worker fetches them (asynchronously, through the client) before it calls
:func:`container_env`, and tests pass dicts. When a reference cannot be resolved and is not
optional, :class:`ConfigError` carries Kubernetes' message; the pod worker shows it as the
container's waiting reason CreateContainerConfigError and tries again on the next sync.

Order as in kubelet_pods.go makeEnvironmentVariables: every envFrom source in turn (each key,
with the prefix; a later source overrides an earlier one), then env in order (overriding
envFrom), where ``$(VAR)`` in a value expands to a variable defined before it.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Callable, Mapping

from apimachinery.pod_references import CONFIG_MAP, SECRET, config_references
from apimachinery.quantity import QuantityError, parse_quantity
from protos import core_pb2

# (kind, namespace, name) -> data by key, or None when the object does not exist.
Lookup = Callable[[str, str, str], "Mapping[str, bytes] | None"]

CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"


class ConfigError(Exception):
    """The container's configuration cannot be built yet (a missing ConfigMap, Secret or key)."""

    reason = CREATE_CONTAINER_CONFIG_ERROR


def not_found(kind: str, name: str) -> ConfigError:
    # The apiserver's NotFound message, which the kubelet passes on as is.
    return ConfigError(f'{kind.lower()} "{name}" not found')


def missing_key(kind: str, namespace: str, name: str, key: str) -> ConfigError:
    return ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")


def references(pod: core_pb2.Pod) -> set[tuple[str, str]]:
    """Every (kind, name) of a ConfigMap or Secret the Pod's containers' env refers to."""
    env_only = core_pb2.PodSpec()
    env_only.containers.extend(pod.spec.containers)
    return config_references(env_only)


# --------------------------------------------------------------------------- $(VAR) expansion

_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand(value: str, defined: Mapping[str, str]) -> str:
    """Kubernetes' third_party/forked/golang/expansion: ``$(VAR)`` -> its value when defined
    (left as written otherwise), ``$$`` -> ``$``."""
    def one(m: re.Match) -> str:
        if m[0] == "$$":
            return "$"
        name = m[1]
        return defined[name] if name in defined else m[0]
    return _REFERENCE.sub(one, value)


# ------------------------------------------------------------------------------- field values

_SUBSCRIPTED = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


def pod_field(pod: core_pb2.Pod, path: str, pod_ip: str = "", host_ip: str = "") -> str:
    """The value of a fieldRef's fieldPath (the paths Kubernetes accepts for env and files)."""
    meta = pod.metadata
    m = _SUBSCRIPTED.match(path)
    if m:
        return dict(getattr(meta, m[1])).get(m[2], "")
    simple = {
        "metadata.name": lambda: meta.name,
        "metadata.namespace": lambda: meta.namespace,
        "metadata.uid": lambda: meta.uid,
        "metadata.labels": lambda: format_map(meta.labels),
        "metadata.annotations": lambda: format_map(meta.annotations),
        "spec.nodeName": lambda: pod.spec.node_name,
        "spec.serviceAccountName": lambda: getattr(pod.spec, "service_account_name", ""),
        "status.hostIP": lambda: host_ip or pod.status.host_ip,
        "status.hostIPs": lambda: host_ip or pod.status.host_ip,
        "status.podIP": lambda: pod_ip or pod.status.pod_ip,
        "status.podIPs": lambda: pod_ip or ",".join(p.ip for p in pod.status.pod_ips) or pod.status.pod_ip,
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldPath: {path}")
    return simple[path]()


def format_map(values: Mapping[str, str]) -> str:
    """Labels or annotations as the downward API writes them: key="value" lines, sorted."""
    return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))


def resource_value(pod: core_pb2.Pod, selector: core_pb2.ResourceFieldSelector, container_name: str = "",
                   node_allocatable: Mapping[str, str] | None = None) -> str:
    """A resourceFieldRef's value: the container's limit or request over the divisor, rounded
    up (resource.ExtractContainerResourceValue). A missing limit is the node's allocatable."""
    name = selector.container_name or container_name
    container = next((c for c in pod.spec.containers if c.name == name), None)
    if container is None:
        raise ConfigError(f"container {name} not found")
    kind, _, resource = selector.resource.partition(".")
    if kind not in ("limits", "requests") or resource not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported container resource : {selector.resource}")
    values = container.resources.limits if kind == "limits" else container.resources.requests
    text = values.get(resource)
    if not text and kind == "limits":
        text = (node_allocatable or {}).get(resource)
    try:
        amount = parse_quantity(text) if text else Decimal(0)
        divisor = parse_quantity(selector.divisor or "1")
    except QuantityError as err:
        raise ConfigError(str(err)) from None
    if divisor <= 0:
        raise ConfigError(f"invalid divisor {selector.divisor}")
    if resource == "cpu":
        # Kubernetes works in millicores: ceil(milli(value) / milli(divisor)).
        millis = math.ceil(amount * 1000)
        return str(math.ceil(Decimal(millis) / (divisor * 1000)))
    return str(math.ceil(amount / divisor))


# ------------------------------------------------------------------------------- resolution

def _source(lookup: Lookup, kind: str, namespace: str, name: str, optional: bool) -> Mapping[str, bytes] | None:
    data = lookup(kind, namespace, name)
    if data is None and not optional:
        raise not_found(kind, name)
    return data


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")


def container_env(pod: core_pb2.Pod, container: core_pb2.Container, lookup: Lookup, *,
                  pod_ip: str = "", host_ip: str = "",
                  node_allocatable: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's environment, in definition order (dicts keep it).

    Raises ConfigError (reason CreateContainerConfigError) for a missing ConfigMap, Secret or
    key that is not optional."""
    namespace = pod.metadata.namespace
    env: dict[str, str] = {}
    for source in container.env_from:
        if source.HasField("config_map_ref"):
            ref, kind = source.config_map_ref, CONFIG_MAP
        elif source.HasField("secret_ref"):
            ref, kind = source.secret_ref, SECRET
        else:
            continue
        data = _source(lookup, kind, namespace, ref.name, ref.optional)
        for key, raw in (data or {}).items():
            name = source.prefix + key
            if name and "=" not in name:  # Kubernetes skips (and reports) names it cannot set
                env[name] = _text(raw)
    for var in container.env:
        if not var.HasField("value_from"):
            env[var.name] = expand(var.value, env)
            continue
        value = _value_from(pod, container, var.value_from, lookup, pod_ip, host_ip, node_allocatable)
        if value is not None:
            env[var.name] = value
    return env


def _value_from(pod: core_pb2.Pod, container: core_pb2.Container, source: core_pb2.EnvVarSource,
                lookup: Lookup, pod_ip: str, host_ip: str, node_allocatable: Mapping[str, str] | None) -> str | None:
    """The value, or None for an optional reference that is absent (the variable is not set)."""
    namespace = pod.metadata.namespace
    if source.HasField("field_ref"):
        return pod_field(pod, source.field_ref.field_path, pod_ip, host_ip)
    if source.HasField("resource_field_ref"):
        return resource_value(pod, source.resource_field_ref, container.name, node_allocatable)
    for field, kind in (("config_map_key_ref", CONFIG_MAP), ("secret_key_ref", SECRET)):
        if source.HasField(field):
            ref = getattr(source, field)
            data = _source(lookup, kind, namespace, ref.name, ref.optional)
            if data is None:
                return None
            if ref.key not in data:
                if ref.optional:
                    return None
                raise missing_key(kind, namespace, ref.name, ref.key)
            return _text(data[ref.key])
    return ""


def lookup_from(objects: Mapping[tuple[str, str], "Mapping[str, bytes] | None"], namespace: str = "") -> Lookup:
    """A Lookup over data fetched beforehand, by (kind, name) (one Pod: one namespace)."""
    def lookup(kind: str, ns: str, name: str) -> Mapping[str, bytes] | None:
        return objects.get((kind, name))
    return lookup


def data_of(obj: object) -> dict[str, bytes]:
    """A ConfigMap's or Secret's data as bytes by key: ConfigMap data (strings) and
    binaryData, Secret data (bytes) and stringData (taking precedence, as the apiserver
    merges it on write)."""
    out: dict[str, bytes] = {}
    for field in ("data", "binary_data", "string_data"):
        values = getattr(obj, field, None)
        if values is None:
            continue
        for key, value in dict(values).items():
            out[key] = value.encode() if isinstance(value, str) else bytes(value)
    return out
