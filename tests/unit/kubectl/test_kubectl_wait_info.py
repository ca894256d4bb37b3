"""wait (on a scripted watch), version, api-resources and events against in-memory fakes."""

from __future__ import annotations

import json
from typing import Any, Callable

import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, deployment, settled
from kubectl_testlib import FakeAPI, FakeRpcError, Harness, event, meta, run_verb, timestamp

from apimachinery.kinds import KINDS
from apimachinery.version import version_info
from kubectl.errors import CliError
from protos import api_pb2, core_pb2

MakeHarness = Callable[..., Harness]


def a_pod(name: str = "web", ready: bool = False, phase: str = "Pending") -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta(name, "default"))
    pod.spec.containers.add(name="c", image="nginx")
    pod.status.phase = phase
    pod.status.conditions.add(type="Ready", status="True" if ready else "False")
    return pod


@pytest.fixture
def cluster() -> ClusterFake:
    return ClusterFake()


@pytest.fixture
def on(cluster: ClusterFake) -> MakeHarness:
    return lambda **kwargs: Harness(cluster, **kwargs)


# ------------------------------------------------------------------------ wait


def test_wait_watches_until_the_condition_holds(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(a_pod())
    cluster.watch_script = [[event("MODIFIED", a_pod(phase="Running")), event("MODIFIED", a_pod(ready=True))]]
    h = on()
    assert run_verb(h, "wait", "--for=condition=ready", "pod/web", "--timeout=30s") == 0
    assert h.stdout == "pod/web condition met\n"
    [watch] = cluster.requests("Watch")
    assert watch.field_selector == "metadata.name=web" and watch.resource_version == "11"
    assert cluster.requests("List") == []  # one Get, then the watch: no polling


def test_wait_that_is_already_true_does_not_watch(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(settled(deployment("web")))
    h = on()
    assert run_verb(h, "wait", "--for=condition=Available=True", "deployment/web") == 0
    assert h.stdout == "deployment.apps/web condition met\n" and cluster.requests("Watch") == []


def test_wait_condition_false_and_generation_not_yet_observed(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(a_pod())
    assert run_verb(on(), "wait", "--for=condition=Ready=false", "pod/web", "--timeout=0") == 0
    stale = settled(deployment("web"))
    stale.metadata.generation = 2  # the controller has not seen the new spec: not yet Available
    cluster.add(stale)
    with pytest.raises(CliError, match="^timed out waiting for the condition on deployments.apps/web$"):
        run_verb(on(), "wait", "--for=condition=Available", "deploy/web", "--timeout=0")


def test_wait_times_out_with_kubectls_message(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(a_pod())
    cluster.watch_script = [FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
    with pytest.raises(CliError, match="^timed out waiting for the condition on pods/web$"):
        run_verb(on(), "wait", "--for=condition=Ready", "pod/web", "--timeout=1s")


def test_wait_for_delete(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(a_pod())
    cluster.watch_script = [[event("MODIFIED", a_pod()), event("DELETED", a_pod())]]
    h = on()
    assert run_verb(h, "wait", "--for=delete", "pod/web") == 0
    assert h.stdout == "pod/web condition met\n"
    h = on()
    assert run_verb(h, "wait", "--for=delete", "pod/gone") == 0  # already gone: met at once
    assert h.stdout == "pod/gone condition met\n"


def test_wait_for_jsonpath(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(a_pod())
    cluster.watch_script = [[event("MODIFIED", a_pod(phase="Running"))]]
    h = on()
    assert run_verb(h, "wait", "--for=jsonpath={.status.phase}=Running", "pod/web") == 0
    assert h.stdout == "pod/web condition met\n"


def test_wait_by_selector_waits_for_each(cluster: ClusterFake, on: MakeHarness) -> None:
    for name in ("a", "b"):
        pod = a_pod(name, ready=True)
        pod.metadata.labels["app"] = "web"
        cluster.add(pod)
    h = on()
    assert run_verb(h, "wait", "--for=condition=Ready", "pods", "-l", "app=web") == 0
    assert h.stdout == "pod/a condition met\npod/b condition met\n"
    with pytest.raises(CliError, match="^no matching resources found$"):
        run_verb(on(), "wait", "--for=condition=Ready", "pods", "-l", "app=none")


def test_wait_on_a_missing_object_is_not_found(on: MakeHarness) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        run_verb(on(), "wait", "--for=condition=Ready", "pod/nope")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("argv", "error"), [
    (("wait", "pod/web"), "--for must be specified"),
    (("wait", "--for=ready", "pod/web"), 'unrecognized condition: "ready"'),
    (("wait", "--for=jsonpath={.status.phase", "pod/web"), "unexpected path string"),
    (("wait", "--for=jsonpath={.items[}=x", "pod/web"), "error parsing jsonpath {.items\\[}, unterminated array"),
])
def test_wait_bad_input_asks_nothing(cluster: ClusterFake, on: MakeHarness, argv: tuple[str, ...],
                                     error: str) -> None:
    with pytest.raises(CliError, match=error):
        run_verb(on(), *argv)
    assert cluster.calls == []


# ----------------------------------------------------- version, api-resources


class DiscoveryFake(FakeAPI):
    """The two answers the server builds from its own tables."""

    def Version(self, request: api_pb2.VersionRequest, timeout: float | None = None) -> api_pb2.VersionInfo:
        self._record("Version", request)
        return api_pb2.VersionInfo(major="0", minor="9", git_version="v0.9.0", platform="linux/amd64")

    def Discovery(self, request: api_pb2.DiscoveryRequest, timeout: float | None = None) -> Any:
        self._record("Discovery", request)
        return api_pb2.DiscoveryResponse(resources=[
            api_pb2.APIResource(name=k.plural, short_names=k.short_names, api_version=k.api_version,
                                namespaced=k.namespaced, kind=k.kind, verbs=["get", "list"]) for k in KINDS])


def test_version_prints_client_and_server() -> None:
    h = Harness(DiscoveryFake())
    assert run_verb(h, "version") == 0
    assert h.stdout == f"Client Version: {version_info().git_version}\nServer Version: v0.9.0\n"


def test_version_client_only_asks_no_server() -> None:
    api = DiscoveryFake()
    h = Harness(api)
    assert run_verb(h, "version", "--client", "-o", "json") == 0
    document = json.loads(h.stdout)
    assert set(document) == {"clientVersion"} and document["clientVersion"]["gitVersion"].startswith("v")
    assert api.calls == []


def test_api_resources_table_is_sorted_like_kubectls() -> None:
    h = Harness(DiscoveryFake())
    assert run_verb(h, "api-resources") == 0
    lines = h.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert [line.split()[0] for line in lines[1:]] == [
        "configmaps", "events", "namespaces", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods",
        "secrets", "services", "daemonsets", "deployments",
        "replicasets", "statefulsets", "cronjobs", "jobs", "leases", "endpointslices", "clusterrolebindings",
        "clusterroles", "rolebindings", "roles", "storageclasses"]
    assert lines[-1].split() == ["storageclasses", "sc", "storage.k8s.io/v1", "false", "StorageClass"]


def test_api_resources_filters_and_names() -> None:
    h = Harness(DiscoveryFake())
    assert run_verb(h, "api-resources", "--namespaced=false", "--no-headers") == 0
    assert [line.split()[0] for line in h.stdout.splitlines()] == ["namespaces", "nodes", "persistentvolumes",
                                                                   "clusterrolebindings", "clusterroles",
                                                                   "storageclasses"]
    h = Harness(DiscoveryFake())
    assert run_verb(h, "api-resources", "--api-group=apps", "-o", "name") == 0
    assert h.stdout == "daemonsets.apps\ndeployments.apps\nreplicasets.apps\nstatefulsets.apps\n"


# ---------------------------------------------------------------------- events


def an_event(name: str, kind: str, obj: str, reason: str, seconds_ago: float, count: int = 1,
             event_type: str = "Normal", namespace: str = "default") -> core_pb2.Event:
    e = core_pb2.Event(metadata=meta(name, namespace), reason=reason, type=event_type, count=count,
                       message=f"{reason} happened")
    e.involved_object.kind, e.involved_object.name, e.involved_object.namespace = kind, obj, namespace
    e.first_timestamp.CopyFrom(timestamp(seconds_ago + 300 if count > 1 else seconds_ago))
    e.last_timestamp.CopyFrom(timestamp(seconds_ago))
    return e


@pytest.fixture
def events(cluster: ClusterFake) -> ClusterFake:
    cluster.add(an_event("e1", "Pod", "web", "Pulled", 30))
    cluster.add(an_event("e2", "Pod", "web", "Scheduled", 90))
    cluster.add(an_event("e3", "Pod", "crash", "BackOff", 10, count=4, event_type="Warning"))
    cluster.add(an_event("e4", "Deployment", "web", "ScalingReplicaSet", 120, namespace="other"))
    return cluster


def test_events_oldest_first_with_kubectls_columns(events: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "events") == 0
    assert h.stdout == (
        "LAST SEEN             TYPE      REASON      OBJECT      MESSAGE\n"
        "90s                   Normal    Scheduled   Pod/web     Scheduled happened\n"
        "30s                   Normal    Pulled      Pod/web     Pulled happened\n"
        "10s (x4 over 5m10s)   Warning   BackOff     Pod/crash   BackOff happened\n"
    )


def test_events_for_one_object_types_and_all_namespaces(events: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "events", "--for", "pod/web", "--no-headers") == 0
    assert [line.split()[2] for line in h.stdout.splitlines()] == ["Scheduled", "Pulled"]
    assert events.requests("List")[-1].field_selector == "involvedObject.kind=Pod,involvedObject.name=web"
    h = on()
    assert run_verb(h, "events", "--types=warning") == 0
    [_, only] = h.stdout.splitlines()
    assert "   Warning   BackOff   " in only
    h = on()
    assert run_verb(h, "events", "-A") == 0
    assert h.stdout.splitlines()[0].split()[:3] == ["NAMESPACE", "LAST", "SEEN"]
    assert h.stdout.splitlines()[1].startswith("other ")


def test_events_none_found(on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "events") == 0
    assert (h.stdout, h.stderr) == ("", "No events found in default namespace.\n")
    with pytest.raises(CliError, match="valid --types are Normal or Warning"):
        run_verb(on(), "events", "--types=Error")


def test_events_watch_prints_new_events_as_rows(events: ClusterFake, on: MakeHarness) -> None:
    events.watch_script = [[event("ADDED", an_event("e5", "Pod", "web", "Started", 1))]]
    h = on()
    assert run_verb(h, "events", "--for=pod/web", "-w") == 0  # the fake's Ctrl-C ends the watch
    assert [line.split()[2] for line in h.stdout.splitlines()[1:]] == ["Scheduled", "Pulled", "Started"]
    assert events.requests("Watch")[0].field_selector == "involvedObject.kind=Pod,involvedObject.name=web"


def test_get_watch_with_a_jsonpath_prints_each_change(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.add(a_pod())
    cluster.watch_script = [[event("MODIFIED", a_pod(phase="Running"))]]
    h = on()
    assert run_verb(h, "get", "pods", "-w", "-o", 'jsonpath={.metadata.name}={.status.phase}{"\\n"}') == 0
    assert h.stdout == "web=Pending\nweb=Running\n"
