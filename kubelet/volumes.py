"""A Pod's volumes on the node: laid out under the kubelet's root directory, and the bind
mounts of each container.

Every volume is a directory ``<root>/pods/<uid>/volumes/<plugin>/<name>`` with Kubernetes'
plugin directory names (``kubernetes.io~configmap``, ``~secret``, ``~downward-api``,
``~projected``, ``~empty-dir``); a hostPath volume is the host's path itself, checked against
its type. ConfigMap, Secret, downwardAPI and projected volumes are written with the
AtomicWriter (kubelet.atomic_writer), again on every sync, so a changed ConfigMap reaches a
running container the way it does in Kubernetes (only through the user-visible names: a subPath
mount is bound to the file of the time and never changes, as in Kubernetes).

emptyDir with medium Memory is a tmpfs mounted on the volume directory (with sizeLimit as its
size) when the kubelet may mount (root); otherwise the directory lives under /dev/shm (a tmpfs
on Linux, without a size cap) and the volume path is a symlink to it. A Secret volume is always
such a /dev/shm directory, so Secrets never touch the node's disk (Kubernetes mounts a tmpfs
per Secret volume; see ``_secret_dir`` for why not a mount here); ``tear_down`` removes them.

The payload functions are pure (the ConfigMaps and Secrets come through the same Lookup as
kubelet.envvars); ``set_up`` and ``tear_down`` do the filesystem work; ``container_mounts``
gives the runtime's mounts.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Callable, Mapping

import structlog

from apimachinery.pod_references import config_references
from kubelet import atomic_writer
from kubelet.atomic_writer import FileProjection, PayloadError
from kubelet.envvars import CONFIG_MAP, SECRET, ConfigError, Lookup, format_map, pod_field, resource_value
from kubelet.runtime import Mount
from protos import core_pb2

log = structlog.get_logger("volumes")

DEFAULT_MODE = 0o644
SHM_ROOT = "/dev/shm/pykube-volumes"

PLUGINS = {
    "empty_dir": "kubernetes.io~empty-dir",
    "config_map": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downward_api": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
    "persistent_volume_claim": "kubernetes.io~pvc",
}
SOURCES = ("empty_dir", "host_path", "config_map", "secret", "downward_api", "projected",
           "persistent_volume_claim")
# Written by the kubelet, mounted read-only whatever the mount says (as in Kubernetes).
READ_ONLY_SOURCES = frozenset({"config_map", "secret", "downward_api", "projected"})

# (namespace, claim name) -> the host directory of the bound volume, or None (not bound yet).
ClaimPaths = Callable[[str, str], "str | None"]


class VolumeError(Exception):
    """A volume cannot be set up (yet): the Pod's containers wait (ContainerCreating), the
    kubelet records FailedMount and tries again on the next sync."""

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {message}')
        self.volume = volume
        self.detail = message


def source_of(volume: core_pb2.Volume) -> str:
    """The name of the volume's source field ("" when none is set)."""
    return next((s for s in SOURCES if volume.HasField(s)), "")


def pods_dir(root: str) -> str:
    return os.path.join(root, "pods")


def volume_dir(root: str, uid: str, volume: core_pb2.Volume) -> str:
    source = source_of(volume)
    if source == "host_path":
        return volume.host_path.path
    return os.path.join(pods_dir(root), uid, "volumes", PLUGINS.get(source, source), volume.name)


def references(pod: core_pb2.Pod) -> set[tuple[str, str]]:
    """Every (kind, name) of a ConfigMap or Secret the Pod's volumes project."""
    return config_references(core_pb2.PodSpec(volumes=pod.spec.volumes))


# ------------------------------------------------------------------------- payloads (pure)

def _mode(item_mode: int | None, default: int) -> int:
    return default if item_mode is None else item_mode & 0o7777


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _keys(volume: str, kind: str, namespace: str, name: str, items, optional: bool, default_mode: int,
          lookup: Lookup) -> dict[str, FileProjection]:
    data = lookup(kind, namespace, name)
    if data is None:
        if optional:
            return {}
        raise VolumeError(volume, f'{kind.lower()} "{name}" not found')
    if not items:
        return {key: FileProjection(_bytes(value), default_mode) for key, value in data.items()}
    out = {}
    for item in items:
        if item.key not in data:
            if optional:
                continue
            noun = "config" if kind == CONFIG_MAP else "secret"
            raise VolumeError(volume, f"{kind.lower()} references non-existent {noun} key: {item.key}")
        out[item.path] = FileProjection(_bytes(data[item.key]),
                                        _mode(item.mode if item.HasField("mode") else None, default_mode))
    return out


