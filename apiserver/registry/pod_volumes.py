"""A PodSpec's volumes, volumeMounts, env valueFrom and envFrom: defaults and the rules
Kubernetes' core validation applies (ValidateVolumes, validateVolumeMounts, validateEnv,
validateEnvFrom), with its field-error words. Used by pod.validate_pod_spec, so Pod templates
of the workload kinds get them too."""

from __future__ import annotations

import posixpath
import re

from apiserver.registry import validation as v
from protos import core_pb2

VOLUME_SOURCES = (
    ("empty_dir", "emptyDir"), ("host_path", "hostPath"), ("config_map", "configMap"), ("secret", "secret"),
    ("downward_api", "downwardAPI"), ("projected", "projected"),
    ("persistent_volume_claim", "persistentVolumeClaim"),
)
# Kubernetes prints its sets sorted.
HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                   "Socket")
STORAGE_MEDIA = ("", "HugePages", "Memory")
DEFAULT_MODE = 0o644
MODE_RULE = "must be a number between 0 and 0777 (octal), both inclusive"
# fieldRef paths: for env, and (the metadata ones) for downwardAPI volume files.
ENV_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                   "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
                   "status.hostIPs", "status.podIP", "status.podIPs")
VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                      "metadata.uid")
RESOURCES = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
             "requests.ephemeral-storage", "requests.memory")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+\Z")
CONFIG_KEY_RULE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                   "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def not_found(path: str, value: str) -> v.FieldError:
    return v.FieldError(path, "Not found", value)


# ---------------------------------------------------------------------------------- defaults

def default_volumes(spec: core_pb2.PodSpec) -> None:
    """defaultMode 420 (0644) on the kubelet-written sources, fieldRef apiVersion v1."""
    for volume in spec.volumes:
        for field in ("config_map", "secret", "downward_api", "projected"):
            if volume.HasField(field) and not getattr(volume, field).HasField("default_mode"):
                getattr(volume, field).default_mode = DEFAULT_MODE
        for item in volume.downward_api.items:
            if item.HasField("field_ref"):
                item.field_ref.api_version = item.field_ref.api_version or "v1"
        for source in volume.projected.sources:
            for item in source.downward_api.items:
                if item.HasField("field_ref"):
                    item.field_ref.api_version = item.field_ref.api_version or "v1"
    for container in spec.containers:
        for env in container.env:
            if env.value_from.HasField("field_ref"):
                env.value_from.field_ref.api_version = env.value_from.field_ref.api_version or "v1"


# ---------------------------------------------------------------------------------- paths

