"""describe pod: a container's Mounts and envFrom, and the Pod's Volumes, in kubectl's words
(describe.go: describeContainerVolumes, describeContainerEnvFrom, describeVolumes)."""

from __future__ import annotations

import json
from typing import Sequence

from kubectl.describe_text import PrefixWriter
from kubectl.verbs.describe.common import LEVEL_0, LEVEL_1, LEVEL_2, LEVEL_3, go_bool
from protos import core_pb2


def _optional(message) -> str:
    """A Go *bool printed with %v."""
    return go_bool(message.optional) if message.HasField("optional") else "<nil>"


def container_mounts(container: core_pb2.Container, w: PrefixWriter) -> None:
    w.write(LEVEL_2, "Mounts:" + ("" if container.volume_mounts else "\t<none>") + "\n")
    for m in sorted(container.volume_mounts, key=lambda m: m.mount_path):
        flags = ["ro" if m.read_only else "rw"]
        if m.sub_path:
            flags.append(f"path={json.dumps(m.sub_path)}")
        w.write(LEVEL_3, f"{m.mount_path} from {m.name} ({','.join(flags)})\n")


def container_env_from(container: core_pb2.Container, w: PrefixWriter) -> None:
    if not container.env_from:
        return
    w.write(LEVEL_2, "Environment Variables from:\n")
    for source in container.env_from:
        if source.HasField("config_map_ref"):
            kind, ref = "ConfigMap", source.config_map_ref
        elif source.HasField("secret_ref"):
            kind, ref = "Secret", source.secret_ref
        else:
            continue
        optional = go_bool(ref.optional)
        if source.prefix:
            w.write(LEVEL_3, f"{ref.name}\t{kind} with prefix '{source.prefix}'\tOptional: {optional}\n")
        else:
            w.write(LEVEL_3, f"{ref.name}\t{kind}\tOptional: {optional}\n")


def pod_volumes(volumes: Sequence[core_pb2.Volume], w: PrefixWriter, space: str = "") -> None:
    if not volumes:
        w.write(LEVEL_0, f"{space}Volumes:\t<none>\n")
        return
    w.write(LEVEL_0, f"{space}Volumes:\n")
    for volume in volumes:
        w.write(LEVEL_1, f"{' ' if space else ''}{volume.name}:\n")
        _volume_source(volume, w)


def _volume_source(volume: core_pb2.Volume, w: PrefixWriter) -> None:
    if volume.HasField("host_path"):
        hp = volume.host_path
        w.write(LEVEL_2, "Type:\tHostPath (bare host directory volume)\n"
                         f"    Path:\t{hp.path}\n"
                         f"    HostPathType:\t{hp.type}\n")
    elif volume.HasField("empty_dir"):
        ed = volume.empty_dir
        w.write(LEVEL_2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
                         f"    Medium:\t{ed.medium}\n"
                         f"    SizeLimit:\t{ed.size_limit if ed.size_limit and ed.size_limit != '0' else '<unset>'}\n")
    elif volume.HasField("secret"):
        s = volume.secret
        w.write(LEVEL_2, "Type:\tSecret (a volume populated by a Secret)\n"
                         f"    SecretName:\t{s.secret_name}\n"
                         f"    Optional:\t{go_bool(s.optional)}\n")
    elif volume.HasField("config_map"):
        cm = volume.config_map
        w.write(LEVEL_2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"
                         f"    Name:\t{cm.name}\n"
                         f"    Optional:\t{go_bool(cm.optional)}\n")
    elif volume.HasField("downward_api"):
        w.write(LEVEL_2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n")
        _downward_items(volume.downward_api.items, w)
    elif volume.HasField("projected"):
        w.write(LEVEL_2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
        for source in volume.projected.sources:
            if source.HasField("secret"):
                w.write(LEVEL_2, f"SecretName:\t{source.secret.name}\n"
                                 f"    SecretOptionalName:\t{_optional(source.secret)}\n")
            elif source.HasField("downward_api"):
                w.write(LEVEL_2, "DownwardAPI:\ttrue\n")
            elif source.HasField("config_map"):
                w.write(LEVEL_2, f"ConfigMapName:\t{source.config_map.name}\n"
                                 f"    ConfigMapOptional:\t{_optional(source.config_map)}\n")
    elif volume.HasField("persistent_volume_claim"):
        claim = volume.persistent_volume_claim
        w.write(LEVEL_2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n"
                         f"    ClaimName:\t{claim.claim_name}\n"
                         f"    ReadOnly:\t{go_bool(claim.read_only)}\n")
    else:
        w.write(LEVEL_1, "<unknown>\n")


def _downward_items(items, w: PrefixWriter) -> None:
    for item in items:
        if item.HasField("field_ref"):
            w.write(LEVEL_3, f"{item.field_ref.field_path} -> {item.path}\n")
        if item.HasField("resource_field_ref"):
            w.write(LEVEL_3, f"{item.resource_field_ref.resource} -> {item.path}\n")
