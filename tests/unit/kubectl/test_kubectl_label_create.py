"""label, annotate, create deployment|namespace and run against the in-memory cluster fake."""

from __future__ import annotations

from typing import Callable

import grpc
import pytest
from kubectl_cluster_fake import ClusterFake, conflict
from kubectl_testlib import FakeRpcError, Harness, meta, run_verb

from apimachinery.convert import to_dict
from kubectl.errors import CliError
from protos import core_pb2

MakeHarness = Callable[..., Harness]


@pytest.fixture
def cluster() -> ClusterFake:
    api = ClusterFake()
    for name, tier in (("web", "front"), ("api", "back")):
        pod = core_pb2.Pod(metadata=meta(name, "default", app="shop", tier=tier))
        pod.spec.containers.add(name="c", image="nginx")
        api.add(pod)
    return api


@pytest.fixture
def on(cluster: ClusterFake) -> MakeHarness:
    return lambda **kwargs: Harness(cluster, **kwargs)


# ------------------------------------------------------------ label, annotate


def test_label_sets_a_key(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "label", "pod/web", "env=prod") == 0
    assert h.stdout == "pod/web labeled\n"
    assert cluster.get("Pod", "web").metadata.labels["env"] == "prod"


def test_label_refuses_to_change_a_value_without_overwrite(cluster: ClusterFake, on: MakeHarness) -> None:
    with pytest.raises(CliError, match=r"^'tier' already has a value \(front\), and --overwrite is false$"):
        run_verb(on(), "label", "pods", "web", "tier=back")
    assert cluster.requests("Update") == []
    h = on()
    assert run_verb(h, "label", "pods", "web", "tier=back", "--overwrite") == 0
    assert h.stdout == "pod/web labeled\n" and cluster.get("Pod", "web").metadata.labels["tier"] == "back"


def test_label_removes_with_a_dash_and_says_unlabeled(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "label", "pod/web", "tier-", "gone-") == 0
    assert h.stdout == 'label "gone" not found.\npod/web unlabeled\n'
    assert "tier" not in cluster.get("Pod", "web").metadata.labels


def test_label_same_value_writes_nothing(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "label", "pod/web", "tier=front") == 0
    assert h.stdout == "pod/web not labeled\n" and cluster.requests("Update") == []


def test_label_by_selector_and_all(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "label", "pods", "-l", "tier=back", "checked=yes") == 0
    assert h.stdout == "pod/api labeled\n"
    h = on()
    assert run_verb(h, "label", "pods", "--all", "zone=a") == 0
    assert h.stdout == "pod/api labeled\npod/web labeled\n"


def test_label_retries_on_conflict(cluster: ClusterFake, on: MakeHarness) -> None:
    cluster.conflicts = 2
    assert run_verb(on(), "label", "pod/web", "env=prod") == 0
    assert len(cluster.requests("Update")) == 3


def test_label_usage_errors(on: MakeHarness) -> None:
    with pytest.raises(CliError, match="at least one label update is required"):
        run_verb(on(), "label", "pod/web")
    with pytest.raises(CliError, match="can not both modify and remove labels in the same command: a"):
        run_verb(on(), "label", "pod/web", "a=1", "a-")
    with pytest.raises(CliError, match="resource\\(s\\) were provided, but no name was specified"):
        run_verb(on(), "label", "pods", "a=1")


def test_annotate_and_its_dry_run(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "annotate", "pod/web", "note=hello world") == 0
    assert h.stdout == "pod/web annotated\n"
    assert cluster.get("Pod", "web").metadata.annotations["note"] == "hello world"
    with pytest.raises(CliError, match=r"'note' already has a value \(hello world\)"):
        run_verb(on(), "annotate", "pod/web", "note=bye")
    h = on()
    assert run_verb(h, "annotate", "pod/web", "note-", "--dry-run=client") == 0
    assert h.stdout == "pod/web annotated (dry run)\n"
    assert "note" in cluster.get("Pod", "web").metadata.annotations


def test_label_of_a_missing_object_is_the_servers_not_found(on: MakeHarness) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        run_verb(on(), "label", "pod/nope", "a=b")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# ---------------------------------------------------------------------- create