def local_descending_path(path: str, value: str) -> list[v.FieldError]:
    """validateLocalDescendingPath: relative, no '..' element."""
    errs = []
    if posixpath.isabs(value):
        errs.append(v.invalid(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        errs.append(v.invalid(path, value, "must not contain '..'"))
    return errs


def local_non_reserved_path(path: str, value: str) -> list[v.FieldError]:
    """validateLocalNonReservedPath: also not starting with '..' (the AtomicWriter's names)."""
    errs = local_descending_path(path, value)
    if value.startswith(".."):
        errs.append(v.invalid(path, value, "must not start with '..'"))
    return errs


def _mode(path: str, mode: int) -> list[v.FieldError]:
    return [] if 0 <= mode <= 0o777 else [v.invalid(path, mode, MODE_RULE)]


def _items(path: str, items) -> list[v.FieldError]:
    errs = []
    for i, item in enumerate(items):
        ipath = f"{path}[{i}]"
        if not item.key:
            errs.append(v.required(f"{ipath}.key"))
        elif not _CONFIG_KEY.match(item.key):
            errs.append(v.invalid(f"{ipath}.key", item.key, CONFIG_KEY_RULE))
        if not item.path:
            errs.append(v.required(f"{ipath}.path"))
        errs += local_non_reserved_path(f"{ipath}.path", item.path)
        if item.HasField("mode"):
            errs += _mode(f"{ipath}.mode", item.mode)
    return errs


def _field_ref(path: str, ref: core_pb2.EnvVarSource.ObjectFieldSelector, allowed: tuple[str, ...]) -> list[v.FieldError]:
    if not ref.field_path:
        return [v.required(f"{path}.fieldPath")]
    if ref.api_version and ref.api_version != "v1":
        return [v.unsupported(f"{path}.apiVersion", ref.api_version, ("v1",))]
    if _SUBSCRIPT.match(ref.field_path):
        return []
    if ref.field_path not in allowed:
        return [v.unsupported(f"{path}.fieldPath", ref.field_path, allowed)]
    return []


def _resource_ref(path: str, ref: core_pb2.ResourceFieldSelector, container_names: set[str],
                  in_volume: bool) -> list[v.FieldError]:
    errs = []
    if in_volume and not ref.container_name:
        errs.append(v.required(f"{path}.containerName"))
    elif ref.container_name and ref.container_name not in container_names:
        errs.append(v.invalid(f"{path}.containerName", ref.container_name, "must be the name of a container"))
    if not ref.resource:
        errs.append(v.required(f"{path}.resource"))
    elif ref.resource not in RESOURCES:
        errs.append(v.unsupported(f"{path}.resource", ref.resource, RESOURCES))
    if ref.divisor:
        errs += v.quantity(f"{path}.divisor", ref.divisor)
    return errs


def _downward_items(path: str, items, container_names: set[str]) -> list[v.FieldError]:
    errs = []
    for i, item in enumerate(items):
        ipath = f"{path}[{i}]"
        if not item.path:
            errs.append(v.required(f"{ipath}.path"))
        errs += local_non_reserved_path(f"{ipath}.path", item.path)
        if item.HasField("mode"):
            errs += _mode(f"{ipath}.mode", item.mode)
        if item.HasField("field_ref") and item.HasField("resource_field_ref"):
            errs.append(v.invalid(ipath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
        elif item.HasField("field_ref"):
            errs += _field_ref(f"{ipath}.fieldRef", item.field_ref, VOLUME_FIELD_PATHS)
        elif item.HasField("resource_field_ref"):
            errs += _resource_ref(f"{ipath}.resourceFieldRef", item.resource_field_ref, container_names, True)
        else:
            errs.append(v.required(ipath, "one of fieldRef and resourceFieldRef is required"))
    return errs


# ---------------------------------------------------------------------------------- volumes

def _source(vol: core_pb2.Volume, field: str, path: str, container_names: set[str]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if field == "host_path":
        hp = vol.host_path
        if not hp.path:
            errs.append(v.required(f"{path}.path"))
        elif ".." in hp.path.split("/"):
            errs.append(v.invalid(f"{path}.path", hp.path, "must not contain '..'"))
        if hp.type not in HOST_PATH_TYPES:
            errs.append(v.unsupported(f"{path}.type", hp.type, HOST_PATH_TYPES))
    elif field == "empty_dir":
        if vol.empty_dir.medium not in STORAGE_MEDIA and not vol.empty_dir.medium.startswith("HugePages-"):
            errs.append(v.unsupported(f"{path}.medium", vol.empty_dir.medium, STORAGE_MEDIA))
        if vol.empty_dir.size_limit:
            errs += v.quantity(f"{path}.sizeLimit", vol.empty_dir.size_limit)
    elif field == "config_map":
        cm = vol.config_map
        if not cm.name:
            errs.append(v.required(f"{path}.name"))
        errs += _items(f"{path}.items", cm.items)
        if cm.HasField("default_mode"):
            errs += _mode(f"{path}.defaultMode", cm.default_mode)
    elif field == "secret":
        s = vol.secret
        if not s.secret_name:
            errs.append(v.required(f"{path}.secretName"))
        errs += _items(f"{path}.items", s.items)
        if s.HasField("default_mode"):
            errs += _mode(f"{path}.defaultMode", s.default_mode)
    elif field == "downward_api":
        errs += _downward_items(f"{path}.items", vol.downward_api.items, container_names)
        if vol.downward_api.HasField("default_mode"):
            errs += _mode(f"{path}.defaultMode", vol.downward_api.default_mode)
    elif field == "projected":
        p = vol.projected
        if p.HasField("default_mode"):
            errs += _mode(f"{path}.defaultMode", p.default_mode)
        seen_paths: set[str] = set()
        for i, src in enumerate(p.sources):
            spath = f"{path}.sources[{i}]"
            kinds = [f for f in ("config_map", "secret", "downward_api") if src.HasField(f)]
            if not kinds:
                errs.append(v.required(spath, "must specify exactly 1 projection type"))
            elif len(kinds) > 1:
                errs.append(v.forbidden(spath, "may not specify more than 1 projection type"))
            if src.HasField("config_map"):
                if not src.config_map.name:
                    errs.append(v.required(f"{spath}.configMap.name"))
                errs += _items(f"{spath}.configMap.items", src.config_map.items)
                names = [item.path for item in src.config_map.items]
            elif src.HasField("secret"):
                if not src.secret.name:
                    errs.append(v.required(f"{spath}.secret.name"))
                errs += _items(f"{spath}.secret.items", src.secret.items)
                names = [item.path for item in src.secret.items]
            elif src.HasField("downward_api"):
                errs += _downward_items(f"{spath}.downwardAPI.items", src.downward_api.items, container_names)
                names = [item.path for item in src.downward_api.items]
            else:
                names = []
            for name in names:
                if name in seen_paths:
                    errs.append(v.invalid(path, name, "conflicting duplicate paths"))
                seen_paths.add(name)
    elif field == "persistent_volume_claim":
        if not vol.persistent_volume_claim.claim_name:
            errs.append(v.required(f"{path}.claimName"))
    return errs


def validate_volumes(spec: core_pb2.PodSpec, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    names: set[str] = set()
    container_names = {c.name for c in spec.containers}
    for i, vol in enumerate(spec.volumes):
        vpath = f"{path}[{i}]"
        if not vol.name:
            errs.append(v.required(f"{vpath}.name"))
        else:
            errs += v.dns1123_label(f"{vpath}.name", vol.name)
            if vol.name in names:
                errs.append(v.duplicate(f"{vpath}.name", vol.name))
            names.add(vol.name)
        present = [(f, j) for f, j in VOLUME_SOURCES if vol.HasField(f)]
        if not present:
            errs.append(v.required(vpath, "must specify a volume type"))
            continue
        for field, json_name in present[1:]:
            errs.append(v.forbidden(f"{vpath}.{json_name}", "may not specify more than 1 volume type"))
        for field, json_name in present[:1]:
            errs += _source(vol, field, f"{vpath}.{json_name}", container_names)
    return errs


# --------------------------------------------------------------------------- container side

def validate_volume_mounts(container: core_pb2.Container, path: str, volumes: set[str]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    mount_paths: set[str] = set()
    for i, m in enumerate(container.volume_mounts):
        mpath = f"{path}[{i}]"
        if not m.name:
            errs.append(v.required(f"{mpath}.name"))
        elif m.name not in volumes:
            errs.append(not_found(f"{mpath}.name", m.name))
        if not m.mount_path:
            errs.append(v.required(f"{mpath}.mountPath"))
        else:
            if not m.mount_path.startswith("/"):
                errs.append(v.invalid(f"{mpath}.mountPath", m.mount_path, "must be an absolute path"))
            if ":" in m.mount_path:
                errs.append(v.invalid(f"{mpath}.mountPath", m.mount_path, "must not contain ':'"))
            if m.mount_path in mount_paths:
                errs.append(v.invalid(f"{mpath}.mountPath", m.mount_path, "must be unique"))
            mount_paths.add(m.mount_path)
        if m.sub_path:
            errs += local_descending_path(f"{mpath}.subPath", m.sub_path)
    return errs


def validate_env_sources(container: core_pb2.Container, path: str, container_names: set[str]) -> list[v.FieldError]:
    """env[*].valueFrom and envFrom (env names are checked by the caller)."""
    errs: list[v.FieldError] = []
    for i, env in enumerate(container.env):
        if not env.HasField("value_from"):
            continue
        vpath = f"{path}.env[{i}].valueFrom"
        src = env.value_from
        set_fields = [f for f in ("field_ref", "resource_field_ref", "config_map_key_ref", "secret_key_ref")
                      if src.HasField(f)]
        if env.value:
            errs.append(v.invalid(vpath, "", "may not be specified when `value` is not empty"))
        if not set_fields:
            errs.append(v.invalid(vpath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                             "`configMapKeyRef` or `secretKeyRef`"))
            continue
        if len(set_fields) > 1:
            errs.append(v.invalid(vpath, "", "may not have more than one field specified at a time"))
            continue
        if src.HasField("field_ref"):
            errs += _field_ref(f"{vpath}.fieldRef", src.field_ref, ENV_FIELD_PATHS)
        elif src.HasField("resource_field_ref"):
            errs += _resource_ref(f"{vpath}.resourceFieldRef", src.resource_field_ref, container_names, False)
        else:
            field, json_name = (("config_map_key_ref", "configMapKeyRef") if src.HasField("config_map_key_ref")
                                else ("secret_key_ref", "secretKeyRef"))
            ref = getattr(src, field)
            if not ref.name:
                errs.append(v.required(f"{vpath}.{json_name}.name"))
            if not ref.key:
                errs.append(v.required(f"{vpath}.{json_name}.key"))
            elif not _CONFIG_KEY.match(ref.key):
                errs.append(v.invalid(f"{vpath}.{json_name}.key", ref.key, CONFIG_KEY_RULE))
    for i, source in enumerate(container.env_from):
        fpath = f"{path}.envFrom[{i}]"
        if source.prefix:
            errs += v.env_var_name(f"{fpath}.prefix", source.prefix)
        refs = [(f, j) for f, j in (("config_map_ref", "configMapRef"), ("secret_ref", "secretRef"))
                if source.HasField(f)]
        if not refs:
            errs.append(v.invalid(fpath, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(v.invalid(fpath, "", "may not have more than one field specified at a time"))
        else:
            field, json_name = refs[0]
            name = getattr(source, field).name
            if not name:
                errs.append(v.required(f"{fpath}.{json_name}.name"))
            else:
                errs += v.dns1123_subdomain(f"{fpath}.{json_name}.name", name)
    return errs
