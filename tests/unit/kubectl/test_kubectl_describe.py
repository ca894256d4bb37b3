"""pykubectl describe: kubectl's sections and tabwriter alignment, against the fake API."""

from __future__ import annotations


import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, deployment, node, pod_of, replica_set, settled
from kubectl_testlib import Harness, meta, run_verb, timestamp

from kubectl.describe_text import rfc1123z, tabbed
from kubectl.verbs.describe.generic import smart_label
from kubectl.verbs.describe.pods import describe_probe, qos_class
from protos import coordination_pb2, core_pb2, meta_pb2


pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


def describe(cluster: ClusterFake, *args: str) -> str:
    h = Harness(cluster)
    assert run_verb(h, "describe", *args) == 0
    return h.stdout


def an_event(name: str, kind: str, obj: str, reason: str, message: str, first: float, last: float, count: int = 1,
             event_type: str = "Normal", source: str = "kubelet", namespace: str = "default") -> core_pb2.Event:
    return core_pb2.Event(
        metadata=meta(name, "default"), type=event_type, reason=reason, message=message, count=count,
        involved_object=meta_pb2.ObjectReference(kind=kind, name=obj, namespace=namespace, uid=f"uid-{obj}"),
        source=core_pb2.EventSource(component=source), first_timestamp=timestamp(first), last_timestamp=timestamp(last))


def running_pod(cluster: ClusterFake) -> core_pb2.Pod:
    d = cluster.add(settled(deployment("web")))
    rs = cluster.add(replica_set(d, "7d4b9c", 1, 4))
    p = pod_of(rs, "web-7d4b9c-x7k2p")
    p.status.host_ip, p.status.pod_ip = "10.88.0.1", "10.89.0.5"
    p.status.pod_ips.add(ip="10.89.0.5")
    p.status.start_time.CopyFrom(timestamp(120))
    status = p.status.container_statuses.add(name="web", ready=True, restart_count=1, image_id="sha256:abc",
                                             container_id="podman://123")
    status.state.running.started_at.CopyFrom(timestamp(60))
    status.last_state.terminated.exit_code = 137
    status.last_state.terminated.reason = "Error"
    status.last_state.terminated.started_at.CopyFrom(timestamp(110))
    status.last_state.terminated.finished_at.CopyFrom(timestamp(61))
    for condition in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
        p.status.conditions.add(type=condition, status="True")
    return cluster.add(p)


def test_tabbed_aligns_per_block_like_go_tabwriter() -> None:
    text = "Conditions:\n  Type\tStatus\n  Available \tTrue\nOldReplicaSets:\t<none>\nContainers:\n  a:\tb\n"
    assert tabbed(text) == ("Conditions:\n  Type           Status\n  Available      True\nOldReplicaSets:  <none>\n"
                            "Containers:\n  a:  b\n")


def test_describe_pod(cluster: ClusterFake) -> None:
    running_pod(cluster)
    cluster.add(an_event("e1", "Pod", "web-7d4b9c-x7k2p", "Scheduled",
                         "Successfully assigned default/web-7d4b9c-x7k2p to n1", 120, 120, source="default-scheduler"))
    cluster.add(an_event("e2", "Pod", "web-7d4b9c-x7k2p", "BackOff", "Back-off restarting failed container\n",
                         100, 65, count=3, event_type="Warning"))
    cluster.add(an_event("e3", "Pod", "other", "Scheduled", "not about this pod", 10, 10))
    assert describe(cluster, "pod", "web-7d4b9c-x7k2p") == """\
Name:         web-7d4b9c-x7k2p
Namespace:    default
Node:         n1/10.88.0.1
Start Time:   Wed, 01 May 2024 11:58:00 +0000
Labels:       app=web
              pod-template-hash=7d4b9c
Annotations:  <none>
Status:       Running
IP:           10.89.0.5
IPs:
  IP:           10.89.0.5
Controlled By:  ReplicaSet/web-7d4b9c
Containers:
  web:
    Container ID:   podman://123
    Image:          nginx:1.25
    Image ID:       sha256:abc
    Port:           80/TCP
    Host Port:      0/TCP
    State:          Running
      Started:      Wed, 01 May 2024 11:59:00 +0000
    Last State:     Terminated
      Reason:       Error
      Exit Code:    137
      Started:      Wed, 01 May 2024 11:58:10 +0000
      Finished:     Wed, 01 May 2024 11:58:59 +0000
    Ready:          True
    Restart Count:  1
    Environment:    <none>
    Mounts:         <none>
Conditions:
  Type              Status
  Initialized       True 
  Ready             True 
  ContainersReady   True 
  PodScheduled      True 
Volumes:            <none>
QoS Class:          BestEffort
Node-Selectors:     <none>
Tolerations:        <none>
Events:
  Type     Reason     Age                 From               Message
  ----     ------     ----                ----               -------
  Normal   Scheduled  2m                  default-scheduler  Successfully assigned default/web-7d4b9c-x7k2p to n1
  Warning  BackOff    65s (x3 over 100s)  kubelet            Back-off restarting failed container
"""
    [events_list] = [r for r in cluster.requests("List") if r.kind == "Event"]
    assert events_list.namespace == "default" and events_list.field_selector == (
        "involvedObject.name=web-7d4b9c-x7k2p,involvedObject.namespace=default,involvedObject.kind=Pod,"
        "involvedObject.uid=uid-web-7d4b9c-x7k2p")