def _downward(volume: str, pod: core_pb2.Pod, items, default_mode: int, pod_ip: str, host_ip: str,
              node_allocatable: Mapping[str, str] | None) -> dict[str, FileProjection]:
    out = {}
    for item in items:
        try:
            if item.HasField("field_ref"):
                path = item.field_ref.field_path
                value = format_map(pod.metadata.labels) if path == "metadata.labels" else \
                    format_map(pod.metadata.annotations) if path == "metadata.annotations" else \
                    pod_field(pod, path, pod_ip, host_ip)
            elif item.HasField("resource_field_ref"):
                value = resource_value(pod, item.resource_field_ref, node_allocatable=node_allocatable)
            else:
                continue
        except ConfigError as err:
            raise VolumeError(volume, str(err)) from None
        out[item.path] = FileProjection(value.encode(), _mode(item.mode if item.HasField("mode") else None,
                                                              default_mode))
    return out


def payload(pod: core_pb2.Pod, volume: core_pb2.Volume, lookup: Lookup, *, pod_ip: str = "",
            host_ip: str = "", node_allocatable: Mapping[str, str] | None = None
            ) -> dict[str, FileProjection] | None:
    """The files of a configMap, secret, downwardAPI or projected volume (None for the other
    sources). Raises VolumeError with Kubernetes' words."""
    ns = pod.metadata.namespace
    name = volume.name

    def default(source) -> int:
        return source.default_mode if source.HasField("default_mode") else DEFAULT_MODE

    if volume.HasField("config_map"):
        cm = volume.config_map
        return _keys(name, CONFIG_MAP, ns, cm.name, cm.items, cm.optional, default(cm), lookup)
    if volume.HasField("secret"):
        s = volume.secret
        return _keys(name, SECRET, ns, s.secret_name, s.items, s.optional, default(s), lookup)
    if volume.HasField("downward_api"):
        d = volume.downward_api
        return _downward(name, pod, d.items, default(d), pod_ip, host_ip, node_allocatable)
    if volume.HasField("projected"):
        p = volume.projected
        mode = default(p)
        out: dict[str, FileProjection] = {}
        for source in p.sources:
            if source.HasField("config_map"):
                c = source.config_map
                out.update(_keys(name, CONFIG_MAP, ns, c.name, c.items, c.optional, mode, lookup))
            elif source.HasField("secret"):
                s2 = source.secret
                out.update(_keys(name, SECRET, ns, s2.name, s2.items, s2.optional, mode, lookup))
            elif source.HasField("downward_api"):
                out.update(_downward(name, pod, source.downward_api.items, mode, pod_ip, host_ip,
                                     node_allocatable))
        return out
    return None


# ---------------------------------------------------------------------------------- hostPath

_HOST_PATH_CHECKS = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "FileOrCreate": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


def check_host_path(volume: str, source: core_pb2.HostPathVolumeSource) -> None:
    """Kubernetes' hostPath type checker: create for the *OrCreate types, else check the kind."""
    path, kind = source.path, source.type
    if not kind:
        return
    if kind == "DirectoryOrCreate" and not os.path.lexists(path):
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.lexists(path):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        except OSError as err:
            raise VolumeError(volume, f"hostPath type check failed: {path} {err.strerror}") from None
    check, what = _HOST_PATH_CHECKS[kind]
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise VolumeError(volume, f"hostPath type check failed: {path} {what}") from None
    if not check(mode):
        raise VolumeError(volume, f"hostPath type check failed: {path} {what}")


# ---------------------------------------------------------------------------------- emptyDir

def _shm_dir(path: str, uid: str, name: str, mode: int) -> None:
    """path becomes a symlink to <SHM_ROOT>/<uid>/<name> (on /dev/shm, a tmpfs on Linux);
    a plain directory where there is no /dev/shm. Kept once made."""
    if os.path.islink(path):
        return
    os.makedirs(path, exist_ok=True)
    if not os.path.isdir("/dev/shm"):
        return  # not Linux: a plain directory
    shm = os.path.join(SHM_ROOT, uid, name)
    os.makedirs(shm, mode=mode, exist_ok=True)
    os.chmod(shm, mode)
    for leftover in os.listdir(path):  # a volume written on disk by an older kubelet
        full = os.path.join(path, leftover)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)
    os.rmdir(path)
    os.symlink(shm, path)


