"""scale, rollout (status/history/undo/restart), cordon, drain, describe and apply --wait
through the real ``pykubectl`` entry point against a real in-process apiserver.

No controllers run here: the test plays the Deployment controller (it creates the
ReplicaSets and reports status) and the kubelet (it confirms graceful Pod deletions)
with plain API calls, so what is checked is pykubectl's wiring to the real server:
compare-and-swap Updates, field selectors, Watch, graceful deletion.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from typing import Callable, Iterator

import grpc
import pytest

from apimachinery.kinds import unwrap, wrap
from apiserver.main import APIServer, ServerConfig
from kubectl.main import main
from protos import api_pb2, api_pb2_grpc, apps_pb2, core_pb2, meta_pb2

REVISION = "deployment.kubernetes.io/revision"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
"""


class Server:
    """An apiserver on its own event loop in a thread, so the synchronous CLI can call it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> APIServer:  # grpc.aio binds a server to the loop it is made on
            server = APIServer(ServerConfig(listen="127.0.0.1:0", bookmark_interval=0.5))
            await server.start()
            return server

        self.server = self._call(start())
        self.address = self.server.address
        self.channel = grpc.insecure_channel(self.address)
        self.stub = api_pb2_grpc.APIStub(self.channel)

    def _call(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.channel.close()
        self._call(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    # -- plain API calls for the test's own bookkeeping
    def create(self, obj):  # type: ignore[no-untyped-def]
        return unwrap(self.stub.Create(api_pb2.CreateRequest(object=wrap(obj))))

    def get(self, kind: str, name: str, namespace: str = "default"):  # type: ignore[no-untyped-def]
        return unwrap(self.stub.Get(api_pb2.GetRequest(kind=kind, namespace=namespace, name=name)))

    def pods(self, node: str = "") -> list[core_pb2.Pod]:
        selector = f"spec.nodeName={node}" if node else ""
        listed = self.stub.List(api_pb2.ListRequest(kind="Pod", field_selector=selector))
        return [unwrap(item) for item in listed.items]  # type: ignore[misc]

    def update_status(self, obj):  # type: ignore[no-untyped-def]
        obj.metadata.resource_version = ""
        return unwrap(self.stub.UpdateStatus(api_pb2.UpdateRequest(object=wrap(obj))))


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


def pykubectl(server: Server, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--server", server.address, *argv], env={"PYKUBECONFIG": "/nonexistent/config"},
                stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def in_background(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def eventually(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("timed out")


def revision_replica_set(server: Server, deployment: apps_pb2.Deployment, pod_hash: str, revision: int,
                         image: str, replicas: int) -> apps_pb2.ReplicaSet:
    """What the Deployment controller would create for one revision."""
    rs = apps_pb2.ReplicaSet(metadata=meta_pb2.ObjectMeta(
        name=f"web-{pod_hash}", namespace="default", labels={"app": "web", "pod-template-hash": pod_hash},
        annotations={REVISION: str(revision)}))
    rs.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name="web",
                                     uid=deployment.metadata.uid, controller=True, block_owner_deletion=True)
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels.update({"app": "web", "pod-template-hash": pod_hash})
    rs.spec.template.CopyFrom(deployment.spec.template)
    rs.spec.template.metadata.labels["pod-template-hash"] = pod_hash
    rs.spec.template.spec.containers[0].image = image
    return server.create(rs)


def test_scale_history_undo_restart_status(server: Server) -> None:
    code, out, _ = pykubectl(server, "apply", "-f", "-", stdin=DEPLOYMENT)
    assert (code, out) == (0, "deployment.apps/web created\n")
    code, out, err = pykubectl(server, "scale", "deployment/web", "--replicas", "4")
    assert (code, out, err) == (0, "deployment.apps/web scaled\n", "")
    web = server.get("Deployment", "web")
    assert web.spec.replicas == 4 and web.metadata.generation == 2

    revision_replica_set(server, web, "old11", 1, "nginx:1.25", 0)
    revision_replica_set(server, web, "new22", 2, "nginx:1.27", 4)
    code, out, _ = pykubectl(server, "rollout", "history", "deploy/web")
    assert out == "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"

    code, out, err = pykubectl(server, "rollout", "undo", "deployment/web")
    assert (code, out, err) == (0, "deployment.apps/web rolled back\n", "")
    web = server.get("Deployment", "web")
    assert web.spec.template.spec.containers[0].image == "nginx:1.25"
    assert "pod-template-hash" not in web.spec.template.metadata.labels
    code, out, _ = pykubectl(server, "rollout", "undo", "deployment/web", "--to-revision", "1")
    assert out == "deployment.apps/web skipped rollback (current template already matches revision 1)\n"
    code, _, err = pykubectl(server, "rollout", "undo", "deployment/web", "--to-revision", "9")
    assert (code, err) == (1, "error: unable to find specified revision 9 in history\n")

    code, out, _ = pykubectl(server, "rollout", "restart", "deployment/web")
    assert (code, out) == (0, "deployment.apps/web restarted\n")
    web = server.get("Deployment", "web")
    assert "kubectl.kubernetes.io/restartedAt" in web.spec.template.metadata.annotations

    # No controller has seen the new generation: status must not be trusted yet.
    code, out, _ = pykubectl(server, "rollout", "status", "deployment/web", "--watch=false")
    assert (code, out) == (0, "Waiting for deployment spec update to be observed...\n")
    started = time.monotonic()
    code, out, err = pykubectl(server, "rollout", "status", "deployment/web", "--timeout", "0.5s")
    assert (code, out, err) == (1, "Waiting for deployment spec update to be observed...\n",
                                "error: timed out waiting for the condition\n")
    assert time.monotonic() - started < 5
    code, _, err = pykubectl(server, "rollout", "status", "deployment/nope")
    assert (code, err) == (1, 'Error from server (NotFound): deployments.apps "nope" not found\n')


def test_rollout_status_and_apply_wait_follow_the_watch(server: Server) -> None:
    def controller() -> None:
        """Report progress as the Deployment controller would, once the Deployment exists."""
        web = eventually(lambda: _maybe_get(server, "Deployment", "web"))
        for updated, available in ((1, 0), (2, 1), (2, 2)):
            time.sleep(0.1)
            web = server.get("Deployment", "web")
            web.status.CopyFrom(apps_pb2.DeploymentStatus(
                observed_generation=web.metadata.generation, replicas=2, updated_replicas=updated,
                available_replicas=available, ready_replicas=available))
            if available == 2:
                web.status.conditions.add(type="Available", status="True", reason="MinimumReplicasAvailable")
                web.status.conditions.add(type="Progressing", status="True", reason="NewReplicaSetAvailable")
            server.update_status(web)

    thread = in_background(controller)
    code, out, err = pykubectl(server, "apply", "-f", "-", "--wait", "--timeout", "20s", stdin=DEPLOYMENT)
    thread.join(5)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "deployment.apps/web created" and lines[-1] == 'deployment "web" successfully rolled out'
    assert 'Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...' in lines

    web = server.get("Deployment", "web")
    web.status.conditions[1].status = "False"
    web.status.conditions[1].reason = "ProgressDeadlineExceeded"
    server.update_status(web)
    code, _, err = pykubectl(server, "rollout", "status", "deployment/web")
    assert (code, err) == (1, 'error: deployment "web" exceeded its progress deadline\n')


def _maybe_get(server: Server, kind: str, name: str):  # type: ignore[no-untyped-def]
    try:
        return server.get(kind, name)
    except grpc.RpcError:
        return None


def bound_pod(server: Server, name: str, node: str, owner: apps_pb2.ReplicaSet | None) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", labels={"app": "web"}))
    pod.spec.containers.add(name="web", image="nginx:1.27")
    if owner is not None:
        pod.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name=owner.metadata.name,
                                          uid=owner.metadata.uid, controller=True)
    created = server.create(pod)
    server.stub.Bind(api_pb2.BindRequest(namespace="default", name=name, node_name=node, uid=created.metadata.uid))
    return created


def node_named(name: str) -> core_pb2.Node:
    node = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}))
    node.status.capacity.update({"cpu": "2", "memory": "4Gi", "pods": "110"})
    node.status.conditions.add(type="Ready", status="True", reason="KubeletReady")
    return node


def test_cordon_drain_and_describe(server: Server) -> None:
    for name in ("n1", "n2"):
        server.create(node_named(name))
    code, _, _ = pykubectl(server, "apply", "-f", "-", stdin=DEPLOYMENT)
    web = server.get("Deployment", "web")
    rs = revision_replica_set(server, web, "abc12", 1, "nginx:1.27", 2)
    bound_pod(server, "web-abc12-aaaaa", "n1", rs)
    bound_pod(server, "web-abc12-bbbbb", "n1", rs)
    bound_pod(server, "web-abc12-ccccc", "n2", rs)
    bound_pod(server, "lonely", "n1", None)

    assert pykubectl(server, "cordon", "n2")[1] == "node/n2 cordoned\n"
    assert pykubectl(server, "cordon", "n2")[1] == "node/n2 already cordoned\n"
    n2 = server.get("Node", "n2", "")
    assert n2.spec.unschedulable and [t.key for t in n2.spec.taints] == ["node.kubernetes.io/unschedulable"]
    assert pykubectl(server, "uncordon", "n2")[1] == "node/n2 uncordoned\n"
    n2 = server.get("Node", "n2", "")
    assert not n2.spec.unschedulable and not n2.spec.taints

    code, out, err = pykubectl(server, "drain", "n1")
    assert code == 1 and out == "node/n1 cordoned\n"
    assert err.endswith("error: cannot delete Pods that declare no controller (use --force to override): "
                        "default/lonely\n")
    assert len(server.pods("n1")) == 3  # nothing evicted

    stop = threading.Event()

    def kubelet() -> None:
        """Confirm graceful deletions on n1, as its kubelet would once the containers stopped."""
        while not stop.is_set():
            for pod in server.pods("n1"):
                if pod.metadata.HasField("deletion_timestamp"):
                    try:
                        server.stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default",
                                                                 name=pod.metadata.name, grace_period_seconds=0))
                    except grpc.RpcError:
                        pass
            time.sleep(0.05)

    thread = in_background(kubelet)
    try:
        code, out, err = pykubectl(server, "drain", "n1", "--force", "--ignore-daemonsets", "--timeout", "20s")
    finally:
        stop.set()
        thread.join(5)
    assert (code, err) == (0, "Warning: deleting Pods that declare no controller: default/lonely\n")
    lines = out.splitlines()
    assert lines[0] == "node/n1 already cordoned" and lines[-1] == "node/n1 drained"
    assert sorted(lines[1:4]) == ["evicting pod default/lonely", "evicting pod default/web-abc12-aaaaa",
                                  "evicting pod default/web-abc12-bbbbb"]
    assert sorted(lines[4:7]) == ["pod/lonely evicted", "pod/web-abc12-aaaaa evicted", "pod/web-abc12-bbbbb evicted"]
    assert server.pods("n1") == [] and len(server.pods("n2")) == 1

    # describe: the server's field selectors find this Pod's events and the node's pods.
    event = core_pb2.Event(metadata=meta_pb2.ObjectMeta(name="e1", namespace="default"), type="Normal",
                           reason="Scheduled", message="Successfully assigned default/web-abc12-ccccc to n2",
                           source=core_pb2.EventSource(component="default-scheduler"), count=1)
    pod = server.get("Pod", "web-abc12-ccccc")
    event.involved_object.CopyFrom(meta_pb2.ObjectReference(kind="Pod", name=pod.metadata.name, namespace="default",
                                                            uid=pod.metadata.uid))
    event.first_timestamp.GetCurrentTime()
    server.create(event)
    code, out, err = pykubectl(server, "describe", "pod", "web-abc12-ccccc")
    assert code == 0 and err == ""
    assert "Controlled By:  ReplicaSet/web-abc12\n" in out
    assert out.rstrip().endswith("Successfully assigned default/web-abc12-ccccc to n2")
    code, out, _ = pykubectl(server, "describe", "node", "n2")
    assert "Non-terminated Pods:" in out and "default                     web-abc12-ccccc" in out
    code, out, _ = pykubectl(server, "describe", "deploy", "web")
    assert "\nNewReplicaSet:     web-abc12 (0/2 replicas created)\n" in out  # no status: 0 created
