"""Bad input to the Kubernetes HTTP API, over real HTTPS (the session's shared apiserver,
rest_server.py, the admin's client certificate): each answer is Kubernetes' ``Status``
(kind, apiVersion, status, reason, code as the HTTP code) and nothing is written (the list
shows no such object; an existing object keeps its content and resourceVersion).

The bad workload manifests of issue 14 go through pykubectl (the same server's gRPC port, the
admin's admin.kubeconfig) as a person applies them: exit code 1, Kubernetes' message, no
traceback, nothing written (no object, or the existing one at its resourceVersion).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from apimachinery.limits import MAX_REQUEST_BYTES
from rest_server import Reply, RestServer


def pod(name: str, namespace: str | None = None, **extra_spec: object) -> dict:
    metadata: dict = {"name": name, "labels": {"app": name}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **extra_spec}}


def failure(reply: Reply, code: int, reason: str) -> dict:
    """The Status of a refused request, checked against Kubernetes' shape."""
    assert reply.status == code, reply.body
    assert reply.headers.get("Content-Type", "").startswith("application/json")
    body = reply.body
    assert (body["kind"], body["apiVersion"], body["metadata"], body["status"], body["reason"], body["code"]) == \
        ("Status", "v1", {}, "Failure", reason, code), body
    return body


@pytest.fixture
def namespace(rest_server: RestServer) -> Iterator[str]:
    with rest_server.namespace("bad-input") as name:
        yield name


def pod_names(rest_server: RestServer, namespace: str) -> list[str]:
    listed = rest_server.request("GET", f"/api/v1/namespaces/{namespace}/pods")
    assert listed.status == 200, listed.body
    return [item["metadata"]["name"] for item in listed.body["items"]]


def test_malformed_json_is_a_bad_request(rest_server: RestServer, namespace: str) -> None:
    reply = rest_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", b'{"apiVersion": "v1", "kind": ')
    body = failure(reply, 400, "BadRequest")
    assert body["message"].startswith("couldn't get version/kind; json parse error: ")
    assert pod_names(rest_server, namespace) == []


def test_an_unknown_field_with_strict_validation(rest_server: RestServer, namespace: str) -> None:
    manifest = pod("strict")
    manifest["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    path = f"/api/v1/namespaces/{namespace}/pods"
    body = failure(rest_server.request("POST", f"{path}?fieldValidation=Strict", manifest), 400, "BadRequest")
    assert 'strict decoding error: unknown field "spec.containers[0].imagePullPolicyy"' in body["message"]
    assert pod_names(rest_server, namespace) == []

    # Warn (the default for kubectl) and Ignore drop the field and write the rest.
    warned = rest_server.request("POST", f"{path}?fieldValidation=Warn", manifest)
    assert warned.status == 201, warned.body
    assert warned.headers.get("Warning") == '299 - "unknown field \\"spec.containers[0].imagePullPolicyy\\""'
    assert "imagePullPolicyy" not in json.dumps(warned.body)
    assert pod_names(rest_server, namespace) == ["strict"]


def test_a_body_in_a_type_the_server_does_not_read(rest_server: RestServer, namespace: str) -> None:
    reply = rest_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", json.dumps(pod("typed")).encode(),
                                content_type="text/plain")
    body = failure(reply, 415, "UnsupportedMediaType")
    assert "application/json" in body["message"]
    assert pod_names(rest_server, namespace) == []


def test_a_body_over_3_mib_is_too_large(rest_server: RestServer, namespace: str) -> None:
    manifest = pod("huge")
    manifest["metadata"]["annotations"] = {"filler": "x" * (MAX_REQUEST_BYTES + 1)}
    reply = rest_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", manifest)
    body = failure(reply, 413, "RequestEntityTooLarge")
    assert body["message"] == f"Request entity too large: limit is {MAX_REQUEST_BYTES}"
    assert pod_names(rest_server, namespace) == []


def test_a_patch_that_breaks_validation_changes_nothing(rest_server: RestServer, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods/kept"
    made = rest_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod("kept"))
    assert made.status == 201, made.body
    before = rest_server.request("GET", path).body

    broken = {"metadata": {"labels": {"app": "-not a label value-"}}}
    body = failure(rest_server.request("PATCH", path, broken, content_type="application/merge-patch+json"),
                   422, "Invalid")
    assert body["message"].startswith('Pod "kept" is invalid: metadata.labels: Invalid value: "-not a label value-"')
    assert (body["details"]["name"], body["details"]["kind"]) == ("kept", "Pod")
    [cause] = body["details"]["causes"]
    assert (cause["reason"], cause["field"]) == ("FieldValueInvalid", "metadata.labels")

    # A JSON patch whose test fails, a strategic merge patch that is not an object.
    test_fails = [{"op": "test", "path": "/metadata/labels/app", "value": "other"},
                  {"op": "replace", "path": "/metadata/labels/app", "value": "changed"}]
    reply = rest_server.request("PATCH", path, json.dumps(test_fails).encode(),
                                content_type="application/json-patch+json")
    assert failure(reply, 422, "Invalid")["message"] == "testing value /metadata/labels/app failed: test failed"
    failure(rest_server.request("PATCH", path, b"[1, 2]", content_type="application/strategic-merge-patch+json"),
            400, "BadRequest")
    failure(rest_server.request("PATCH", path, b"{nope", content_type="application/merge-patch+json"),
            400, "BadRequest")

    after = rest_server.request("GET", path).body
    assert after == before
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_a_namespace_or_name_that_does_not_match_the_url(rest_server: RestServer, namespace: str) -> None:
    body = failure(rest_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod("elsewhere", "default")),
                   400, "BadRequest")
    assert body["message"] == "the namespace of the provided object does not match the namespace sent on the request"
    assert pod_names(rest_server, namespace) == []
    assert "elsewhere" not in pod_names(rest_server, "default")

    made = rest_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod("named"))
    assert made.status == 201, made.body
    renamed = {**made.body, "metadata": {**made.body["metadata"], "name": "other"}}
    body = failure(rest_server.request("PUT", f"/api/v1/namespaces/{namespace}/pods/named", renamed),
                   400, "BadRequest")
    assert body["message"] == "the name of the object (other) does not match the name on the URL (named)"
    after = rest_server.request("GET", f"/api/v1/namespaces/{namespace}/pods/named").body
    assert after["metadata"]["resourceVersion"] == made.body["metadata"]["resourceVersion"]
    assert pod_names(rest_server, namespace) == ["named"]



