"""The REAL kubectl against a real pykube-apiserver's Kubernetes HTTP API.

The session's shared apiserver (rest_server.py: ``--data-dir`` only, so its own CA, admin
credentials and mutual TLS with Node,RBAC, plus ``--http-listen 127.0.0.1:0``); with its admin
kubeconfig pointed at the HTTPS port, the real kubectl (real_kubectl.py) drives it: version,
create -f, get, get -o json, label, delete, api-resources (discovery), auth can-i, drain; scale,
rollout restart and describe of the issue-14 kinds (ds, sts, job, cronjob, pv, pvc, sc: describe
compared with pykubectl's, line for line).
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


SETS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: c
        image: nginx
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: c
        image: nginx
"""


def test_kubectl_scale_restart_and_describe_the_sets(rest_server: RestServer) -> None:
    """The real kubectl's own verbs on the issue-14 kinds: scale sts (PATCH statefulsets/db/scale),
    rollout restart ds and sts (a strategic merge patch of the template), describe (the same text
    as pykubectl's); scaling a DaemonSet is refused (no scale subresource)."""
    with rest_server.namespace("rest-sets") as ns:
        def kubectl(*args: str, stdin: str | None = None):
            return rest_server.kubectl("-n", ns, *args, stdin=stdin)

        made = kubectl("apply", "-f", "-", stdin=SETS)
        assert made.returncode == 0, made.stderr
        scaled = kubectl("scale", "sts/db", "--replicas=1", "--current-replicas=3")
        assert (scaled.returncode, scaled.stdout.strip()) == (0, "statefulset.apps/db scaled"), scaled.stderr
        assert json.loads(kubectl("get", "sts", "db", "-o", "json").stdout)["spec"]["replicas"] == 1
        refused = kubectl("scale", "ds/agent", "--replicas=2")
        assert refused.returncode != 0

        for resource, printed in (("ds/agent", "daemonset.apps/agent restarted"),
                                  ("sts/db", "statefulset.apps/db restarted")):
            restarted = kubectl("rollout", "restart", resource)
            assert (restarted.returncode, restarted.stdout.strip()) == (0, printed), restarted.stderr
            obj = json.loads(kubectl("get", resource, "-o", "json").stdout)
            assert "kubectl.kubernetes.io/restartedAt" in obj["spec"]["template"]["metadata"]["annotations"]

        # kubectl's describers and pykubectl's print the same object the same way, line for line.
        for resource in ("ds", "agent"), ("sts", "db"):
            described = kubectl("describe", *resource)
            assert described.returncode == 0, described.stderr
            ours = rest_server.pykubectl("-n", ns, "describe", *resource)
            assert ours.code == 0, ours.err
            assert ours.out.rstrip("\n") == described.stdout.rstrip("\n")


