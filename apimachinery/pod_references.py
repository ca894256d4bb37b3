"""The ConfigMaps and Secrets a Pod refers to (env valueFrom, envFrom, configMap/secret and
projected volumes): what its kubelet fetches, and what the Node authorizer lets that kubelet
read (Kubernetes' node authorizer graph: pod -> configmap/secret edges)."""

from __future__ import annotations

from protos import core_pb2

CONFIG_MAP = "ConfigMap"
SECRET = "Secret"


def config_references(spec: core_pb2.PodSpec) -> set[tuple[str, str]]:
    """Every (kind, name) of a ConfigMap or Secret the spec refers to (in the Pod's namespace)."""
    out: set[tuple[str, str]] = set()
    for container in spec.containers:
        for source in container.env_from:
            if source.HasField("config_map_ref"):
                out.add((CONFIG_MAP, source.config_map_ref.name))
            if source.HasField("secret_ref"):
                out.add((SECRET, source.secret_ref.name))
        for var in container.env:
            ref = var.value_from
            if ref.HasField("config_map_key_ref"):
                out.add((CONFIG_MAP, ref.config_map_key_ref.name))
            if ref.HasField("secret_key_ref"):
                out.add((SECRET, ref.secret_key_ref.name))
    for volume in spec.volumes:
        if volume.HasField("config_map"):
            out.add((CONFIG_MAP, volume.config_map.name))
        if volume.HasField("secret"):
            out.add((SECRET, volume.secret.secret_name))
        for source in volume.projected.sources:
            if source.HasField("config_map"):
                out.add((CONFIG_MAP, source.config_map.name))
            if source.HasField("secret"):
                out.add((SECRET, source.secret.name))
    return out
