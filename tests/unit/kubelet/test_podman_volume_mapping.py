"""Volumes in the Podman container spec: bind mounts, read-only, as podman-py sends them."""

from podman.domain.containers_create import CreateMixin

from kubelet.runtime import ContainerSpec, Mount
from kubelet.runtime.podman_mapping import create_kwargs


def spec(mounts):
    return ContainerSpec(pod_uid="u" * 8, pod_name="p", pod_namespace="default", name="c", attempt=0,
                         image="busybox", mounts=mounts)


def test_no_volumes_no_mounts():
    assert "mounts" not in create_kwargs("n1", None, "pod", spec([]))


def test_bind_mounts_read_only_where_asked():
    kwargs = create_kwargs("n1", None, "pod", spec([
        Mount("/var/lib/k/pods/u/volumes/kubernetes.io~configmap/cfg", "/etc/cfg", read_only=True),
        Mount("/var/lib/k/pods/u/volumes/kubernetes.io~empty-dir/cache", "/cache")]))
    assert kwargs["mounts"] == [
        {"type": "bind", "source": "/var/lib/k/pods/u/volumes/kubernetes.io~configmap/cfg",
         "target": "/etc/cfg", "propagation": "rprivate", "read_only": True},
        {"type": "bind", "source": "/var/lib/k/pods/u/volumes/kubernetes.io~empty-dir/cache",
         "target": "/cache", "propagation": "rprivate"}]


def test_podman_py_renders_the_options():
    kwargs = create_kwargs("n1", None, "pod", spec([Mount("/h", "/c", read_only=True)]))
    kwargs["image"] = "busybox"
    body = CreateMixin._render_payload(kwargs)
    assert body["mounts"] == [{"destination": "/c", "source": "/h", "type": "bind", "options": ["rprivate", "ro"]}]
