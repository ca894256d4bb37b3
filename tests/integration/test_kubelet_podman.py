"""The kubelet with real processes and real Podman: a real apiserver, a real
pykubelet, a node with its own Podman service, storage and sealed network
namespace, images pulled from a local registry standing in for Docker Hub.
The Node's podCIDR is written here by hand, as the node IPAM controller would."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import grpc
import pytest

from apiserver_process import REPO_ROOT, ApiserverProcess, repo_env, run_kubectl
import node_env_fixtures
from node_env_fixtures import NodeLab, environment_problems
from apimachinery.kinds import unwrap, wrap
from kubelet.runtime import LABEL_ATTEMPT, LABEL_CONTAINER_NAME, LABEL_MANAGED, LABEL_POD_NAME, \
    LABEL_POD_NAMESPACE, LABEL_POD_UID
from protos import api_pb2, core_pb2, meta_pb2

NODE = "n1"
WORKER_IMAGE = "docker.io/library/multi-worker:1.0"
CRASH_IMAGE = "docker.io/library/crashloop:1.0"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.36"
RELIST_INTERVAL = 2.0  # the kubelet's --relist-interval
GRACE = 2  # every test Pod's terminationGracePeriodSeconds
POD_CIDR = "10.88.1.0/24"



def wait_for(what: str, check: Callable[[], object], timeout: float = 30.0, interval: float = 0.1):
    return node_env_fixtures.wait_for(what, check, timeout, interval)


class KubeletProcess:
    def __init__(self, apiserver: ApiserverProcess, lab: NodeLab, log_path: Path, extra_args: tuple[str, ...] = ()
                 ) -> None:
        self.apiserver, self.lab, self.log_path = apiserver, lab, log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    def start(self) -> "KubeletProcess":
        node = self.lab.nodes[NODE]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubelet.main", "--server", self.apiserver.address, "--node-name", NODE,
             "--podman-url", node.url, "--probe-netns", node.netns_path,
             "--backoff-initial", "2", "--backoff-max", "16", "--relist-interval", str(RELIST_INTERVAL),
             *self.extra_args],
            stdout=log, stderr=log, env=repo_env(), cwd=REPO_ROOT)
        log.close()
        wait_for("the Node registered", lambda: self.assign_pod_cidr() or self.proc.poll() is not None)
        wait_for("kubelet running", lambda: '"kubelet running"' in self.log_path.read_text()
                 or self.proc.poll() is not None, timeout=30)
        assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
        return self

    def assign_pod_cidr(self) -> bool:
        """Give the Node its podCIDR (once it exists), as the node IPAM controller does."""
        stub = self.apiserver.stub()
        try:
            node = unwrap(stub.Get(api_pb2.GetRequest(kind="Node", name=NODE), timeout=10))
        except grpc.RpcError:
            return False
        if not node.spec.pod_cidr:
            node.spec.pod_cidr = POD_CIDR
            node.spec.pod_cidrs.append(POD_CIDR)
            stub.Update(api_pb2.UpdateRequest(object=wrap(node)), timeout=10)
        return True

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    problems = environment_problems()
    assert not problems, "; ".join(problems)
    base = Path(tmp_path_factory.mktemp("kl", numbered=True))
    lab = NodeLab(base / "lab", node_names=(NODE,)).start()
    apiserver = ApiserverProcess(base / "data", base / "apiserver.log").start()
    kubelet = KubeletProcess(apiserver, lab, base / "kubelet.log").start()
    try:
        yield apiserver, lab, kubelet
    finally:
        kubelet.stop()
        apiserver.stop()
        lab.cleanup()


def stub(apiserver: ApiserverProcess):
    return apiserver.stub()


def make_pod(name: str, image: str = WORKER_IMAGE, restart_policy: str = "Always", **container) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                       spec=core_pb2.PodSpec(restart_policy=restart_policy, node_name=NODE,
                                             termination_grace_period_seconds=GRACE))
    pod.spec.containers.add(name="main", image=image, **container)
    return pod


def create(apiserver, pod: core_pb2.Pod) -> core_pb2.Pod:
    return unwrap(stub(apiserver).Create(api_pb2.CreateRequest(object=wrap(pod)), timeout=10))


def get_pod(apiserver, name: str) -> core_pb2.Pod | None:
    try:
        return unwrap(stub(apiserver).Get(api_pb2.GetRequest(kind="Pod", namespace="default", name=name), timeout=10))
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def container_status(apiserver, name: str) -> core_pb2.ContainerStatus | None:
    pod = get_pod(apiserver, name)
    if pod is None or not pod.status.container_statuses:
        return None
    return pod.status.container_statuses[0]


def running(apiserver, name: str, restart_count: int | None = None):
    def check():
        pod = get_pod(apiserver, name)
        if pod is None or pod.status.phase != "Running" or not pod.status.container_statuses:
            return None
        cs = pod.status.container_statuses[0]
        if not cs.state.HasField("running"):
            return None
        if restart_count is not None and cs.restart_count != restart_count:
            return None
        return pod
    return check


def events_for(apiserver, pod_name: str) -> list[core_pb2.Event]:
    reply = stub(apiserver).List(api_pb2.ListRequest(kind="Event", namespace="default",
                                                     field_selector=f"involvedObject.name={pod_name}"), timeout=10)
    return [unwrap(o) for o in reply.items]


def delete_pod(apiserver, name: str) -> None:
    stub(apiserver).Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name=name), timeout=10)


def container_id(cs: core_pb2.ContainerStatus) -> str:
    return cs.container_id.split("://", 1)[1]


def test_pod_runs_and_podman_kill_is_restarted(cluster):
    apiserver, lab, _ = cluster
    node = lab.nodes[NODE]
    create(apiserver, make_pod("web"))
    pod = wait_for("web Running", running(apiserver, "web"), timeout=60)
    cs = pod.status.container_statuses[0]
    assert cs.ready and cs.restart_count == 0 and cs.image == WORKER_IMAGE
    assert cs.image_id and cs.container_id.startswith("podman://")
    assert pod.status.pod_ip and pod.status.host_ip == "127.0.0.1"
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"

    first = container_id(cs)
    node.remote("kill", first)
    pod = wait_for("web restarted", running(apiserver, "web", restart_count=1), timeout=20)
    cs = pod.status.container_statuses[0]
    assert container_id(cs) != first
    assert cs.last_state.terminated.exit_code == 137
    ps = node.remote("ps", "-q", "--no-trunc", "--filter", f"id={container_id(cs)}").stdout.strip()
    assert ps == container_id(cs)  # the new container really runs

    table = run_kubectl(apiserver.address, "get", "pods", "web")
    assert table.code == 0, table.err
    row = table.out.splitlines()[1].split()
    assert row[:4] == ["web", "1/1", "Running", "1"]


def test_image_pulled_once_per_node(cluster):
    apiserver, _, _ = cluster
    create(apiserver, make_pod("cache-a", image=BUSYBOX_IMAGE, command=["sleep", "1000"]))
    wait_for("cache-a Running", running(apiserver, "cache-a"), timeout=60)
    create(apiserver, make_pod("cache-b", image=BUSYBOX_IMAGE, command=["sleep", "1000"]))
    wait_for("cache-b Running", running(apiserver, "cache-b"), timeout=60)

    def pulled(name: str) -> list[str]:
        return [e.message for e in events_for(apiserver, name) if e.reason == "Pulled"]
    first = wait_for("cache-a Pulled event", lambda: pulled("cache-a"))
    second = wait_for("cache-b Pulled event", lambda: pulled("cache-b"))
    assert first[0].startswith(f'Successfully pulled image "{BUSYBOX_IMAGE}"')
    assert second == [f'Container image "{BUSYBOX_IMAGE}" already present on machine']
    assert not [e for e in events_for(apiserver, "cache-b") if e.reason == "Pulling"]


def test_crash_loop_backs_off_with_growing_gaps(cluster):
    apiserver, _, _ = cluster
    create(apiserver, make_pod("crash", image=CRASH_IMAGE))
    starts: dict[int, float] = {}
    saw_back_off = False

    def progress():
        nonlocal saw_back_off
        cs = container_status(apiserver, "crash")
        if cs is not None:
            starts.setdefault(cs.restart_count, time.monotonic())
            saw_back_off |= cs.state.waiting.reason == "CrashLoopBackOff"
        return len(starts) >= 4 and saw_back_off
    wait_for("three restarts", progress, timeout=60, interval=0.05)
    gaps = [starts[i + 1] - starts[i] for i in range(1, 3)]
    # Back-off 2 s then 4 s (doubling): the second gap is longer by 2 s; a start delayed by a
    # loaded machine stretches either gap by a fraction of that.
    assert gaps[1] > gaps[0] + 1.0, gaps
    cs = container_status(apiserver, "crash")
    assert cs.last_state.terminated.exit_code == 1 and cs.last_state.terminated.reason == "Error"
    logs = run_kubectl(apiserver.address, "logs", "crash", "--previous")
    assert logs.code == 0 and "crashing" in logs.out, logs.err


def test_missing_image_is_image_pull_back_off_with_the_registry_message(cluster):
    apiserver, _, _ = cluster
    create(apiserver, make_pod("nope", image="docker.io/library/does-not-exist:1.0"))

    def waiting():
        cs = container_status(apiserver, "nope")
        return cs if cs is not None and cs.state.waiting.reason == "ImagePullBackOff" else None
    cs = wait_for("ImagePullBackOff", waiting, timeout=60)
    assert "does-not-exist" in cs.state.waiting.message
    failed = [e.message for e in events_for(apiserver, "nope") if e.reason == "Failed"]
    assert failed and ("manifest unknown" in failed[0].lower() or "not found" in failed[0].lower()), failed


def test_failing_liveness_probe_restarts_the_container(cluster):
    apiserver, _, _ = cluster
    probe = core_pb2.Probe(http_get=core_pb2.HTTPGetAction(path="/", port=meta_pb2.IntOrString(int_val=9999)),
                           period_seconds=1, failure_threshold=2, timeout_seconds=1)
    create(apiserver, make_pod("sick", liveness_probe=probe))
    wait_for("sick restarted by its liveness probe", running(apiserver, "sick", restart_count=1), timeout=60)
    killing = [e.message for e in events_for(apiserver, "sick") if e.reason == "Killing"]
    assert any("failed liveness probe" in m for m in killing), killing


def test_deleted_pod_is_stopped_and_removed(cluster):
    apiserver, lab, _ = cluster
    node = lab.nodes[NODE]
    create(apiserver, make_pod("doomed"))
    pod = wait_for("doomed Running", running(apiserver, "doomed"), timeout=60)
    cid = container_id(pod.status.container_statuses[0])
    delete_pod(apiserver, "doomed")
    wait_for("doomed removed from the apiserver", lambda: get_pod(apiserver, "doomed") is None, timeout=30)
    ps = node.remote("ps", "-a", "-q", "--no-trunc", "--filter", f"label={LABEL_POD_UID}={pod.metadata.uid}")
    assert ps.stdout.strip() == ""
    assert cid not in node.remote("ps", "-a", "-q", "--no-trunc").stdout


def test_restarted_kubelet_adopts_running_containers_and_removes_orphans(cluster):
    apiserver, lab, kubelet = cluster
    node = lab.nodes[NODE]
    create(apiserver, make_pod("steady"))
    pod = wait_for("steady Running", running(apiserver, "steady"), timeout=60)
    before = container_id(pod.status.container_statuses[0])
    assert kubelet.stop() == 0

    labels = {LABEL_MANAGED: "true", LABEL_POD_UID: "orphan-uid", LABEL_POD_NAME: "ghost",
              LABEL_POD_NAMESPACE: "default", LABEL_CONTAINER_NAME: "main", LABEL_ATTEMPT: "0"}
    label_args = [arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")]
    orphan = node.remote("run", "-d", *label_args, BUSYBOX_IMAGE, "sleep", "1000").stdout.strip()
    kubelet.start()

    wait_for("orphan removed", lambda: orphan not in node.remote("ps", "-a", "-q", "--no-trunc").stdout, timeout=30)
    # The start-up sync that removed the orphan synced "steady" too. Had it restarted it, the
    # old container would be stopped within its grace period and the new one seen within a
    # relist, so wait that long before checking nothing changed.
    time.sleep(GRACE + RELIST_INTERVAL + 1.0)
    pod = get_pod(apiserver, "steady")
    cs = pod.status.container_statuses[0]
    assert container_id(cs) == before and cs.restart_count == 0
    assert before in node.remote("ps", "-q", "--no-trunc").stdout


def test_pod_gets_an_address_of_the_pod_cidr_and_the_cluster_resolv_conf(cluster):
    apiserver, lab, _ = cluster
    node = lab.nodes[NODE]
    create(apiserver, make_pod("dns", BUSYBOX_IMAGE, command=["sleep", "3600"]))
    pod = wait_for("dns Running", running(apiserver, "dns"), timeout=60)
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(POD_CIDR)
    assert pod.status.pod_ip != "10.88.1.1"  # the gateway: the node's side of the bridge
    network = json.loads(node.remote("network", "inspect", "pykube").stdout)[0]
    assert [s["subnet"] for s in network["subnets"]] == [POD_CIDR]
    resolv = node.remote("exec", container_id(pod.status.container_statuses[0]), "cat", "/etc/resolv.conf").stdout
    lines = [line for line in resolv.splitlines() if line and not line.startswith("#")]
    assert "nameserver 10.96.0.10" in lines
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in lines
    assert "options ndots:5" in lines
    delete_pod(apiserver, "dns")


def test_dns_policy_default_gives_the_nodes_resolv_conf_and_none_gives_nothing_of_ours(cluster):
    from kubelet.dns import read_resolv_conf
    apiserver, lab, _ = cluster
    node = lab.nodes[NODE]
    for name, policy in (("dns-default", "Default"), ("dns-none", "None")):
        pod = make_pod(name, BUSYBOX_IMAGE, command=["sleep", "3600"])
        pod.spec.dns_policy = policy
        create(apiserver, pod)
    host = read_resolv_conf("/etc/resolv.conf")
    for name in ("dns-default", "dns-none"):
        pod = wait_for(f"{name} Running", running(apiserver, name), timeout=60)
        cid = container_id(pod.status.container_statuses[0])
        resolv = node.remote("exec", cid, "cat", "/etc/resolv.conf", check=False).stdout
        servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
        if name == "dns-default":
            assert servers == host.servers, resolv
        else:
            assert "10.96.0.10" not in resolv and "cluster.local" not in resolv, resolv
        delete_pod(apiserver, name)