def test_describe_pending_and_terminating_pods(cluster: ClusterFake) -> None:
    p = pod_of(None, "lonely", node="")
    p.status.phase = "Pending"
    p.status.container_statuses.add(name="c").state.waiting.reason = "ContainerCreating"
    p.spec.tolerations.add(key="node.kubernetes.io/not-ready", operator="Exists", effect="NoExecute",
                           toleration_seconds=300)
    p.spec.tolerations.add(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute",
                           toleration_seconds=300)
    cluster.add(p)
    text = describe(cluster, "pod", "lonely")
    assert "Node:         <none>\n" in text and "IPs:          <none>\n" in text
    assert "Controlled By" not in text and "    State:          Waiting\n      Reason:       ContainerCreating\n" in text
    # No Conditions table: the container lines and the pod's last lines form one tabwriter block.
    assert text.endswith(
        "    Restart Count:  0\n"
        "    Environment:    <none>\n"
        "    Mounts:         <none>\n"
        "Volumes:            <none>\n"
        "QoS Class:          BestEffort\n"
        "Node-Selectors:     <none>\n"
        "Tolerations:        node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n"
        "                    node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n"
        "Events:             <none>\n")
    p.metadata.deletion_timestamp.CopyFrom(timestamp(5))
    p.metadata.deletion_grace_period_seconds = 30
    text = describe(cluster, "pod", "lonely")
    assert "Status:                    Terminating (lasts 5s)\nTermination Grace Period:  30s\n" in text


def test_describe_deployment(cluster: ClusterFake) -> None:
    d = cluster.add(settled(deployment("web", image="nginx:1.26", revision=2)))
    cluster.add(replica_set(d, "aaa", 1, 1, image="nginx:1.25", age_seconds=900))
    cluster.add(replica_set(d, "bbb", 2, 4, age_seconds=300))
    cluster.add(replica_set(d, "ccc", 0, 0, image="nginx:1.24", age_seconds=1000))  # scaled to 0: not listed
    cluster.add(an_event("e1", "Deployment", "web", "ScalingReplicaSet", "Scaled up replica set web-bbb to 4",
                         300, 300, source="deployment-controller"))
    assert describe(cluster, "deployment/web") == """\
Name:                   web
Namespace:              default
CreationTimestamp:      Wed, 01 May 2024 11:50:00 +0000
Labels:                 <none>
Annotations:            deployment.kubernetes.io/revision: 2
Selector:               app=web
Replicas:               4 desired | 4 updated | 4 total | 4 available | 0 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:  app=web
  Containers:
   web:
    Image:         nginx:1.26
    Port:          80/TCP
    Host Port:     0/TCP
    Environment:   <none>
    Mounts:        <none>
  Volumes:         <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
Conditions:
  Type           Status  Reason
  ----           ------  ------
  Available      True    MinimumReplicasAvailable
  Progressing    True    NewReplicaSetAvailable
OldReplicaSets:  web-aaa (1/1 replicas created)
NewReplicaSet:   web-bbb (4/4 replicas created)
Events:
  Type    Reason             Age   From                   Message
  ----    ------             ----  ----                   -------
  Normal  ScalingReplicaSet  5m    deployment-controller  Scaled up replica set web-bbb to 4
"""


