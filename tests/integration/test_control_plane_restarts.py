"""kill -9 of the scheduler or the controller-manager in the middle of a rolling
update: started again, they finish it with exactly the desired Pods, none
duplicated; and of the controller-manager in the middle of a Job: it completes with
exactly its completions. Real processes (apiserver, scheduler, controller-manager,
three hollow kubelets on the fake runtime), real gRPC; no containers needed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from apiserver_process import ApiserverProcess, ComponentProcess, run_kubectl, wait_for
from apimachinery.kinds import unwrap
from protos import api_pb2

REPLICAS = 6
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: steady
spec:
  replicas: {replicas}
  minReadySeconds: 1
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  selector:
    matchLabels: {{app: steady}}
  template:
    metadata:
      labels: {{app: steady}}
    spec:
      containers:
      - name: main
        image: docker.io/library/multi-worker:{tag}
"""


class ControlPlane:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.apiserver = ApiserverProcess(base / "data", base / "apiserver.log").start()
        address = self.apiserver.address
        self.scheduler = ComponentProcess("scheduler.main", ["--server", address], base / "scheduler.log",
                                          "scheduler running").start()
        self.controllers = ComponentProcess("controllers.main", ["--server", address],
                                            base / "controller-manager.log", "controller-manager running").start()
        self.kubelets = [ComponentProcess("kubelet.main", ["--server", address, "--node-name", f"hollow-{i}",
                                                           "--runtime", "fake"],
                                          base / f"kubelet-{i}.log", "kubelet running").start()
                         for i in range(3)]

    def stop(self) -> None:
        for process in (*self.kubelets, self.controllers, self.scheduler):
            if process.proc is not None:
                process.kill()
        self.apiserver.stop()

    def list(self, kind: str, selector: str = "app=steady") -> list:
        reply = self.apiserver.stub().List(api_pb2.ListRequest(kind=kind, namespace="default",
                                                               label_selector=selector), timeout=10)
        return [unwrap(o) for o in reply.items]

    def apply(self, tag: str) -> None:
        manifest = self.base / "steady.yaml"
        manifest.write_text(MANIFEST.format(replicas=REPLICAS, tag=tag))
        result = run_kubectl(self.apiserver.address, "apply", "-f", str(manifest))
        assert result.code == 0, result.err


@pytest.fixture
def plane(tmp_path):
    plane = ControlPlane(tmp_path)
    try:
        yield plane
    finally:
        plane.stop()


def rollout_done(plane: ControlPlane, tag: str):
    def check():
        (deploy,) = plane.list("Deployment", "")
        status = deploy.status
        done = (status.observed_generation >= deploy.metadata.generation and status.updated_replicas == REPLICAS
                and status.replicas == REPLICAS and status.available_replicas == REPLICAS
                and deploy.spec.template.spec.containers[0].image.endswith(tag))
        return deploy if done else None
    return check


def assert_exactly_the_desired_pods(plane: ControlPlane, tag: str) -> None:
    pods = [p for p in plane.list("Pod") if not p.metadata.HasField("deletion_timestamp")]
    images = {p.spec.containers[0].image for p in pods}
    assert len(pods) == REPLICAS, [p.metadata.name for p in pods]
    assert images == {f"docker.io/library/multi-worker:{tag}"}
    assert all(p.spec.node_name for p in pods)
    assert all(p.status.phase == "Running" for p in pods)
    owners = {p.metadata.owner_references[0].name for p in pods}
    assert len(owners) == 1  # all from the new ReplicaSet
    replica_sets = {rs.metadata.name: rs.spec.replicas for rs in plane.list("ReplicaSet")}
    assert replica_sets.pop(owners.pop()) == REPLICAS
    assert all(replicas == 0 for replicas in replica_sets.values())  # old ones scaled to 0
    per_node = {}
    for p in pods:
        per_node[p.spec.node_name] = per_node.get(p.spec.node_name, 0) + 1
    assert sorted(per_node.values()) == [2, 2, 2]