# ---------------------------------------------------------------- workload manifests via pykubectl

def _pod_yaml(name: str, container_extra: str = "", spec_extra: str = "") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec_extra}"
            f"  containers:\n  - name: c\n    image: nginx\n{container_extra}")


_JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: negative
spec:
  completions: -1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
"""

_CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: badcron
spec:
  schedule: "61 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: c
            image: busybox
"""

_BIG_SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\ndata:\n  blob: {}\n".format(
    base64.b64encode(b"x" * (1024 * 1024 + 1)).decode())

# case -> (manifest, kind to list afterwards, fragments of the error)
WORKLOAD_BAD_INPUTS = {
    "configmap-key-ref-without-key": (
        _pod_yaml("nokey", "    env:\n    - name: A\n      valueFrom:\n        configMapKeyRef: {name: app}\n"),
        "pods", ['Pod "nokey" is invalid', "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: "
                 "Required value"]),
    "secret-key-ref-bad-key": (
        _pod_yaml("badkey", "    env:\n    - name: A\n      valueFrom:\n        secretKeyRef: {name: db, key: a/b}\n"),
        "pods", ['spec.containers[0].env[0].valueFrom.secretKeyRef.key: Invalid value: "a/b"',
                 "a valid config key must consist of alphanumeric characters"]),
    "env-from-without-a-source": (
        _pod_yaml("nosource", "    envFrom:\n    - prefix: APP_\n"),
        "pods", ['spec.containers[0].envFrom[0]: Invalid value: "": must specify one of: '
                 "`configMapRef` or `secretRef`"]),
    "secret-over-1-mib": (
        _BIG_SECRET, "secrets", ['Secret "big" is invalid', "data: Too long: must have at most 1048576 bytes"]),
    "host-path-of-an-unknown-type": (
        _pod_yaml("hostpath", "    volumeMounts:\n    - {name: h, mountPath: /h}\n",
                  "  volumes:\n  - name: h\n    hostPath: {path: /srv/data, type: Folder}\n"),
        "pods", ['spec.volumes[0].hostPath.type: Unsupported value: "Folder"', '"DirectoryOrCreate"']),
    "job-completions-below-zero": (
        _JOB, "jobs", ['Job.batch "negative" is invalid',
                       "spec.completions: Invalid value: -1: must be greater than or equal to 0"]),
    "cronjob-invalid-schedule": (
        _CRONJOB, "cronjobs", ['CronJob.batch "badcron" is invalid', 'spec.schedule: Invalid value: "61 * * * *"',
                               "above maximum (59)"]),
}


@pytest.mark.parametrize("case", sorted(WORKLOAD_BAD_INPUTS))
def test_bad_workload_manifests_through_pykubectl(rest_server: RestServer, namespace: str, tmp_path,
                                                  case: str) -> None:
    manifest, plural, fragments = WORKLOAD_BAD_INPUTS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(manifest)

    result = rest_server.pykubectl("apply", "-n", namespace, "-f", str(path))

    assert result.code == 1, result
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in {result.err!r}"
    assert result.out == ""
    listed = rest_server.pykubectl("get", plural, "-n", namespace, "-o", "name")
    assert (listed.code, listed.out) == (0, ""), listed


_STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: {service}
  replicas: 1
  selector:
    matchLabels: {{app: db}}
  template:
    metadata:
      labels: {{app: db}}
    spec:
      containers:
      - name: c
        image: nginx
"""


def test_a_statefulset_service_name_is_immutable(rest_server: RestServer, namespace: str) -> None:
    made = rest_server.pykubectl("apply", "-n", namespace, "-f", "-", stdin=_STATEFULSET.format(service="db"))
    assert made.code == 0 and "statefulset.apps/db created" in made.out, made
    path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets/db"
    before = rest_server.request("GET", path).body

    result = rest_server.pykubectl("apply", "-n", namespace, "-f", "-", stdin=_STATEFULSET.format(service="other"))

    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert ('StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than '
            "'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden") in result.err
    after = rest_server.request("GET", path).body
    assert after["spec"]["serviceName"] == "db"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


_CLAIM = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  storageClassName: no-such-class
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
"""


def test_a_claim_for_an_unknown_storage_class_is_accepted_and_pending(rest_server: RestServer,
                                                                       namespace: str) -> None:
    """Kubernetes accepts the claim (a class may be created later) and leaves it Pending; the
    binding controller's ProvisioningFailed event is its decision's (unit-tested in
    tests/unit/controllers/test_volume_binding_decisions.py)."""
    made = rest_server.pykubectl("apply", "-n", namespace, "-f", "-", stdin=_CLAIM)
    assert made.code == 0 and "persistentvolumeclaim/data created" in made.out, made
    claim = rest_server.request("GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/data").body
    assert claim["status"]["phase"] == "Pending"
    assert "volumeName" not in claim["spec"]
    listed = rest_server.pykubectl("get", "pvc", "-n", namespace)
    row = listed.out.splitlines()[1].split()
    assert row[:2] == ["data", "Pending"] and "no-such-class" in row, listed.out
