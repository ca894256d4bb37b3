"""kubelet.atomic_writer and kubelet.volumes: the Pod's volumes on the node."""

import os
import socket
import threading

import pytest

from apimachinery.convert import from_dict
from kubelet import atomic_writer, volumes
from kubelet.atomic_writer import FileProjection, PayloadError
from kubelet.envvars import lookup_from
from kubelet.volumes import VolumeError, container_mounts, payload, set_up, tear_down

OBJECTS = {("ConfigMap", "cfg"): {"a.conf": b"A", "b.conf": b"B"},
           ("Secret", "creds"): {"user": b"admin", "pass": b"s3cret"}}
LOOKUP = lookup_from(OBJECTS)


def make_pod(volumes_, mounts=(), resources=None):
    container = {"name": "c", "image": "busybox", "volumeMounts": list(mounts)}
    if resources:
        container["resources"] = resources
    return from_dict({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "p", "namespace": "default", "uid": "uid-1",
                                   "labels": {"app": "web"}},
                      "spec": {"containers": [container], "volumes": list(volumes_)}})


# ----------------------------------------------------------------------------- atomic writer

def test_first_write_layout(tmp_path):
    target = str(tmp_path / "v")
    assert atomic_writer.write(target, {"a": FileProjection(b"1"), "dir/b": FileProjection(b"2", 0o600)})
    names = sorted(os.listdir(target))
    stamped = atomic_writer.current_dir(target)
    assert stamped.startswith("..") and stamped in names and "..data" in names
    assert os.readlink(os.path.join(target, "a")) == "..data/a"
    assert os.readlink(os.path.join(target, "dir")) == "..data/dir"
    assert atomic_writer.read(target) == {"a": b"1", "dir/b": b"2"}
    assert os.stat(os.path.join(target, "dir/b")).st_mode & 0o777 == 0o600


def test_update_swaps_and_keeps_one_old_generation(tmp_path):
    target = str(tmp_path / "v")
    atomic_writer.write(target, {"a": FileProjection(b"1"), "gone": FileProjection(b"x")})
    old = atomic_writer.current_dir(target)
    assert atomic_writer.write(target, {"a": FileProjection(b"2"), "new": FileProjection(b"n")})
    new = atomic_writer.current_dir(target)
    assert new != old and os.path.isdir(os.path.join(target, old))  # until the next write
    assert atomic_writer.read(target) == {"a": b"2", "new": b"n"}
    assert atomic_writer.write(target, {"a": FileProjection(b"3")})
    assert not os.path.exists(os.path.join(target, old))
    assert not os.path.lexists(os.path.join(target, "gone"))
    assert not os.path.lexists(os.path.join(target, "..data_tmp"))


def test_same_payload_writes_nothing(tmp_path):
    target = str(tmp_path / "v")
    atomic_writer.write(target, {"a": FileProjection(b"1")})
    before = atomic_writer.current_dir(target)
    assert not atomic_writer.write(target, {"a": FileProjection(b"1")})
    assert atomic_writer.current_dir(target) == before
    assert atomic_writer.write(target, {"a": FileProjection(b"1", 0o400)})  # a mode change is a change


def test_readers_never_see_a_half_written_payload(tmp_path):
    """Two files always change together: a reader through ..data sees one generation."""
    target = str(tmp_path / "v")
    atomic_writer.write(target, {"x": FileProjection(b"0" * 4096), "y": FileProjection(b"0" * 4096)})
    stop = threading.Event()
    seen, torn = set(), []

    def reader():
        while not stop.is_set():
            try:
                data_dir = os.path.join(target, os.readlink(os.path.join(target, "..data")))
                with open(os.path.join(data_dir, "x"), "rb") as fx, open(os.path.join(data_dir, "y"), "rb") as fy:
                    x, y = fx.read(), fy.read()
            except FileNotFoundError:
                continue  # the old generation was removed after the swap: the reader retries
            if x != y or len(set(x)) != 1 or len(x) != 4096:
                torn.append((x[:4], y[:4]))
            seen.add(x[:1])

    t = threading.Thread(target=reader)
    t.start()
    for i in range(1, 60):
        c = str(i % 10).encode() * 4096
        atomic_writer.write(target, {"x": FileProjection(c), "y": FileProjection(c)})
    stop.set()
    t.join()
    assert not torn
    assert atomic_writer.read(target)["x"][:1] == b"9"  # 59 % 10