def test_describe_replica_set_counts_its_pods_by_phase(cluster: ClusterFake) -> None:
    d = cluster.add(deployment("web"))
    rs = cluster.add(replica_set(d, "abc", 1, 4))
    for name, phase in (("a", "Running"), ("b", "Running"), ("c", "Pending"), ("d", "Failed")):
        cluster.add(pod_of(rs, f"web-abc-{name}", phase=phase))
    stranger = pod_of(rs, "web-abc-z")
    stranger.metadata.owner_references[0].uid = "uid-other"
    cluster.add(stranger)
    text = describe(cluster, "rs", "web-abc")
    assert text.startswith("""\
Name:           web-abc
Namespace:      default
Selector:       app=web,pod-template-hash=abc
Labels:         app=web
                pod-template-hash=abc
Annotations:    deployment.kubernetes.io/desired-replicas: 4
                deployment.kubernetes.io/max-replicas: 5
                deployment.kubernetes.io/revision: 1
Controlled By:  Deployment/web
Replicas:       4 current / 4 desired
Pods Status:    2 Running / 1 Waiting / 0 Succeeded / 1 Failed
Pod Template:
  Labels:  app=web
           pod-template-hash=abc
""")


def test_describe_node(cluster: ClusterFake) -> None:
    n = node("n1", unschedulable=True)
    n.metadata.labels["node-role.kubernetes.io/control-plane"] = ""
    n.spec.taints.add(key="node.kubernetes.io/unschedulable", effect="NoSchedule")
    n.spec.taints.add(key="node.kubernetes.io/unreachable", effect="NoExecute")
    cluster.add(n)
    lease = coordination_pb2.Lease(metadata=meta("n1", "kube-node-lease"))
    lease.spec.holder_identity = "n1"
    lease.spec.renew_time.CopyFrom(timestamp(1))
    cluster.add(lease)
    heavy = pod_of(None, "heavy", namespace="team-a")
    heavy.spec.containers[0].resources.requests.update({"cpu": "500m", "memory": "1Gi"})
    heavy.spec.containers[0].resources.limits.update({"cpu": "1", "memory": "2Gi"})
    cluster.add(heavy)
    cluster.add(pod_of(None, "done", phase="Succeeded"))  # terminated: not listed
    cluster.add(pod_of(None, "elsewhere", node="n2"))
    ev = an_event("n1.1", "Node", "n1", "NodeNotSchedulable", "Node n1 status is now: NodeNotSchedulable", 30, 30,
                  namespace="")
    cluster.add(ev)
    text = describe(cluster, "node", "n1")
    assert text.startswith("""\
Name:               n1
Roles:              control-plane
Labels:             kubernetes.io/hostname=n1
                    kubernetes.io/os=linux
                    node-role.kubernetes.io/control-plane=
Annotations:        <none>
CreationTimestamp:  Wed, 01 May 2024 11:00:00 +0000
Taints:             node.kubernetes.io/unreachable:NoExecute
                    node.kubernetes.io/unschedulable:NoSchedule
Unschedulable:      true
Lease:
  HolderIdentity:  n1
  AcquireTime:     <unset>
  RenewTime:       Wed, 01 May 2024 11:59:59 +0000
Conditions:
  Type    Status  LastHeartbeatTime                 LastTransitionTime                Reason         Message
  ----    ------  -----------------                 ------------------                ------         -------
  Ready   True    Wed, 01 May 2024 11:59:55 +0000   Wed, 01 May 2024 11:00:00 +0000   KubeletReady   kubelet is posting ready status
Addresses:
  InternalIP:  10.88.0.1
  Hostname:    n1
Capacity:
  cpu:     4
  memory:  8Gi
  pods:    110
""")
    assert text.endswith("""\
  Kubelet Version:            v0.1.0
Non-terminated Pods:          (1 in total)
  Namespace                   Name     CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
  ---------                   ----     ------------  ----------  ---------------  -------------  ---
  team-a                      heavy    500m (12%)    1 (25%)     1Gi (12%)        2Gi (25%)      2m
Allocated resources:
  (Total limits may be over 100 percent, i.e., overcommitted.)
  Resource  Requests    Limits
  --------  --------    ------
  cpu       500m (12%)  1 (25%)
  memory    1Gi (12%)   2Gi (25%)
Events:
  Type    Reason              Age   From     Message
  ----    ------              ----  ----     -------
  Normal  NodeNotSchedulable  30s   kubelet  Node n1 status is now: NodeNotSchedulable
""")
    pods_list = [r for r in cluster.requests("List") if r.kind == "Pod"][0]
    assert pods_list.namespace == "" and pods_list.field_selector.startswith("spec.nodeName=n1")
    events_list = [r for r in cluster.requests("List") if r.kind == "Event"][0]
    assert events_list.namespace == "" and "involvedObject.kind=Node" in events_list.field_selector


