"""The real kubectl reads pykube's OpenAPI v3 documents: ``kubectl explain`` and validation.

A small aiohttp app on 127.0.0.1 (plain HTTP) serves what kubectl asks for before it looks
at a schema: ``/version``, the discovery documents of pods and deployments, and the
``/openapi/v3`` routes answered by apiserver/rest/openapi.py. That keeps this test about
the documents alone (no Registry, no TLS); the full REST server has tests of its own.

Validation: kubectl 1.37 validates on the client only for a kind whose PATCH operation lacks
the ``fieldValidation`` parameter, and then from ``/openapi/v2`` (protobuf), which pykube
does not serve. pykube's documents offer the parameter, as a Kubernetes 1.27+ server's do, so
kubectl sends ``?fieldValidation=Strict`` with the write and the server refuses an unknown
field (here the app's create answers with apimachinery.convert's strict decoding, as the
real handlers do). With ``--dry-run=client`` nothing is sent, so nothing is validated:
the same as against a real cluster.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from apimachinery.convert import ConversionError, from_dict
from apimachinery.kinds import KINDS
from apiserver.rest import openapi

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBECTL = Path(os.environ.get("KUBECTL", "/work/main/.venv/bin/kubectl"))
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="the real kubectl is not installed")


def _discovery() -> dict[str, dict]:
    """Legacy discovery (APIVersions, APIGroupList, APIResourceList) of every kind pykube serves."""
    docs: dict[str, dict] = {
        "/api": {"kind": "APIVersions", "versions": ["v1"],
                 "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    }
    for info in KINDS:
        path = "/" + openapi.group_version_path(info.api_version)
        if path not in docs:
            docs[path] = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": info.api_version,
                          "resources": []}
            group, _, version = info.api_version.rpartition("/")
            if group:
                gv = {"groupVersion": info.api_version, "version": version}
                docs["/apis"]["groups"].append({"name": group, "versions": [gv], "preferredVersion": gv})
        docs[path]["resources"].append({
            "name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
            "kind": info.kind, "verbs": VERBS, "shortNames": list(info.short_names)})
    return docs


DISCOVERY = _discovery()
REQUESTS: list[str] = []  # every path_qs the app was asked for, in order


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "reason": reason, "code": code, "message": message}, status=code)


def _not_found() -> web.Response:
    return _status(404, "NotFound", "the server could not find the requested resource")


async def _create(request: web.Request) -> web.Response:
    """POST a Deployment: strict decoding, as the REST handlers do for fieldValidation=Strict."""
    body = await request.json()
    try:
        from_dict(body)
    except ConversionError as err:
        return _status(400, "BadRequest", f"Deployment in version \"v1\" cannot be handled as a "
                                          f"Deployment: strict decoding error: {err}")
    return web.json_response(body, status=201)


async def _serve(request: web.Request) -> web.StreamResponse:
    REQUESTS.append(f"{request.method} {request.path_qs}")
    path = request.path
    if request.method == "POST" and path == "/apis/apps/v1/namespaces/default/deployments":
        return await _create(request)
    if path == "/version":
        return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
    if path in DISCOVERY:
        return web.json_response(DISCOVERY[path])
    if path == "/openapi/v3":
        return web.json_response(openapi.index())
    if path.startswith("/openapi/v3/"):
        doc = openapi.document(path.removeprefix("/openapi/v3/"))
        return _not_found() if doc is None else web.json_response(doc)
    return _not_found()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _serve)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


@pytest.fixture
def kubectl(server_url: str, tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: '{server_url}'}}}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(KUBECTL), f"--cache-dir={tmp_path / 'cache'}", *args], env=env,
                              capture_output=True, text=True, timeout=30, cwd=REPO_ROOT)
    return run


def test_explain_deployment_spec(kubectl) -> None:
    out = kubectl("explain", "deployment.spec")
    assert out.returncode == 0, out.stderr
    assert "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1" in out.stdout
    assert "FIELD: spec <DeploymentSpec>" in out.stdout
    assert "The desired state of a Deployment." in out.stdout  # the message's comment
    assert "replicas\t<integer>" in out.stdout
    assert "template\t<PodTemplateSpec>" in out.stdout
    assert "Default 1; 0 is a valid value" in out.stdout  # the .proto comment


def test_explain_nested_fields_of_pods(kubectl) -> None:
    out = kubectl("explain", "pods.spec.containers.ports")
    assert out.returncode == 0, out.stderr
    assert "FIELD: ports <[]ContainerPort>" in out.stdout
    assert "containerPort\t<integer>" in out.stdout
    assert "TCP (default), UDP or SCTP." in out.stdout

    out = kubectl("explain", "pods.spec.containers")
    assert out.returncode == 0, out.stderr
    assert "imagePullPolicy\t<string>" in out.stdout
    assert "Always, IfNotPresent or Never." in out.stdout

    out = kubectl("explain", "deployment.spec.template.spec.containers.resources.requests")
    assert out.returncode == 0, out.stderr
    assert "map[string]Quantity" in out.stdout


def test_explain_recursive_and_unknown_field(kubectl) -> None:
    out = kubectl("explain", "deployment.spec.strategy", "--recursive")
    assert out.returncode == 0, out.stderr
    assert "maxSurge\t<IntOrString>" in out.stdout

    out = kubectl("explain", "deployment.spec.nosuchfield")
    assert out.returncode != 0
    assert 'field "nosuchfield" does not exist' in out.stderr


def test_explain_every_kind(kubectl) -> None:
    for info in KINDS:
        out = kubectl("explain", info.plural)
        assert out.returncode == 0, (info.kind, out.stderr)
        group, _, version = info.api_version.rpartition("/")
        assert f"KIND:       {info.kind}\nVERSION:    {version}" in out.stdout
        assert "metadata\t<ObjectMeta>" in out.stdout


def test_create_dry_run_with_strict_validation(kubectl) -> None:
    REQUESTS.clear()
    out = kubectl("create", "--dry-run=client", "-o", "yaml", "-f", "examples/multi-worker.yaml",
                  "--validate=strict")
    assert out.returncode == 0, out.stderr
    assert "name: multi-worker" in out.stdout
    # kubectl found the Deployment's PATCH operation and its fieldValidation parameter: the
    # server validates, so it needed neither the old /openapi/v2 nor a client-side check.
    assert any(r.startswith("GET /openapi/v3/apis/apps/v1?hash=") for r in REQUESTS), REQUESTS
    assert not any("/openapi/v2" in r for r in REQUESTS), REQUESTS


def test_unknown_field_is_refused_by_the_server(kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text((REPO_ROOT / "examples/multi-worker.yaml").read_text().replace(
        "image: docker.io", "imagePullPolicyy: Always\n          image: docker.io"))
    REQUESTS.clear()
    out = kubectl("create", "--dry-run=server", "-f", str(manifest), "--validate=strict")
    assert out.returncode != 0
    assert "Error from server (BadRequest)" in out.stderr
    assert 'unknown field "imagePullPolicyy"' in out.stderr
    posts = [r for r in REQUESTS if r.startswith("POST ")]
    assert posts and "fieldValidation=Strict" in posts[0] and "dryRun=All" in posts[0], REQUESTS
