"""apply, get and delete against an in-memory fake of the API (no server, no network)."""

from __future__ import annotations

from typing import Callable

import grpc
import pytest
from kubectl_testlib import FakeAPI, FakeRpcError, Harness, event, meta, run_verb

from kubectl.errors import CliError
from kubectl.manifest import ManifestError
from protos import apps_pb2, core_pb2

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: multi-worker}
spec:
  replicas: 4
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: worker, image: busybox}]}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader, namespace: kube-system}
"""

MakeHarness = Callable[..., Harness]


def a_pod(name: str, namespace: str = "default", phase: str = "Running") -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta(name, namespace), status=core_pb2.PodStatus(phase=phase))
    pod.spec.containers.add(name="c", image="nginx")
    return pod


# ------------------------------------------------------------------- apply


def test_apply_sends_everything_in_one_call_and_prints_kubectl_lines(api: FakeAPI, harness: MakeHarness) -> None:
    h = harness(stdin=MANIFESTS)
    assert run_verb(h, "apply", "-f", "-") == 0
    [request] = api.requests("Apply")
    assert len(request.objects) == 3 and request.field_manager == "kubectl" and not request.dry_run
    assert h.stdout == (
        "namespace/team-a created\n"
        "deployment.apps/multi-worker created\n"
        "lease.coordination.k8s.io/leader created\n"
    )
    h2 = harness(stdin=MANIFESTS)
    run_verb(h2, "apply", "-f", "-")
    assert "deployment.apps/multi-worker configured\n" in h2.stdout


def test_apply_fills_in_the_namespace_for_namespaced_kinds_only(api: FakeAPI, harness: MakeHarness) -> None:
    run_verb(harness(namespace="team-a", stdin=MANIFESTS), "apply", "-f", "-")
    namespaces = {obj.WhichOneof("kind"): getattr(obj, obj.WhichOneof("kind")).metadata.namespace
                  for obj in api.requests("Apply")[0].objects}
    assert namespaces == {"namespace": "", "deployment": "team-a", "lease": "kube-system"}


def test_apply_refuses_an_object_of_another_namespace_than_n(api: FakeAPI, harness: MakeHarness) -> None:
    with pytest.raises(CliError, match='object "kube-system" does not match the namespace "team-a"'):
        run_verb(harness(namespace="team-a", namespace_from_flag=True, stdin=MANIFESTS), "apply", "-f", "-")
    assert api.calls == []


def test_apply_with_a_bad_document_sends_nothing(api: FakeAPI, harness: MakeHarness) -> None:
    bad = MANIFESTS + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n"
    with pytest.raises(ManifestError, match=r'"STDIN" \(document 4\): Pod.spec.containers: expected a list'):
        run_verb(harness(stdin=bad), "apply", "-f", "-")
    assert api.calls == []


def test_apply_server_dry_run(api: FakeAPI, harness: MakeHarness) -> None:
    h = harness(stdin=MANIFESTS)
    run_verb(h, "apply", "-f", "-", "--dry-run=server")
    assert api.requests("Apply")[0].dry_run
    assert api.objects == {}
    assert h.stdout.splitlines()[1] == "deployment.apps/multi-worker created (server dry run)"


def test_apply_client_dry_run_writes_nothing(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(core_pb2.Namespace(metadata=meta("team-a")))
    h = harness(stdin=MANIFESTS)
    run_verb(h, "apply", "-f", "-", "--dry-run=client")
    assert api.requests("Apply") == []
    assert h.stdout.splitlines()[:2] == ["namespace/team-a configured (dry run)",
                                         "deployment.apps/multi-worker created (dry run)"]


def test_apply_needs_a_file(harness: MakeHarness) -> None:
    with pytest.raises(CliError, match="must specify one of -f"):
        run_verb(harness(), "apply")
    with pytest.raises(CliError, match="no objects passed to apply"):
        run_verb(harness(stdin="---\n"), "apply", "-f", "-")


def test_apply_server_error_propagates_for_main_to_report(api: FakeAPI, harness: MakeHarness) -> None:
    api.errors["Apply"] = FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "Deployment.apps \"x\" is invalid")
    with pytest.raises(grpc.RpcError):
        run_verb(harness(stdin=MANIFESTS), "apply", "-f", "-")


# --------------------------------------------------------------------- get


def test_get_lists_the_namespace_as_a_table(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    api.add(a_pod("other", namespace="team-a"))
    h = harness()
    assert run_verb(h, "get", "po", "-l", "app=web", "--field-selector", "status.phase=Running") == 0
    [request] = api.requests("List")
    assert (request.kind, request.namespace, request.label_selector, request.field_selector) == (
        "Pod", "default", "app=web", "status.phase=Running")
    assert h.stdout.splitlines() == [
        "NAME   READY   STATUS    RESTARTS   AGE",
        "web    0/1     Running   0          60s",
    ]


def test_get_all_namespaces_adds_the_column(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    api.add(a_pod("other", namespace="team-a"))
    h = harness()
    run_verb(h, "get", "pods", "-A")
    assert api.requests("List")[0].namespace == ""
    assert [line.split()[:2] for line in h.stdout.splitlines()] == [
        ["NAMESPACE", "NAME"], ["default", "web"], ["team-a", "other"]]


def test_get_cluster_scoped_kinds_ignore_the_namespace(api: FakeAPI, harness: MakeHarness) -> None:
    h = harness(namespace="team-a")
    run_verb(h, "get", "nodes")
    assert api.requests("List")[0].namespace == ""
    assert h.stderr == "No resources found\n"


def test_get_empty_namespace_says_so_on_stderr(harness: MakeHarness) -> None:
    h = harness()
    assert run_verb(h, "get", "deploy") == 0
    assert (h.stdout, h.stderr) == ("", "No resources found in default namespace.\n")


def test_get_by_name_shows_found_and_reports_missing(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    h = harness()
    assert run_verb(h, "get", "pods", "web", "nope", "-o", "name") == 1
    assert h.stdout == "pod/web\n"
    assert h.stderr == 'Error from server (NotFound): pods "nope" not found\n'


def test_get_type_slash_name(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    h = harness()
    assert run_verb(h, "get", "pod/web", "-o", "name") == 0
    assert h.stdout == "pod/web\n"


def test_get_one_object_as_yaml_is_the_object_several_are_a_list(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    api.add(a_pod("api"))
    one = harness()
    run_verb(one, "get", "pod", "web", "-o", "yaml")
    assert one.stdout.startswith("apiVersion: v1\nkind: Pod\n")
    listed = harness()
    run_verb(listed, "get", "pods", "-o", "yaml")
    assert listed.stdout.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n")
    assert listed.stdout.endswith("kind: List\nmetadata:\n  resourceVersion: ''\n")


def test_get_hides_managed_fields_unless_asked_like_kubectl(api: FakeAPI, harness: MakeHarness) -> None:
    pod = a_pod("web")
    entry = pod.metadata.managed_fields.add(manager="kubectl", operation="Apply", api_version="v1",
                                            fields_type="FieldsV1")
    entry.fields_v1.update({"f:spec": {"f:containers": {}}})
    api.add(pod)
    for output in ("yaml", "json"):
        hidden = harness()
        run_verb(hidden, "get", "pod", "web", "-o", output)
        assert "managedFields" not in hidden.stdout and "name: web" in hidden.stdout.replace('"', "").replace(",", "")
        listed = harness()
        run_verb(listed, "get", "pods", "-o", output)
        assert "managedFields" not in listed.stdout
        shown = harness()
        run_verb(shown, "get", "pod", "web", "-o", output, "--show-managed-fields")
        assert "managedFields" in shown.stdout and "f:containers" in shown.stdout


def test_get_rejects_names_with_all_namespaces_or_selector(harness: MakeHarness) -> None:
    with pytest.raises(CliError, match="across all namespaces"):
        run_verb(harness(), "get", "pods", "web", "-A")
    with pytest.raises(CliError, match="selector"):
        run_verb(harness(), "get", "pods", "web", "-l", "a=b")


def test_get_watch_prints_table_then_rows_and_relists_when_too_old(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web", phase="Pending"))
    running = a_pod("web")
    running.metadata.resource_version = "20"
    bookmark = core_pb2.Pod(metadata=meta("", age_seconds=None))
    bookmark.metadata.resource_version = "21"
    created = a_pod("api")
    api.watch_script = [
        [event("MODIFIED", running), event("BOOKMARK", bookmark)],
        FakeRpcError(grpc.StatusCode.OUT_OF_RANGE, "too old resource version: 21 (30)"),
    ]

    original_list = api.List

    def list_and_change(request, timeout=None):  # type: ignore[no-untyped-def]
        if api.requests("List"):
            # The relist after "too old": meanwhile "web" was deleted and "api" created.
            api.objects.clear()
            api.add(created)
        return original_list(request, timeout)

    api.List = list_and_change  # type: ignore[method-assign]
    h = harness()
    assert run_verb(h, "get", "pods", "-w") == 0  # the script ends with Ctrl-C: a clean exit
    assert h.stdout.splitlines() == [
        "NAME   READY   STATUS    RESTARTS   AGE",
        "web    0/1     Pending   0          60s",
        "web    0/1     Running   0          60s",
        "web    0/1     Running   0          60s",  # gone during the gap: shown once more, as kubectl shows a delete
        "api    0/1     Running   0          60s",
    ]
    watches = api.requests("Watch")
    assert watches[0].resource_version == "11" and watches[0].allow_bookmarks
    assert watches[1].resource_version == "21"  # the bookmark moved it on
    assert watches[2].resource_version == "12"  # the relist's


def test_get_watch_one_name_uses_a_field_selector(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    run_verb(harness(), "get", "pod", "web", "-w")
    assert api.requests("List")[0].field_selector == "metadata.name=web"
    assert api.requests("Watch")[0].field_selector == "metadata.name=web"


def test_get_watch_of_a_missing_name_is_not_found(harness: MakeHarness) -> None:
    with pytest.raises(grpc.RpcError):
        run_verb(harness(), "get", "pod", "web", "-w")


# ------------------------------------------------------------------ delete


def test_delete_by_name_prints_and_waits(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(apps_pb2.Deployment(metadata=meta("multi-worker", "default")))
    h = harness()
    assert run_verb(h, "delete", "deploy", "multi-worker") == 0
    [request] = api.requests("Delete")
    assert (request.kind, request.namespace, request.name, request.propagation_policy) == (
        "Deployment", "default", "multi-worker", "Background")
    assert not request.HasField("grace_period_seconds")
    assert h.stdout == 'deployment.apps "multi-worker" deleted\n'
    # Already gone by the time it checked: a List, no Watch needed.
    assert api.requests("List")[0].field_selector == "metadata.name=multi-worker"
    assert api.requests("Watch") == []


def test_delete_waits_for_a_graceful_pod_through_watch(api: FakeAPI, harness: MakeHarness) -> None:
    pod = api.add(a_pod("web"))
    terminating = core_pb2.Pod()
    terminating.CopyFrom(pod)
    terminating.metadata.deletion_timestamp.GetCurrentTime()
    api.on_delete = lambda obj: api.add(terminating)  # graceful: still there, Terminating
    api.watch_script = [[event("MODIFIED", terminating), event("DELETED", terminating)]]
    h = harness()
    assert run_verb(h, "delete", "pod", "web") == 0
    assert len(api.requests("Watch")) == 1 and h.stderr == ""


def test_delete_wait_times_out(api: FakeAPI, harness: MakeHarness) -> None:
    pod = api.add(a_pod("web"))
    api.on_delete = lambda obj: api.add(pod)
    api.watch_script = [FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")]
    h = harness()
    assert run_verb(h, "delete", "pod", "web", "--timeout", "0.01s") == 1
    assert h.stderr == "error: timed out waiting for the condition on pods/web\n"


def test_delete_no_wait_and_cascade_and_grace(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    run_verb(harness(), "delete", "pod", "web", "--wait=false", "--cascade=foreground", "--grace-period", "30")
    [request] = api.requests("Delete")
    assert request.propagation_policy == "Foreground" and request.grace_period_seconds == 30
    assert api.requests("List") == []


def test_delete_force_means_grace_zero_with_a_warning(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    h = harness()
    run_verb(h, "delete", "pod", "web", "--force")
    assert api.requests("Delete")[0].grace_period_seconds == 0
    assert h.stdout == 'pod "web" force deleted\n'
    assert h.stderr.startswith("Warning: Immediate deletion does not wait")


def test_delete_grace_zero_without_force_becomes_one(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    run_verb(harness(), "delete", "pod", "web", "--grace-period=0", "--cascade=orphan")
    request = api.requests("Delete")[0]
    assert request.grace_period_seconds == 1 and request.propagation_policy == "Orphan"


def test_delete_missing_reports_and_continues(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(a_pod("web"))
    h = harness()
    assert run_verb(h, "delete", "pods", "nope", "web") == 1
    assert h.stdout == 'pod "web" deleted\n'
    assert h.stderr == 'Error from server (NotFound): pods "nope" not found\n'
    quiet = harness()
    assert run_verb(quiet, "delete", "pods", "nope", "--ignore-not-found") == 0
    assert quiet.stderr == ""


def test_delete_by_selector_and_all(api: FakeAPI, harness: MakeHarness) -> None:
    for name in ("a", "b"):
        api.add(a_pod(name))
    h = harness()
    assert run_verb(h, "delete", "pods", "-l", "app=web", "--wait=false") == 0
    assert api.requests("List")[0].label_selector == "app=web"
    assert h.stdout == 'pod "a" deleted\npod "b" deleted\n'
    none_left = harness()
    assert run_verb(none_left, "delete", "pods", "--all") == 0
    assert none_left.stderr == "No resources found\n"


def test_delete_from_manifests(api: FakeAPI, harness: MakeHarness) -> None:
    h = harness(stdin=MANIFESTS)
    api.add(core_pb2.Namespace(metadata=meta("team-a")))
    api.add(apps_pb2.Deployment(metadata=meta("multi-worker", "default")))
    assert run_verb(h, "delete", "-f", "-", "--wait=false") == 1  # the Lease does not exist
    assert h.stdout == 'namespace "team-a" deleted\ndeployment.apps "multi-worker" deleted\n'
    assert h.stderr == 'Error from server (NotFound): leases "leader" not found\n'


def test_delete_argument_errors(harness: MakeHarness) -> None:
    with pytest.raises(CliError, match="You must provide one or more resources"):
        run_verb(harness(), "delete")
    with pytest.raises(CliError, match="no name was specified"):
        run_verb(harness(), "delete", "pods")
    with pytest.raises(CliError, match="may not specify resource arguments"):
        run_verb(harness(stdin=MANIFESTS), "delete", "pods", "-f", "-")
    with pytest.raises(CliError, match="invalid cascade value"):
        run_verb(harness(), "delete", "pods", "x", "--cascade=sideways")


def test_delete_unreachable_server_stops_at_once(api: FakeAPI, harness: MakeHarness) -> None:
    api.errors["Delete"] = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Connection refused")
    with pytest.raises(grpc.RpcError):
        run_verb(harness(), "delete", "pods", "a", "b")
    assert len(api.requests("Delete")) == 1


def test_get_several_kinds_prints_a_table_each_with_kind_prefixed_names(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(apps_pb2.Deployment(metadata=meta("web", "default"), spec=apps_pb2.DeploymentSpec(replicas=1)))
    api.add(a_pod("web-1"))
    h = harness()
    assert run_verb(h, "get", "deploy,rs,po") == 0
    assert h.stdout.splitlines() == [
        "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE",
        "deployment.apps/web   0/1     0            0           60s",
        "",
        "NAME        READY   STATUS    RESTARTS   AGE",
        "pod/web-1   0/1     Running   0          60s",
    ]
    assert [request.kind for request in api.requests("List")] == ["Deployment", "ReplicaSet", "Pod"]


def test_get_several_kinds_as_yaml_is_one_list(api: FakeAPI, harness: MakeHarness) -> None:
    api.add(apps_pb2.Deployment(metadata=meta("web", "default")))
    api.add(a_pod("web-1"))
    h = harness()
    run_verb(h, "get", "deploy,po", "-o", "yaml")
    assert h.stdout.startswith("apiVersion: v1\nitems:\n")
    assert h.stdout.count("\n  kind: ") == 2


def test_get_several_kinds_cannot_be_watched(harness: MakeHarness) -> None:
    with pytest.raises(CliError, match="only specify a single resource type"):
        run_verb(harness(), "get", "deploy,po", "-w")
