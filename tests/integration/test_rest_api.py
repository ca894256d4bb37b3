"""The REAL kubectl against a real pykube-apiserver's Kubernetes HTTP API.

The session's shared apiserver (rest_server.py: ``--data-dir`` only, so its own CA, admin
credentials and mutual TLS with Node,RBAC, plus ``--http-listen 127.0.0.1:0``); with its admin
kubeconfig pointed at the HTTPS port, the real kubectl (real_kubectl.py) drives it: version,
create -f, get, get -o json, label, delete, api-resources (discovery), auth can-i, drain.
Also: no client certificate, no handshake."""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apimachinery.kinds import KINDS
from rest_server import RestServer

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: nginx
"""


def test_kubectl_version_create_get_label_delete(rest_server: RestServer) -> None:
    with rest_server.namespace("rest-api") as ns:
        def kubectl(*args: str, stdin: str | None = None):
            return rest_server.kubectl("-n", ns, *args, stdin=stdin)

        version = kubectl("version", "-o", "json")
        assert version.returncode == 0, version.stderr
        server = json.loads(version.stdout)["serverVersion"]
        assert server["major"] == "1" and int(server["minor"]) >= 29

        created = kubectl("create", "-f", "-", stdin=POD)  # validated against /openapi/v3
        assert (created.returncode, created.stdout.strip()) == (0, "pod/web created"), created.stderr
        listed = kubectl("get", "pods")
        assert listed.returncode == 0 and "web" in listed.stdout, listed.stderr
        got = kubectl("get", "pod", "web", "-o", "json")
        pod = json.loads(got.stdout)
        assert (pod["kind"], pod["metadata"]["namespace"], pod["spec"]["containers"][0]["image"]) == \
            ("Pod", ns, "nginx")

        labelled = kubectl("label", "pod", "web", "tier=front")
        assert labelled.returncode == 0, labelled.stderr
        labels = json.loads(kubectl("get", "pod", "web", "-o", "json").stdout)["metadata"]["labels"]
        assert labels == {"app": "web", "tier": "front"}

        again = kubectl("create", "-f", "-", stdin=POD)
        assert again.returncode != 0 and 'pods "web" already exists' in again.stderr

        deleted = kubectl("delete", "pod", "web")  # waits for it to go: a watch
        assert deleted.returncode == 0, deleted.stderr
        missing = kubectl("get", "pod", "web")
        assert missing.returncode != 0 and 'pods "web" not found' in missing.stderr


def test_no_client_certificate_no_handshake(rest_server: RestServer) -> None:
    context = ssl.create_default_context(cafile=str(rest_server.process.data_dir / "pki" / "ca.crt"))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(f"https://{rest_server.address}/version", context=context, timeout=5).read()


def test_kubectl_auth_can_i_and_drain(rest_server: RestServer) -> None:
    """Both send protobuf bodies (kubectl's typed clients): a SelfSubjectAccessReview, an Eviction."""
    kubectl = rest_server.kubectl
    assert kubectl("auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "list", "pods", "--as", "alice").stdout.strip() == "no"

    node = "rest-api-drained"
    with rest_server.namespace("rest-api") as ns:
        try:
            manifests = ('{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "%s"}}' % node,
                         '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "%s"}, '
                         '"spec": {"nodeName": "%s", "containers": [{"name": "c", "image": "nginx"}]}}' % (ns, node))
            for manifest in manifests:
                made = kubectl("create", "-f", "-", stdin=manifest)
                assert made.returncode == 0, made.stderr
            drained = kubectl("drain", node, "--force", "--grace-period=0", "--timeout=10s")
            assert drained.returncode == 0, drained.stderr
            assert "pod/p1 evicted" in drained.stdout and f"node/{node} drained" in drained.stdout
            assert "SchedulingDisabled" in kubectl("get", "node", node).stdout
        finally:
            kubectl("delete", "node", node, "--ignore-not-found")


def test_kubectl_api_resources_reads_the_discovery_documents(rest_server: RestServer, tmp_path: Path) -> None:
    """Aggregated discovery (/api and /apis, apidiscovery.k8s.io/v2) says everything: kubectl
    asks no group version's resource list."""
    done = rest_server.kubectl("api-resources", "-o", "wide", "-v=6", cache_dir=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {info.plural for info in KINDS}
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod", ",".join(VERBS), "all"]
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace",
                                  "create,delete,get,list,patch,update,watch"]
    assert rows["deployments"][1:5] == ["deploy", "apps/v1", "true", "Deployment"]
    paths = re.findall(r'"Response" verb="GET" url="https://[^/]+(/[^?"]*)', done.stderr)
    assert paths == ["/api", "/apis"], paths
    names = rest_server.kubectl("api-resources", "--categories=all", "-o", "name").stdout.split()
    assert sorted(names) == ["cronjobs.batch", "daemonsets.apps", "deployments.apps", "jobs.batch", "pods",
                             "replicasets.apps", "services", "statefulsets.apps"]
