"""The real kubectl reads pykube's OpenAPI v3 documents: ``kubectl explain`` and validation,
against the session's shared apiserver (rest_server.py).

Validation: kubectl 1.37 validates on the client only for a kind whose PATCH operation lacks
the ``fieldValidation`` parameter, and then from ``/openapi/v2`` (protobuf), which pykube
does not serve. pykube's documents offer the parameter, as a Kubernetes 1.27+ server's do, so
kubectl sends ``?fieldValidation=Strict`` with the write and the server refuses an unknown
field (strict decoding in the REST handlers). With ``--dry-run=client`` nothing is sent, so
nothing is validated: the same as against a real cluster. kubectl's ``-v=6`` log names every
request it made, which is how these tests see what it asked for.
"""

from __future__ import annotations

import re
from pathlib import Path

from apimachinery.kinds import KINDS
from apiserver_process import REPO_ROOT
from rest_server import RestServer


def requests_made(stderr: str) -> list[str]:
    """``METHOD URL`` of each request in kubectl's -v=6 log."""
    return [f"{m[1]} {m[2]}" for m in re.finditer(r'"Response" verb="(\w+)" url="([^"]+)"', stderr)]


def test_explain_deployment_spec(rest_server: RestServer) -> None:
    out = rest_server.kubectl("explain", "deployment.spec")
    assert out.returncode == 0, out.stderr
    assert "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1" in out.stdout
    assert "FIELD: spec <DeploymentSpec>" in out.stdout
    assert "The desired state of a Deployment." in out.stdout  # the message's comment
    assert "replicas\t<integer>" in out.stdout
    assert "template\t<PodTemplateSpec>" in out.stdout
    assert "Default 1; 0 is a valid value" in out.stdout  # the .proto comment


def test_explain_nested_fields_of_pods(rest_server: RestServer) -> None:
    out = rest_server.kubectl("explain", "pods.spec.containers.ports")
    assert out.returncode == 0, out.stderr
    assert "FIELD: ports <[]ContainerPort>" in out.stdout
    assert "containerPort\t<integer>" in out.stdout
    assert "TCP (default), UDP or SCTP." in out.stdout

    out = rest_server.kubectl("explain", "pods.spec.containers")
    assert out.returncode == 0, out.stderr
    assert "imagePullPolicy\t<string>" in out.stdout
    assert "Always, IfNotPresent or Never." in out.stdout

    out = rest_server.kubectl("explain", "deployment.spec.template.spec.containers.resources.requests")
    assert out.returncode == 0, out.stderr
    assert "map[string]Quantity" in out.stdout


def test_explain_recursive_and_unknown_field(rest_server: RestServer) -> None:
    out = rest_server.kubectl("explain", "deployment.spec.strategy", "--recursive")
    assert out.returncode == 0, out.stderr
    assert "maxSurge\t<IntOrString>" in out.stdout

    out = rest_server.kubectl("explain", "deployment.spec.nosuchfield")
    assert out.returncode != 0
    assert 'field "nosuchfield" does not exist' in out.stderr


def test_explain_every_kind(rest_server: RestServer) -> None:
    for info in KINDS:
        out = rest_server.kubectl("explain", info.plural)
        assert out.returncode == 0, (info.kind, out.stderr)
        group, _, version = info.api_version.rpartition("/")
        assert f"KIND:       {info.kind}\nVERSION:    {version}" in out.stdout
        assert "metadata\t<ObjectMeta>" in out.stdout


def test_create_dry_run_with_strict_validation(rest_server: RestServer, tmp_path: Path) -> None:
    out = rest_server.kubectl("create", "--dry-run=client", "-o", "yaml", "-f", "examples/multi-worker.yaml",
                              "--validate=strict", "-v=6", cache_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    assert "name: multi-worker" in out.stdout
    # kubectl found the Deployment's PATCH operation and its fieldValidation parameter: the
    # server validates, so it needed neither the old /openapi/v2 nor a client-side check.
    requests = requests_made(out.stderr)
    assert any(re.match(r"GET https://[^/]+/openapi/v3/apis/apps/v1\?hash=", r) for r in requests), requests
    assert not any("/openapi/v2" in r for r in requests), requests
    assert not any(r.startswith("POST ") for r in requests), requests


def test_unknown_field_is_refused_by_the_server(rest_server: RestServer, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text((REPO_ROOT / "examples/multi-worker.yaml").read_text().replace(
        "image: docker.io", "imagePullPolicyy: Always\n          image: docker.io"))
    with rest_server.namespace("openapi") as ns:
        out = rest_server.kubectl("-n", ns, "create", "--dry-run=server", "-f", str(manifest), "--validate=strict",
                                  "-v=6", cache_dir=tmp_path / "cache")
        assert out.returncode != 0
        assert "Error from server (BadRequest)" in out.stderr
        assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"' \
            in out.stderr
        posts = [r for r in requests_made(out.stderr) if r.startswith("POST ")]
        assert posts and "fieldValidation=Strict" in posts[0] and "dryRun=All" in posts[0], out.stderr
        listed = rest_server.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")
        assert listed.body["items"] == []