def test_describe_without_name_describes_all_with_blank_lines_between(cluster: ClusterFake) -> None:
    cluster.add(node("n1"))
    cluster.add(node("n2"))
    text = describe(cluster, "nodes")
    assert text.count("Name:               n") == 2
    assert "Events:     <none>\n\n\nName:               n2\n" in text


def test_describe_name_prefix_and_not_found(cluster: ClusterFake) -> None:
    d = cluster.add(deployment("web"))
    rs = cluster.add(replica_set(d, "abc", 1, 2))
    cluster.add(pod_of(rs, "web-abc-1"))
    cluster.add(pod_of(rs, "web-abc-2"))
    cluster.add(pod_of(None, "api-1"))
    text = describe(cluster, "pods", "web")
    assert text.count("Name:           web-abc-") == 2 and "api-1" not in text
    assert text.endswith("Events:           <none>\n\n")  # kubectl adds a newline after each match
    h = Harness(cluster)
    with pytest.raises(grpc.RpcError) as caught:
        run_verb(h, "describe", "pod", "nope")
    assert caught.value.details() == 'pods "nope" not found'  # type: ignore[attr-defined]


def test_describe_nothing_found_and_show_events_false(cluster: ClusterFake) -> None:
    h = Harness(cluster)
    assert run_verb(h, "describe", "pods") == 0
    assert h.stdout == "" and h.stderr == "No resources found in default namespace.\n"
    cluster.add(node("n1"))
    text = describe(cluster, "node", "n1", "--show-events=false")
    assert "Events:" not in text and not [r for r in cluster.requests("List") if r.kind == "Event"]


def test_describe_namespace_and_generic_kinds(cluster: ClusterFake) -> None:
    ns = core_pb2.Namespace(metadata=meta("team-a"), status=core_pb2.NamespaceStatus(phase="Active"))
    ns.metadata.labels["kubernetes.io/metadata.name"] = "team-a"
    cluster.add(ns)
    assert describe(cluster, "ns", "team-a") == (
        "Name:         team-a\nLabels:       kubernetes.io/metadata.name=team-a\nAnnotations:  <none>\n"
        "Status:       Active\n\nNo resource quota.\n\nNo LimitRange resource.\n")
    lease = coordination_pb2.Lease(metadata=meta("n1", "kube-node-lease"))
    lease.spec.holder_identity = "n1"
    lease.spec.lease_duration_seconds = 40
    cluster.add(lease)
    h = Harness(cluster, namespace="kube-node-lease")
    assert run_verb(h, "describe", "lease", "n1") == 0
    text = h.stdout
    assert "API Version:  coordination.k8s.io/v1\nKind:         Lease\nMetadata:\n" in text
    assert "Spec:\n  Holder Identity:         n1\n  Lease Duration Seconds:  40\nEvents:" in text


def test_small_pieces() -> None:
    assert smart_label("podIP") == "Pod IP" and smart_label("holderIdentity") == "Holder Identity"
    assert smart_label("apiVersion") == "API Version"
    probe = core_pb2.Probe(period_seconds=10, timeout_seconds=1, success_threshold=1, failure_threshold=3)
    probe.http_get.path = "/healthz"
    probe.http_get.port.int_val = 8080
    assert describe_probe(probe) == ("http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 "
                                     "#failure=3")
    exec_probe = core_pb2.Probe(exec=core_pb2.ExecAction(command=["cat", "/tmp/ok"]))
    assert describe_probe(exec_probe).startswith("exec [cat /tmp/ok] delay=0s")
    guaranteed = core_pb2.Pod()
    c = guaranteed.spec.containers.add(name="c")
    c.resources.limits.update({"cpu": "1", "memory": "1Gi"})
    assert qos_class(guaranteed) == "Guaranteed"
    c.resources.requests["cpu"] = "500m"
    assert qos_class(guaranteed) == "Burstable"
    assert rfc1123z(timestamp(0)) == "Wed, 01 May 2024 12:00:00 +0000"
    assert rfc1123z(core_pb2.Pod().metadata.creation_timestamp) == "Mon, 01 Jan 0001 00:00:00 +0000"