BATCH = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tock
spec:
  schedule: "*/5 * * * *"
  timeZone: Europe/Paris
  jobTemplate:
    spec:
      activeDeadlineSeconds: 40
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: c
            image: busybox
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "@hourly"
  startingDeadlineSeconds: 30
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: busybox
"""


def test_kubectl_and_pykubectl_describe_jobs_and_cronjobs_alike(rest_server: RestServer) -> None:
    """kubectl's describeJob / describeCronJob (incl. its "(N Ready)" only when status.ready is
    set, and describeJobTemplate's <unset> lines) and pykubectl's, line for line."""
    with rest_server.namespace("rest-batch") as ns:
        made = rest_server.kubectl("-n", ns, "apply", "-f", "-", stdin=BATCH)
        assert made.returncode == 0, made.stderr
        base = f"/apis/batch/v1/namespaces/{ns}"
        for path, status in ((f"{base}/jobs/pi/status", {"ready": 1, "active": 1, "startTime": "2026-01-02T03:04:05Z"}),
                             (f"{base}/cronjobs/tock/status", {"lastScheduleTime": "2026-01-02T03:00:00Z", "active": [
                                 {"apiVersion": "batch/v1", "kind": "Job", "name": "tock-1", "namespace": ns}]})):
            patched = rest_server.request("PATCH", path, {"status": status}, content_type="application/merge-patch+json")
            assert patched.status == 200, patched.body
        for resource in ("job", "pi"), ("cronjob", "tock"), ("cronjob", "tick"):
            described = rest_server.kubectl("-n", ns, "describe", *resource)
            assert described.returncode == 0, described.stderr
            ours = rest_server.pykubectl("-n", ns, "describe", *resource)
            assert ours.code == 0, ours.err
            assert ours.out.rstrip("\n") == described.stdout.rstrip("\n")



STORAGE = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  labels: {app: db}
spec:
  storageClassName: local-path
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: bound
spec:
  storageClassName: manual
  volumeName: rest-api-pv-2
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  resources:
    requests: {storage: 1Gi}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
  containers:
  - name: c
    image: nginx
---
apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
  containers:
  - name: c
    image: nginx
"""
STORAGE_CLUSTER = """\
apiVersion: v1
kind: PersistentVolume
metadata:
  name: rest-api-pv-1
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: /srv/pv1, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: rest-api-pv-2
  labels: {tier: fast}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: manual
  local: {path: /mnt/disk}
  claimRef: {namespace: NS, name: bound}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [n1, n2]}
        - {key: disk, operator: Exists}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: rest-api-sc
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: pykube.io/local-path
parameters: {a: b}
allowVolumeExpansion: false
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
"""


def test_kubectl_and_pykubectl_describe_storage_alike(rest_server: RestServer) -> None:
    """describePersistentVolume (node affinity terms, hostPath/local sources, claim), describe
    PersistentVolumeClaim (capacity and modes only once bound, Used By) and StorageClassDescriber,
    kubectl's and pykubectl's, line for line."""
    with rest_server.namespace("rest-storage") as ns:
        pvs = ("rest-api-pv-1", "rest-api-pv-2")
        try:
            made = rest_server.kubectl("-n", ns, "create", "-f", "-", stdin=STORAGE)
            assert made.returncode == 0, made.stderr
            made = rest_server.kubectl("create", "-f", "-", stdin=STORAGE_CLUSTER.replace("NS", ns))
            assert made.returncode == 0, made.stderr
            for path, status in ((f"/api/v1/namespaces/{ns}/persistentvolumeclaims/bound/status",
                                  {"phase": "Bound", "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                                   "capacity": {"storage": "5Gi"}}),
                                 ("/api/v1/persistentvolumes/rest-api-pv-2/status", {"phase": "Bound",
                                                                                     "message": "all good"})):
                patched = rest_server.request("PATCH", path, {"status": status},
                                              content_type="application/merge-patch+json")
                assert patched.status == 200, patched.body
            for resource in (("pvc", "data"), ("pvc", "bound"), ("pv", pvs[0]), ("pv", pvs[1]),
                             ("sc", "rest-api-sc")):
                described = rest_server.kubectl("-n", ns, "describe", *resource)
                assert described.returncode == 0, described.stderr
                ours = rest_server.pykubectl("-n", ns, "describe", *resource)
                assert ours.code == 0, ours.err
                assert ours.out.rstrip("\n") == described.stdout.rstrip("\n")
        finally:
            # Claims and volumes carry the pvc-/pv-protection finalizers from admission, and no
            # controller-manager runs here to lift them: the test does, as an admin would.
            for resource in (f"namespaces/{ns}/persistentvolumeclaims/data",
                             f"namespaces/{ns}/persistentvolumeclaims/bound",
                             *(f"persistentvolumes/{pv}" for pv in pvs)):
                rest_server.request("PATCH", f"/api/v1/{resource}", {"metadata": {"finalizers": None}},
                                    content_type="application/merge-patch+json")
            rest_server.kubectl("delete", "pv", *pvs, "--ignore-not-found")
            rest_server.kubectl("delete", "sc", "rest-api-sc", "--ignore-not-found")
