"""The REAL kubectl's server-side apply against pykube-apiserver's HTTP API: apply
--server-side creates and records managedFields, a second manager changing a field gets
Kubernetes' conflict, --force-conflicts takes it over, and a client-side apply followed by a
server-side apply of the same manifest has no conflict."""

from __future__ import annotations

import json

from test_rest_api import cluster, kubectl  # noqa: F401 (the module's fixture)

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


def managers(kubeconfig, name: str) -> list[tuple[str, str]]:
    got = kubectl(kubeconfig, "get", "deployment", name, "-o", "json", "--show-managed-fields")
    assert got.returncode == 0, got.stderr
    return [(e["manager"], e["operation"]) for e in json.loads(got.stdout)["metadata"]["managedFields"]]


def test_apply_server_side_conflicts_and_force(cluster) -> None:  # noqa: F811
    _, kubeconfig, _ = cluster
    created = kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "-f", "-", stdin=manifest())
    assert created.returncode == 0, created.stderr
    assert created.stdout == "deployment.apps/ssa serverside-applied\n"
    assert managers(kubeconfig, "ssa") == [("kubectl", "Apply")]
    plain = kubectl(kubeconfig, "get", "deployment", "ssa", "-o", "yaml")
    assert "managedFields" not in plain.stdout

    other = kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "--field-manager", "other",
                    "-f", "-", stdin=manifest(replicas=3))
    assert other.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in other.stderr

    forced = kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "--field-manager", "other",
                     "--force-conflicts", "-f", "-", stdin=manifest(replicas=3))
    assert forced.returncode == 0, forced.stderr
    replicas = kubectl(kubeconfig, "get", "deployment", "ssa", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "3"


def test_client_side_then_server_side_apply(cluster) -> None:  # noqa: F811
    _, kubeconfig, _ = cluster
    client_side = kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=manifest("csa"))
    assert client_side.returncode == 0, client_side.stderr
    assert ("kubectl-client-side-apply", "Update") in managers(kubeconfig, "csa")
    server_side = kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "-f", "-", stdin=manifest("csa"))
    assert server_side.returncode == 0, server_side.stderr
    assert ("kubectl", "Apply") in managers(kubeconfig, "csa")


def test_diff_and_dry_run_server_side(cluster) -> None:  # noqa: F811
    _, kubeconfig, _ = cluster
    assert kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "-f", "-",
                   stdin=manifest("dr")).returncode == 0
    same = kubectl(kubeconfig, "diff", "--server-side", "-f", "-", stdin=manifest("dr"))
    assert same.returncode == 0 and same.stdout == "", same.stderr
    changed = kubectl(kubeconfig, "diff", "--server-side", "-f", "-", stdin=manifest("dr", image="nginx:1.28"))
    assert changed.returncode == 1, changed.stderr
    assert "- image: nginx:1.27" in changed.stdout and "+      - image: nginx:1.28" in changed.stdout, changed.stdout
    dry = kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "--dry-run=server", "-f", "-",
                  stdin=manifest("dr", replicas=7))
    assert dry.returncode == 0, dry.stderr
    assert kubectl(kubeconfig, "get", "deployment", "dr", "-o", "jsonpath={.spec.replicas}").stdout == "2"