def test_a_reader_that_resolved_the_old_directory_still_finds_its_file(tmp_path):
    # The race of a reader in a container: it resolved a -> ..data/a -> ..<old>/a just before
    # the swap, and opens the file just after. The old generation is kept until the next write.
    target = str(tmp_path / "v")
    atomic_writer.write(target, {"a": FileProjection(b"0")})
    resolved = os.path.realpath(os.path.join(target, "a"))
    atomic_writer.write(target, {"a": FileProjection(b"1")})
    with open(resolved, "rb") as f:
        assert f.read() == b"0"
    with open(os.path.join(target, "a"), "rb") as f:
        assert f.read() == b"1"
    atomic_writer.write(target, {"a": FileProjection(b"2")})
    assert not os.path.exists(resolved)  # two generations back: gone
    generations = [n for n in os.listdir(target) if n.startswith("..") and n not in ("..data",)]
    assert len(generations) == 2


def test_readers_see_whole_contents_during_updates(tmp_path):
    target = str(tmp_path / "v")
    payloads = [str(i).encode() * 1000 for i in range(50)]
    atomic_writer.write(target, {"a": FileProjection(payloads[0])})
    stop = threading.Event()
    seen = []

    def reader():
        while not stop.is_set():
            with open(os.path.join(target, "a"), "rb") as f:
                seen.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    for data in payloads[1:]:
        atomic_writer.write(target, {"a": FileProjection(data)})
    stop.set()
    t.join()
    assert seen and all(data in payloads for data in seen)  # never empty, never half-written


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../../b", "..hidden", ""])
def test_bad_paths(tmp_path, path):
    with pytest.raises(PayloadError):
        atomic_writer.write(str(tmp_path / "v"), {path: FileProjection(b"")})


# ---------------------------------------------------------------------------------- payloads

def test_config_map_payload_all_keys_and_items():
    pod = make_pod([{"name": "v", "configMap": {"name": "cfg"}},
                    {"name": "w", "configMap": {"name": "cfg", "defaultMode": 0o400,
                                                "items": [{"key": "a.conf", "path": "sub/a"},
                                                          {"key": "b.conf", "path": "b", "mode": 0o600}]}}])
    assert payload(pod, pod.spec.volumes[0], LOOKUP) == {"a.conf": FileProjection(b"A", 0o644),
                                                         "b.conf": FileProjection(b"B", 0o644)}
    assert payload(pod, pod.spec.volumes[1], LOOKUP) == {"sub/a": FileProjection(b"A", 0o400),
                                                         "b": FileProjection(b"B", 0o600)}


def test_missing_objects_and_keys():
    pod = make_pod([{"name": "v", "configMap": {"name": "nope"}},
                    {"name": "s", "secret": {"secretName": "nope"}},
                    {"name": "k", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}},
                    {"name": "o", "secret": {"secretName": "nope", "optional": True}}])
    with pytest.raises(VolumeError) as err:
        payload(pod, pod.spec.volumes[0], LOOKUP)
    assert str(err.value) == 'MountVolume.SetUp failed for volume "v" : configmap "nope" not found'
    with pytest.raises(VolumeError, match='secret "nope" not found'):
        payload(pod, pod.spec.volumes[1], LOOKUP)
    with pytest.raises(VolumeError, match="configmap references non-existent config key: zz"):
        payload(pod, pod.spec.volumes[2], LOOKUP)
    assert payload(pod, pod.spec.volumes[3], LOOKUP) == {}