def test_create_deployment_is_kubectls(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "create", "deployment", "shop", "--image=docker.io/library/nginx:1.25",
                    "--replicas=3", "--port=80") == 0
    assert h.stdout == "deployment.apps/shop created\n"
    data = to_dict(cluster.get("Deployment", "shop"))
    assert data["metadata"]["labels"] == {"app": "shop"}
    assert data["spec"]["replicas"] == 3
    assert data["spec"]["selector"] == {"matchLabels": {"app": "shop"}}
    assert data["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "docker.io/library/nginx:1.25", "ports": [{"containerPort": 80}]}]


def test_create_deployment_needs_an_image_and_sends_nothing(cluster: ClusterFake, on: MakeHarness) -> None:
    with pytest.raises(CliError, match='required flag\\(s\\) "image" not set'):
        run_verb(on(), "create", "deploy", "shop")
    assert cluster.requests("Create") == []


def test_create_deployment_dry_run_prints_yaml(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "create", "deployment", "shop", "--image=nginx", "--dry-run=client", "-o", "yaml") == 0
    assert "kind: Deployment\n" in h.stdout and "- image: nginx\n" in h.stdout
    assert cluster.requests("Create") == []


def test_create_namespace_and_already_exists(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "create", "namespace", "team-a") == 0
    assert h.stdout == "namespace/team-a created\n"
    with pytest.raises(FakeRpcError, match='namespaces "team-a" already exists'):
        run_verb(on(), "create", "ns", "team-a")


def test_create_without_a_kind_or_file(on: MakeHarness) -> None:
    with pytest.raises(CliError, match="must specify one of -f and -k, or what to create"):
        run_verb(on(), "create")


MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec: {containers: [{name: c, image: busybox}]}
"""


def test_create_from_files_creates_each_and_refuses_existing(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on(stdin=MANIFESTS)
    assert run_verb(h, "create", "-f", "-") == 0
    assert h.stdout == "namespace/team-b created\npod/solo created\n"
    assert cluster.get("Pod", "solo").metadata.namespace == "default"
    with pytest.raises(FakeRpcError, match='namespaces "team-b" already exists'):
        run_verb(on(stdin=MANIFESTS), "create", "-f", "-")


# ------------------------------------------------------------------------- run


def test_run_makes_kubectls_pod(cluster: ClusterFake, on: MakeHarness) -> None:
    h = on()
    assert run_verb(h, "run", "once", "--image=busybox", "--restart=Never", "--env=A=1", "--port=8080",
                    "--", "sh", "-c", "echo hi") == 0
    assert h.stdout == "pod/once created\n"
    data = to_dict(cluster.get("Pod", "once"))
    assert data["metadata"]["labels"] == {"run": "once"}
    assert data["spec"]["restartPolicy"] == "Never"
    assert data["spec"]["containers"] == [{"name": "once", "image": "busybox", "args": ["sh", "-c", "echo hi"],
                                           "env": [{"name": "A", "value": "1"}],
                                           "ports": [{"containerPort": 8080}]}]


def test_run_with_command_and_labels(cluster: ClusterFake, on: MakeHarness) -> None:
    assert run_verb(on(), "run", "sleeper", "--image=busybox", "--labels=app=s,tier=x", "--command",
                    "--", "sleep", "3600") == 0
    pod = cluster.get("Pod", "sleeper")
    assert dict(pod.metadata.labels) == {"app": "s", "tier": "x"}
    assert list(pod.spec.containers[0].command) == ["sleep", "3600"] and not pod.spec.containers[0].args


@pytest.mark.parametrize(("argv", "error"), [
    (("run", "x"), 'required flag\\(s\\) "image" not set'),
    (("run", "x", "--image=busybox", "--restart=Sometimes"), "invalid restart policy: Sometimes"),
    (("run", "x", "--image=busybox", "--env=NOVALUE"), "invalid env: 'NOVALUE': expected KEY=VALUE"),
])
def test_run_bad_input_sends_nothing(cluster: ClusterFake, on: MakeHarness, argv: tuple[str, ...],
                                     error: str) -> None:
    with pytest.raises(CliError, match=error):
        run_verb(on(), *argv)
    assert cluster.requests("Create") == []


def test_words_after_dashes_only_for_verbs_that_take_them(on: MakeHarness) -> None:
    from kubectl.errors import UsageError

    with pytest.raises(UsageError, match="unrecognized arguments: .*x"):
        run_verb(on(), "scale", "deploy/web", "--replicas=1", "--", "x")


def test_conflict_helper_is_the_servers_message() -> None:
    assert "the object has been modified" in conflict("Pod", "web").details()