def _memory_dir(path: str, uid: str, name: str) -> None:
    """emptyDir medium Memory: a directory on /dev/shm, as a Secret volume (see _secret_dir for
    why not a tmpfs mount of its own). Kubernetes sizes its tmpfs to ``sizeLimit``; here the
    limit is the size of /dev/shm."""
    _shm_dir(path, uid, name, 0o777)


def _secret_dir(path: str, uid: str, name: str) -> None:
    """Secrets never touch the node's disk: Kubernetes mounts a tmpfs per Secret volume; here
    the volume is a directory on /dev/shm (the host's tmpfs). Not a mount of its own because
    the runtime may live in a mount namespace of its own (a pykube lab node's Podman runs under
    ``unshare --mount --propagation private``), where a tmpfs the kubelet mounts later is never
    seen (the container would get the empty directory under it), while /dev/shm is the same
    tmpfs in both."""
    _shm_dir(path, uid, name, 0o755)


def set_up(root: str, pod: core_pb2.Pod, lookup: Lookup, *, pod_ip: str = "", host_ip: str = "",
           node_allocatable: Mapping[str, str] | None = None,
           claim_paths: ClaimPaths | None = None) -> dict[str, str]:
    """Make every volume of the Pod ready; the host directory (or file) of each, by name.

    Raises VolumeError for the first volume that cannot be set up (yet)."""
    uid = pod.metadata.uid
    out: dict[str, str] = {}
    for volume in pod.spec.volumes:
        source = source_of(volume)
        path = volume_dir(root, uid, volume)
        if source == "host_path":
            check_host_path(volume.name, volume.host_path)
        elif source == "empty_dir":
            if volume.empty_dir.medium == "Memory":
                _memory_dir(path, uid, volume.name)
            else:
                os.makedirs(path, exist_ok=True)
                os.chmod(path, 0o777)  # Kubernetes: world-writable, any container user may write
        elif source == "persistent_volume_claim":
            claim = volume.persistent_volume_claim.claim_name
            bound = claim_paths(pod.metadata.namespace, claim) if claim_paths else None
            if bound is None:
                raise VolumeError(volume.name, f'persistentvolumeclaim "{claim}" not found')
            path = bound
        else:
            files = payload(pod, volume, lookup, pod_ip=pod_ip, host_ip=host_ip, node_allocatable=node_allocatable)
            if source == "secret":
                _secret_dir(path, uid, volume.name)
            try:
                atomic_writer.write(path, files or {})
            except PayloadError as err:
                raise VolumeError(volume.name, str(err)) from None
        out[volume.name] = path
    return out


def tear_down(root: str, uid: str) -> None:
    """Remove the Pod's volume directories and their /dev/shm directories (emptyDirs of medium
    Memory, Secret volumes); hostPaths and claimed volumes stay."""
    shutil.rmtree(os.path.join(SHM_ROOT, uid), ignore_errors=True)
    shutil.rmtree(os.path.join(pods_dir(root), uid), ignore_errors=True)


# ------------------------------------------------------------------------------ the mounts

def container_mounts(pod: core_pb2.Pod, container: core_pb2.Container, paths: Mapping[str, str]) -> list[Mount]:
    """The bind mounts of a container: host path -> mountPath, read-only for the volumes the
    kubelet writes and where the mount (or the claim) says so; a subPath binds that path of
    the volume (created as a directory when missing, and never outside the volume)."""
    by_name = {v.name: v for v in pod.spec.volumes}
    mounts = []
    for m in container.volume_mounts:
        volume = by_name.get(m.name)
        if volume is None or m.name not in paths:
            raise VolumeError(m.name, f"volume {m.name} is not set up")
        source = source_of(volume)
        host = os.path.realpath(paths[m.name])
        if m.sub_path:
            base = host
            host = os.path.realpath(os.path.join(base, m.sub_path))
            if host != base and not host.startswith(base.rstrip("/") + "/"):
                raise VolumeError(m.name, f"subpath {m.sub_path!r} is outside the volume")
            if not os.path.lexists(host):
                if source in READ_ONLY_SOURCES:  # the kubelet's files: nothing to create there
                    raise VolumeError(m.name, f"failed to prepare subPath for volumeMount {m.name!r} of "
                                              f"container {container.name!r}: {m.sub_path} does not exist")
                os.makedirs(host, mode=0o755, exist_ok=True)
        read_only = m.read_only or source in READ_ONLY_SOURCES or (
            source == "persistent_volume_claim" and volume.persistent_volume_claim.read_only)
        mounts.append(Mount(host_path=host, container_path=m.mount_path, read_only=read_only))
    return mounts