def test_downward_api_and_projected():
    pod = make_pod([{"name": "d", "downwardAPI": {"items": [
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                             "divisor": "1Mi"}}]}},
                    {"name": "p", "projected": {"defaultMode": 0o440, "sources": [
                        {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
                        {"secret": {"name": "creds"}},
                        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}],
                   resources={"limits": {"memory": "32Mi"}})
    assert payload(pod, pod.spec.volumes[0], LOOKUP) == {
        "name": FileProjection(b"p"), "labels": FileProjection(b'app="web"'), "mem": FileProjection(b"32")}
    assert payload(pod, pod.spec.volumes[1], LOOKUP) == {
        "a": FileProjection(b"A", 0o440), "user": FileProjection(b"admin", 0o440),
        "pass": FileProjection(b"s3cret", 0o440), "ns": FileProjection(b"default", 0o440)}


def test_references():
    pod = make_pod([{"name": "v", "configMap": {"name": "cfg"}}, {"name": "s", "secret": {"secretName": "creds"}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "other"}}]}}])
    assert volumes.references(pod) == {("ConfigMap", "cfg"), ("Secret", "creds"), ("Secret", "other")}


# ----------------------------------------------------------------------- set up and mounts

def test_set_up_layout_and_mounts(tmp_path):
    root = str(tmp_path / "kubelet")
    pod = make_pod([{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "cache", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": str(tmp_path / "h"), "type": "DirectoryOrCreate"}}],
                   mounts=[{"name": "cfg", "mountPath": "/etc/cfg"},
                           {"name": "cfg", "mountPath": "/etc/a.conf", "subPath": "a.conf"},
                           {"name": "cache", "mountPath": "/cache"},
                           {"name": "cache", "mountPath": "/logs", "subPath": "logs"},
                           {"name": "host", "mountPath": "/h", "readOnly": True}])
    paths = set_up(root, pod, LOOKUP)
    cfg = os.path.join(root, "pods", "uid-1", "volumes", "kubernetes.io~configmap", "cfg")
    cache = os.path.join(root, "pods", "uid-1", "volumes", "kubernetes.io~empty-dir", "cache")
    assert paths == {"cfg": cfg, "cache": cache, "host": str(tmp_path / "h")}
    assert atomic_writer.read(cfg) == {"a.conf": b"A", "b.conf": b"B"}
    assert os.stat(cache).st_mode & 0o777 == 0o777
    mounts = container_mounts(pod, pod.spec.containers[0], paths)
    rcache = os.path.realpath(cache)
    assert [(m.host_path, m.container_path, m.read_only) for m in mounts] == [
        (os.path.realpath(cfg), "/etc/cfg", True),
        (os.path.realpath(os.path.join(cfg, "a.conf")), "/etc/a.conf", True),
        (rcache, "/cache", False),
        (os.path.join(rcache, "logs"), "/logs", False),
        (os.path.realpath(tmp_path / "h"), "/h", True)]
    assert os.path.isdir(os.path.join(cache, "logs"))  # subPath created
    assert "..data" in mounts[1].host_path or atomic_writer.current_dir(cfg) in mounts[1].host_path
    OBJECTS_2 = {("ConfigMap", "cfg"): {"a.conf": b"A2"}}
    set_up(root, pod, lookup_from(OBJECTS_2))  # a changed ConfigMap reaches the volume
    assert atomic_writer.read(cfg) == {"a.conf": b"A2"}
    tear_down(root, "uid-1")
    assert not os.path.exists(os.path.join(root, "pods", "uid-1"))
    assert os.path.isdir(tmp_path / "h")  # hostPaths stay


def test_sub_path_cannot_escape(tmp_path):
    pod = make_pod([{"name": "cache", "emptyDir": {}}], mounts=[{"name": "cache", "mountPath": "/x", "subPath": "l"}])
    paths = set_up(str(tmp_path), pod, LOOKUP)
    os.symlink("/etc", os.path.join(paths["cache"], "l"))
    with pytest.raises(VolumeError, match="outside the volume"):
        container_mounts(pod, pod.spec.containers[0], paths)


def test_memory_empty_dir_is_on_dev_shm(tmp_path):
    pod = make_pod([{"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}])
    paths = set_up(str(tmp_path), pod, LOOKUP)
    real = os.path.realpath(paths["m"])
    assert real.startswith(volumes.SHM_ROOT) and _fs_type(real) == "tmpfs"
    tear_down(str(tmp_path), "uid-1")
    assert not os.path.exists(real) and not os.path.exists(paths["m"])


@pytest.mark.parametrize("kind,make,message", [
    ("Directory", None, "is not a directory"),
    ("File", "dir", "is not a file"),
    ("Socket", "file", "is not a socket file"),
    ("CharDevice", "file", "is not a character device"),
    ("BlockDevice", "file", "is not a block device"),
])
def test_host_path_type_checks(tmp_path, kind, make, message):
    path = tmp_path / "x"
    if make == "dir":
        path.mkdir()
    elif make == "file":
        path.write_text("")
    pod = make_pod([{"name": "h", "hostPath": {"path": str(path), "type": kind}}])
    with pytest.raises(VolumeError) as err:
        set_up(str(tmp_path / "root"), pod, LOOKUP)
    assert str(err.value) == f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: {path} {message}'


def test_host_path_creates_and_accepts(tmp_path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    pod = make_pod([{"name": "f", "hostPath": {"path": str(tmp_path / "f"), "type": "FileOrCreate"}},
                    {"name": "s", "hostPath": {"path": str(tmp_path / "s"), "type": "Socket"}},
                    {"name": "n", "hostPath": {"path": "/dev/null", "type": "CharDevice"}}])
    set_up(str(tmp_path / "root"), pod, LOOKUP)
    assert (tmp_path / "f").is_file()
    sock.close()


def test_unbound_claim(tmp_path):
    pod = make_pod([{"name": "data", "persistentVolumeClaim": {"claimName": "c1"}}],
                   mounts=[{"name": "data", "mountPath": "/data"}])
    with pytest.raises(VolumeError, match='persistentvolumeclaim "c1" not found'):
        set_up(str(tmp_path), pod, LOOKUP)
    (tmp_path / "pv").mkdir()
    paths = set_up(str(tmp_path), pod, LOOKUP, claim_paths=lambda ns, name: str(tmp_path / "pv"))
    assert container_mounts(pod, pod.spec.containers[0], paths)[0].host_path == str((tmp_path / "pv").resolve())


def test_missing_sub_path_of_a_config_map_is_an_error(tmp_path):
    pod = make_pod([{"name": "cfg", "configMap": {"name": "cfg"}}],
                   mounts=[{"name": "cfg", "mountPath": "/x", "subPath": "nope.conf"}])
    paths = set_up(str(tmp_path), pod, LOOKUP)
    with pytest.raises(VolumeError, match="nope.conf does not exist"):
        container_mounts(pod, pod.spec.containers[0], paths)
    assert not os.path.exists(os.path.join(paths["cfg"], "nope.conf"))


def _fs_type(path: str) -> str:
    """The filesystem type of the mount holding path (the longest mount point above it)."""
    best, kind = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            point, fs = line.split()[1], line.split()[2]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best, kind = point, fs
    return kind


def test_secret_volume_is_in_memory_and_removed_at_tear_down(tmp_path):
    """A directory on /dev/shm (a tmpfs), the files behind the AtomicWriter's names; the mount
    binds that directory; tear_down removes it."""
    root = tmp_path / "root"
    pod = make_pod([{"name": "s", "secret": {"secretName": "creds"}}], mounts=[{"name": "s", "mountPath": "/etc/s"}])
    paths = set_up(str(root), pod, LOOKUP)
    real = os.path.realpath(paths["s"])
    assert os.path.islink(paths["s"]) and real == os.path.join(volumes.SHM_ROOT, "uid-1", "s")
    assert _fs_type(real) == "tmpfs"
    assert atomic_writer.read(paths["s"]) == {"user": b"admin", "pass": b"s3cret"}
    assert not any(f.is_file() for f in root.rglob("*"))  # nothing of it on the disk
    set_up(str(root), pod, LOOKUP)  # a later sync: the same directory
    assert os.path.realpath(paths["s"]) == real
    mounts = container_mounts(pod, pod.spec.containers[0], paths)
    assert mounts[0].host_path == real and mounts[0].read_only
    tear_down(str(root), "uid-1")
    assert not os.path.exists(real) and not os.path.lexists(paths["s"])
