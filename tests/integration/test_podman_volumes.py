"""A Pod's volumes in a real Podman container: a configMap volume read-only (its files through
the AtomicWriter's symlinks, a subPath file), an emptyDir writable, env from a ConfigMap."""

from __future__ import annotations

import os

from apimachinery.convert import from_dict
from kubelet import volumes
from kubelet.envvars import container_env, lookup_from
from kubelet.runtime import EXITED
from kubelet.runtime.podman import PodmanRuntime
from podman_service import PodmanService, run, service  # noqa: F401 (fixtures)
from test_podman_runtime import container_spec, read_logs, sandbox_spec, wait_for_state


def test_config_map_and_empty_dir_volumes_and_env(service: PodmanService, tmp_path) -> None:
    objects = {("ConfigMap", "app"): {"app.conf": b"x=1\n", "mode": b"fast"}}
    pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vols", "namespace": "default",
                                                                     "uid": "0000-vols"},
                     "spec": {"containers": [{"name": "main", "image": "x", "volumeMounts": [
                         {"name": "cfg", "mountPath": "/etc/app"},
                         {"name": "cfg", "mountPath": "/etc/one.conf", "subPath": "app.conf"},
                         {"name": "scratch", "mountPath": "/scratch"}],
                         "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}}]}],
                              "volumes": [{"name": "cfg", "configMap": {"name": "app"}},
                                          {"name": "scratch", "emptyDir": {}}]}})
    root = str(tmp_path)
    os.chmod(root, 0o755)
    lookup = lookup_from(objects)
    paths = volumes.set_up(root, pod, lookup)
    mounts = volumes.container_mounts(pod, pod.spec.containers[0], paths)
    env = container_env(pod, pod.spec.containers[0], lookup)

    async def scenario(rt: PodmanRuntime) -> None:
        spec = sandbox_spec("vols")
        sandbox = await rt.create_sandbox(spec)
        try:
            cid = await rt.create_container(sandbox.id, container_spec(
                spec, "main", command=["sh", "-c"], env=env, mounts=mounts,
                args=["cat /etc/app/app.conf /etc/one.conf; echo $MODE; echo hi > /scratch/f && echo wrote;"
                      " touch /etc/app/no 2>/dev/null || echo ro"]))
            await rt.start_container(cid)
            status = await wait_for_state(rt, cid, EXITED, timeout=15)
            logs = await read_logs(rt, cid)
            assert status.exit_code == 0, logs
            assert logs == b"x=1\nx=1\nfast\nwrote\nro\n"
            with open(os.path.join(paths["scratch"], "f")) as f:
                assert f.read() == "hi\n"
        finally:
            await rt.remove_sandbox(sandbox.id)
            volumes.tear_down(root, "0000-vols")

    run(service, scenario)