def mid_rollout(plane: ControlPlane) -> bool:
    """Some Pods of the new template exist, but the rollout is not done."""
    pods = plane.list("Pod")
    new = [p for p in pods if p.spec.containers[0].image.endswith(":2.0")]
    return 1 <= len(new) < REPLICAS


@pytest.mark.parametrize("victim", ["controllers", "scheduler"])
def test_kill_9_mid_rollout_then_restart_ends_with_exactly_the_desired_pods(plane, victim):
    plane.apply("1.0")
    wait_for("first rollout", rollout_done(plane, "1.0"))
    assert_exactly_the_desired_pods(plane, "1.0")

    plane.apply("2.0")
    wait_for("the rolling update to be under way", lambda: mid_rollout(plane), timeout=30)
    component = getattr(plane, victim)
    assert component.kill() == -9
    time.sleep(1.0)  # the world moves on without it for a moment
    component.start()

    wait_for("second rollout", rollout_done(plane, "2.0"), timeout=90)
    wait_for("old Pods gone", lambda: all(p.spec.containers[0].image.endswith(":2.0") for p in plane.list("Pod")),
              timeout=30)
    assert_exactly_the_desired_pods(plane, "2.0")
    history = run_kubectl(plane.apiserver.address, "get", "rs", "-o", "yaml")
    assert history.code == 0
    assert len(yaml.safe_load(history.out)["items"]) == 2


JOB_IMAGE = "docker.io/library/busybox:1.36"
JOB = f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: batch
spec:
  completions: 6
  parallelism: 2
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 0
      containers:
      - name: work
        image: {JOB_IMAGE}
"""


def test_kill_9_of_the_controller_manager_mid_job_still_completes_it_exactly(tmp_path):
    """A fault of issue 14: the Job controller's process dies with Pods in flight. Started again,
    it finishes the Job: Complete with exactly `completions` Pods succeeded, none failed, none
    extra. Hollow nodes whose containers of the Job's image exit 0 after 0.5 s."""
    apiserver = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver.log").start()
    address = apiserver.address
    processes: list[ComponentProcess] = []
    try:
        processes.append(ComponentProcess("scheduler.main", ["--server", address], tmp_path / "scheduler.log",
                                          "scheduler running").start())
        controllers = ComponentProcess("controllers.main", ["--server", address], tmp_path / "controller-manager.log",
                                       "controller-manager running").start()
        processes.append(controllers)
        processes.append(ComponentProcess("kubelet.hollow", ["--server", address, "--nodes", "3",
                                                             "--exit-after", f"{JOB_IMAGE}=0.5"],
                                          tmp_path / "hollow.log", "hollow nodes running").start())
        stub = apiserver.stub()

        def job():
            return unwrap(stub.Get(api_pb2.GetRequest(kind="Job", namespace="default", name="batch"), timeout=10))

        result = run_kubectl(address, "apply", "-f", "-", stdin=JOB)
        assert result.code == 0, result.err
        wait_for("the Job under way (1 to 5 succeeded)", lambda: 1 <= job().status.succeeded < 6, timeout=60)
        assert controllers.kill() == -9
        controllers.start()

        def complete():
            conditions = {c.type: c.status for c in job().status.conditions}
            return conditions.get("Complete") == "True" or conditions.get("Failed") == "True"
        wait_for("the Job to finish", complete, timeout=90)
        finished = job()
        assert {c.type: c.status for c in finished.status.conditions}.get("Complete") == "True"
        assert (finished.status.succeeded, finished.status.failed, finished.status.active) == (6, 0, 0)
        pods = [unwrap(o) for o in stub.List(api_pb2.ListRequest(kind="Pod", namespace="default",
                                                                 label_selector="job-name=batch"), timeout=10).items]
        phases = sorted(p.status.phase for p in pods if not p.metadata.HasField("deletion_timestamp"))
        assert phases == ["Succeeded"] * 6, phases
    finally:
        for process in processes:
            if process.proc is not None:
                process.kill()
        apiserver.stop()
