"""ConfigMaps, Secrets and volumes of Pods run by a real pykubelet on real Podman, seen from
inside the containers (podman exec): env from configMapKeyRef/secretKeyRef/envFrom, a
configMap volume that follows the ConfigMap while the env does not, subPath and readOnly
mounts, a Secret volume on a tmpfs, an emptyDir that outlives a killed container, and CreateContainerConfigError with
Kubernetes' messages until the ConfigMap (and its key) appears.

One shared set-up (node lab, apiserver, kubelet) for the module. The kubelet's periodic
resync is 30 s: every change below is awaited well within it, so it is the kubelet's watch on
the ConfigMap that delivers it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import unwrap, wrap
from apiserver_process import ApiserverProcess
from node_env_fixtures import NodeLab, environment_problems
from protos import api_pb2
from test_kubelet_podman import NODE, KubeletProcess, container_id, get_pod, running, wait_for

BUSYBOX = "docker.io/library/busybox:1.36"
WITHIN_RESYNC = 10.0  # < the kubelet's 30 s resync


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    problems = environment_problems()
    assert not problems, "; ".join(problems)
    base = Path(tmp_path_factory.mktemp("kcfg", numbered=True))
    lab = NodeLab(base / "lab", node_names=(NODE,)).start()
    apiserver = ApiserverProcess(base / "data", base / "apiserver.log").start()
    kubelet = KubeletProcess(apiserver, lab, base / "kubelet.log",
                             extra_args=("--root-dir", str(base / "root"))).start()
    try:
        yield apiserver, lab.nodes[NODE]
        delete_all_pods(apiserver)  # the kubelet tears their volumes down (Secrets' /dev/shm dirs too)
    finally:
        kubelet.stop()
        apiserver.stop()
        lab.cleanup()


def delete_all_pods(apiserver: ApiserverProcess) -> None:
    stub = apiserver.stub()
    for pod in stub.List(api_pb2.ListRequest(kind="Pod", namespace="default"), timeout=10).items:
        pod = unwrap(pod)
        # Graceful (grace 1 s): the object goes once the kubelet has stopped it and torn its volumes down.
        stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name=pod.metadata.name), timeout=10)
    wait_for("every Pod gone", lambda: not stub.List(api_pb2.ListRequest(kind="Pod", namespace="default"),
                                                     timeout=10).items, timeout=30)


def apply(apiserver: ApiserverProcess, manifest: dict, update: bool = False):
    obj = from_dict(manifest)
    stub = apiserver.stub()
    if update:
        current = unwrap(stub.Get(api_pb2.GetRequest(kind=manifest["kind"], namespace="default",
                                                     name=manifest["metadata"]["name"]), timeout=10))
        obj.metadata.resource_version = current.metadata.resource_version
        return unwrap(stub.Update(api_pb2.UpdateRequest(object=wrap(obj)), timeout=10))
    return unwrap(stub.Create(api_pb2.CreateRequest(object=wrap(obj)), timeout=10))


def config_map(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": data}


def busybox_pod(name: str, container: dict, volumes: list[dict] = ()) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "volumes": list(volumes),
                     "containers": [{"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"], **container}]}}


def exec_in(node, apiserver, pod: str, *argv: str) -> subprocess.CompletedProcess:
    cid = container_id(get_pod(apiserver, pod).status.container_statuses[0])
    return node.remote("exec", cid, *argv, check=False)


def container_env(node, apiserver, pod: str) -> dict[str, str]:
    out = exec_in(node, apiserver, pod, "env").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_env_and_config_volumes_seen_in_the_container(node):
    apiserver, podman = node
    apply(apiserver, config_map("app", mode="fast", **{"app.conf": "x=1\n"}))
    apply(apiserver, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
                      "stringData": {"password": "s3cret", "user": "admin"}})
    apply(apiserver, busybox_pod("cfg", {
        "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
        "envFrom": [{"prefix": "DB_", "secretRef": {"name": "db"}}, {"configMapRef": {"name": "app"}}],
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"},
                         {"name": "cfg", "mountPath": "/etc/one.conf", "subPath": "app.conf"},
                         {"name": "creds", "mountPath": "/etc/creds"},
                         {"name": "scratch", "mountPath": "/scratch"},
                         {"name": "scratch", "mountPath": "/scratch-ro", "readOnly": True}]},
        volumes=[{"name": "cfg", "configMap": {"name": "app"}},
                 {"name": "creds", "secret": {"secretName": "db", "items": [{"key": "user", "path": "u"}]}},
                 {"name": "scratch", "emptyDir": {}}]))
    wait_for("cfg Running", running(apiserver, "cfg"), timeout=60)

    env = container_env(podman, apiserver, "cfg")
    assert (env["MODE"], env["PASSWORD"], env["DB_password"], env["DB_user"], env["mode"]) == \
        ("fast", "s3cret", "s3cret", "admin", "fast")
    files = exec_in(podman, apiserver, "cfg", "cat", "/etc/app/mode", "/etc/app/app.conf", "/etc/one.conf",
                    "/etc/creds/u")
    assert files.stdout == "fastx=1\nx=1\nadmin", files.stderr
    mounts = {line.split()[1]: line.split()[2] for line in
              exec_in(podman, apiserver, "cfg", "cat", "/proc/mounts").stdout.splitlines()}
    assert mounts["/etc/creds"] == "tmpfs"  # the Secret never touches the node's disk (as Kubernetes)
    wrote = exec_in(podman, apiserver, "cfg", "sh", "-c", "echo hi > /scratch/f && cat /scratch-ro/f")
    assert (wrote.returncode, wrote.stdout) == (0, "hi\n"), wrote.stderr
    refused = exec_in(podman, apiserver, "cfg", "sh", "-c", "echo no > /scratch-ro/g")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    refused = exec_in(podman, apiserver, "cfg", "sh", "-c", "echo no > /etc/app/mode")
    assert refused.returncode != 0

    apply(apiserver, config_map("app", mode="slow", **{"app.conf": "x=1\n"}), update=True)
    wait_for("the new value in the mounted file",
             lambda: exec_in(podman, apiserver, "cfg", "cat", "/etc/app/mode").stdout == "slow",
             timeout=WITHIN_RESYNC)
    assert container_env(podman, apiserver, "cfg")["MODE"] == "fast"  # env stays (as in Kubernetes)
    pod = get_pod(apiserver, "cfg")
    assert pod.status.container_statuses[0].restart_count == 0


def test_empty_dir_outlives_a_killed_container(node):
    apiserver, podman = node
    apply(apiserver, busybox_pod("scratch", {"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                                 volumes=[{"name": "data", "emptyDir": {}}]))
    pod = wait_for("scratch Running", running(apiserver, "scratch"), timeout=60)
    assert exec_in(podman, apiserver, "scratch", "sh", "-c", "echo kept > /data/f").returncode == 0
    podman.remote("kill", container_id(pod.status.container_statuses[0]))
    restarted = wait_for("scratch restarted", running(apiserver, "scratch", restart_count=1), timeout=30)
    assert container_id(restarted.status.container_statuses[0]) != container_id(pod.status.container_statuses[0])
    assert exec_in(podman, apiserver, "scratch", "cat", "/data/f").stdout == "kept\n"


def test_missing_config_map_or_key_is_create_container_config_error_until_it_appears(node):
    apiserver, _ = node
    apply(apiserver, busybox_pod("late", {"env": [{"name": "K", "valueFrom": {"configMapKeyRef": {
        "name": "late", "key": "k"}}}]}))

    def waiting():
        pod = get_pod(apiserver, "late")
        statuses = pod.status.container_statuses if pod is not None else []
        if statuses and statuses[0].state.HasField("waiting"):
            return statuses[0].state.waiting.reason, statuses[0].state.waiting.message
        return None

    def waiting_with(message: str):
        return lambda: waiting() == ("CreateContainerConfigError", message)

    wait_for("configmap not found", waiting_with('configmap "late" not found'), timeout=60)
    apply(apiserver, config_map("late", other="1"))
    wait_for("key not found", waiting_with("couldn't find key k in ConfigMap default/late"), timeout=WITHIN_RESYNC)
    apply(apiserver, config_map("late", other="1", k="v"), update=True)
    wait_for("late Running", running(apiserver, "late"), timeout=WITHIN_RESYNC)
