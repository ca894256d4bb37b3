"""The REAL kubectl's server-side apply against pykube-apiserver's HTTP API: apply
--server-side creates and records managedFields, a second manager changing a field gets
Kubernetes' conflict, --force-conflicts takes it over, and a client-side apply followed by a
server-side apply of the same manifest has no conflict."""

from __future__ import annotations

import json

import pytest

from rest_server import RestServer


@pytest.fixture
def kubectl(rest_server: RestServer):
    """The real kubectl in a namespace of this test's own (the session's shared apiserver)."""
    with rest_server.namespace("ssa") as namespace:
        yield lambda *args, stdin=None: rest_server.kubectl("-n", namespace, *args, stdin=stdin)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: {image}
"""


def manifest(name: str = "ssa", replicas: int = 2, image: str = "nginx:1.27") -> str:
    return DEPLOYMENT.format(name=name, replicas=replicas, image=image)


def managers(kubectl, name: str) -> list[tuple[str, str]]:
    got = kubectl("get", "deployment", name, "-o", "json", "--show-managed-fields")
    assert got.returncode == 0, got.stderr
    return [(e["manager"], e["operation"]) for e in json.loads(got.stdout)["metadata"]["managedFields"]]


def test_apply_server_side_conflicts_and_force(kubectl) -> None:
    created = kubectl("apply", "--server-side", "-f", "-", stdin=manifest())
    assert created.returncode == 0, created.stderr
    assert created.stdout == "deployment.apps/ssa serverside-applied\n"
    assert managers(kubectl, "ssa") == [("kubectl", "Apply")]
    plain = kubectl("get", "deployment", "ssa", "-o", "yaml")
    assert "managedFields" not in plain.stdout

    other = kubectl("apply", "--server-side", "--field-manager", "other",
                    "-f", "-", stdin=manifest(replicas=3))
    assert other.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in other.stderr

    forced = kubectl("apply", "--server-side", "--field-manager", "other",
                     "--force-conflicts", "-f", "-", stdin=manifest(replicas=3))
    assert forced.returncode == 0, forced.stderr
    replicas = kubectl("get", "deployment", "ssa", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "3"


def test_client_side_then_server_side_apply(kubectl) -> None:
    client_side = kubectl("apply", "-f", "-", stdin=manifest("csa"))
    assert client_side.returncode == 0, client_side.stderr
    assert ("kubectl-client-side-apply", "Update") in managers(kubectl, "csa")
    server_side = kubectl("apply", "--server-side", "-f", "-", stdin=manifest("csa"))
    assert server_side.returncode == 0, server_side.stderr
    assert ("kubectl", "Apply") in managers(kubectl, "csa")


def test_diff_and_dry_run_server_side(kubectl) -> None:
    assert kubectl("apply", "--server-side", "-f", "-",
                   stdin=manifest("dr")).returncode == 0
    same = kubectl("diff", "--server-side", "-f", "-", stdin=manifest("dr"))
    assert same.returncode == 0 and same.stdout == "", same.stderr
    changed = kubectl("diff", "--server-side", "-f", "-", stdin=manifest("dr", image="nginx:1.28"))
    assert changed.returncode == 1, changed.stderr
    assert "- image: nginx:1.27" in changed.stdout and "+      - image: nginx:1.28" in changed.stdout, changed.stdout
    dry = kubectl("apply", "--server-side", "--dry-run=server", "-f", "-",
                  stdin=manifest("dr", replicas=7))
    assert dry.returncode == 0, dry.stderr
    assert kubectl("get", "deployment", "dr", "-o", "jsonpath={.spec.replicas}").stdout == "2"
