"""The official Python ``kubernetes`` client, unchanged, against the session's shared real
apiserver (rest_server.py): the admin kubeconfig loaded by ``new_client_from_config``, typed
calls in and typed objects out.

list with a label selector, create, strategic-merge patch (the client's default for a dict
body: containers merged by name), replace (and a stale one refused), watch, delete with a
propagation policy, the scale subresource, and errors as ``ApiException`` with Kubernetes'
status code and Status body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import kubernetes
import pytest
from kubernetes.client import AppsV1Api, CoreV1Api, V1DeleteOptions
from kubernetes.client.exceptions import ApiException

from rest_server import RestServer


def pod(name: str, labels: dict[str, str] | None = None, image: str = "nginx") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def deployment(name: str, replicas: int = 2) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                     "env": [{"name": "MODE", "value": "prod"}]},
                    {"name": "log", "image": "busybox", "args": ["tail", "-f", "/dev/null"]}]}}}}


@pytest.fixture
def namespace(rest_server: RestServer) -> Iterator[str]:
    with rest_server.namespace("client") as name:
        yield name


@pytest.fixture
def core(kube_client: kubernetes.client.ApiClient) -> CoreV1Api:
    return CoreV1Api(kube_client)


@pytest.fixture
def apps(kube_client: kubernetes.client.ApiClient) -> AppsV1Api:
    return AppsV1Api(kube_client)


def status_of(err: ApiException) -> dict:
    return json.loads(err.body)


def test_create_and_list_pods_with_a_label_selector(core: CoreV1Api, namespace: str) -> None:
    for name, tier in (("front-1", "front"), ("front-2", "front"), ("back-1", "back")):
        created = core.create_namespaced_pod(namespace, pod(name, {"tier": tier}))
        assert (created.metadata.name, created.metadata.namespace) == (name, namespace)
        assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    fronts = core.list_namespaced_pod(namespace, label_selector="tier=front")
    assert sorted(p.metadata.name for p in fronts.items) == ["front-1", "front-2"]
    assert int(fronts.metadata.resource_version) > 0
    not_front = core.list_namespaced_pod(namespace, label_selector="tier!=front,tier")
    assert [p.metadata.name for p in not_front.items] == ["back-1"]
    everywhere = core.list_pod_for_all_namespaces(label_selector="tier in (back)")
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [(namespace, "back-1")]


def test_strategic_merge_patch_merges_containers_by_name(apps: AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.27", "env": [{"name": "DEBUG", "value": "1"}]}]}}}}
    patched = apps.patch_namespaced_deployment("web", namespace, patch)  # strategic-merge-patch+json
    web, log = patched.spec.template.spec.containers
    assert (web.name, web.image) == ("web", "nginx:1.27")
    assert [(e.name, e.value) for e in web.env] == [("DEBUG", "1"), ("MODE", "prod")]  # env merged by name
    assert [p.container_port for p in web.ports] == [80]  # kept
    assert (log.name, log.image, log.args) == ("log", "busybox", ["tail", "-f", "/dev/null"])  # kept
    assert patched.metadata.generation == 2
    assert apps.read_namespaced_deployment("web", namespace).spec.template.spec.containers[0].image == "nginx:1.27"

    # $patch: delete removes one element of a merged list, by its key.
    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "log", "$patch": "delete"}]}}}})
    assert [c.name for c in patched.spec.template.spec.containers] == ["web"]


def test_replace_and_a_stale_replace(apps: AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    current = apps.read_namespaced_deployment("web", namespace)
    stale_version = current.metadata.resource_version
    current.metadata.labels["tier"] = "front"
    current.spec.replicas = 3
    replaced = apps.replace_namespaced_deployment("web", namespace, current)
    assert replaced.metadata.labels == {"app": "web", "tier": "front"} and replaced.spec.replicas == 3
    assert int(replaced.metadata.resource_version) > int(stale_version)

    current.metadata.resource_version = stale_version
    with pytest.raises(ApiException) as refused:
        apps.replace_namespaced_deployment("web", namespace, current)
    assert refused.value.status == 409
    status = status_of(refused.value)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == \
        ("Status", "Failure", "Conflict", 409)
    assert "the object has been modified; please apply your changes to the latest version and try again" \
        in status["message"]


def test_watch_sees_added_modified_deleted(core: CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    seen: list[tuple[str, str, str]] = []
    watching = threading.Event()

    def watch() -> None:
        watch = kubernetes.watch.Watch()
        watching.set()
        for event in watch.stream(core.list_namespaced_pod, namespace, resource_version=start, timeout_seconds=10):
            obj = event["object"]
            seen.append((event["type"], obj.metadata.name, obj.metadata.labels.get("step", "")))
            if event["type"] == "DELETED":
                watch.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(5)
    core.create_namespaced_pod(namespace, pod("watched", {"step": "made"}))
    core.patch_namespaced_pod("watched", namespace, {"metadata": {"labels": {"step": "patched"}}})
    core.delete_namespaced_pod("watched", namespace)
    watcher.join(15)
    assert not watcher.is_alive()
    assert seen == [("ADDED", "watched", "made"), ("MODIFIED", "watched", "patched"),
                    ("DELETED", "watched", "patched")]


def test_delete_with_a_propagation_policy(core: CoreV1Api, apps: AppsV1Api, namespace: str) -> None:
    """Foreground and Orphan are the garbage collector's work: the apiserver marks the owner
    with its finalizer (and a deletionTimestamp) while it has dependents; Background deletes."""
    owner = apps.create_namespaced_deployment(namespace, deployment("owner"))
    dependent = pod("owned", {"app": "owner"})
    dependent["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "owner",
                                                 "uid": owner.metadata.uid, "controller": True}]
    core.create_namespaced_pod(namespace, dependent)

    apps.delete_namespaced_deployment("owner", namespace, propagation_policy="Foreground")
    marked = apps.read_namespaced_deployment("owner", namespace)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.finalizers == ["foregroundDeletion"]
    apps.patch_namespaced_deployment("owner", namespace, {"metadata": {"$deleteFromPrimitiveList/finalizers": [
        "foregroundDeletion"]}})  # what the garbage collector does once the dependents are gone
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("owner", namespace)
    assert gone.value.status == 404

    apps.create_namespaced_deployment(namespace, deployment("plain"))
    apps.delete_namespaced_deployment("plain", namespace, body=V1DeleteOptions(propagation_policy="Background"))
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == []

    with pytest.raises(ApiException) as refused:
        core.delete_namespaced_pod("owned", namespace, propagation_policy="Sideways")
    assert refused.value.status in (400, 422)
    assert "Sideways" in status_of(refused.value)["message"]
    assert core.read_namespaced_pod("owned", namespace).metadata.deletion_timestamp is None


def test_the_scale_subresource(apps: AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert (scale.kind, scale.api_version, scale.metadata.name, scale.spec.replicas) == \
        ("Scale", "autoscaling/v1", "web", 2)
    patched = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 5

    scale = apps.read_namespaced_deployment_scale("web", namespace)
    scale.spec.replicas = 1
    assert apps.replace_namespaced_deployment_scale("web", namespace, scale).spec.replicas == 1


def test_errors_are_api_exceptions_with_kubernetes_status(core: CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", namespace)
    assert (missing.value.status, missing.value.reason) == (404, "Not Found")
    status = status_of(missing.value)
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": 'pods "nope" not found', "reason": "NotFound",
                      "details": {"name": "nope", "kind": "pods"}, "code": 404}

    core.create_namespaced_pod(namespace, pod("twice"))
    with pytest.raises(ApiException) as again:
        core.create_namespaced_pod(namespace, pod("twice"))
    assert again.value.status == 409
    status = status_of(again.value)
    assert (status["reason"], status["message"], status["details"]) == \
        ("AlreadyExists", 'pods "twice" already exists', {"name": "twice", "kind": "pods"})

    invalid = pod("empty")
    invalid["spec"]["containers"] = []
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, invalid)
    assert refused.value.status == 422
    status = status_of(refused.value)
    assert (status["reason"], status["code"], status["details"]["name"], status["details"]["kind"]) == \
        ("Invalid", 422, "empty", "Pod")
    assert status["message"].startswith('Pod "empty" is invalid: spec.containers: Required value')
    assert {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"} \
        in status["details"]["causes"]
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == ["twice"]
