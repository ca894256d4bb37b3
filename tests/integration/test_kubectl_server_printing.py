"""The real kubectl prints the shared apiserver's Tables (apiserver/rest/table.py) exactly as
pykubectl prints the same objects.

The hand-built objects of every kind (tests/unit/apiserver/rest/table_samples.py) are stored
on the session's real apiserver (rest_server.py) in namespaces of this module's own, their
statuses written through ``/status``. The real kubectl then runs ``get`` with the flags that
change the table (``-o wide``, ``-A``, ``--show-labels``, ``--sort-by``, ``-w``), and its output
must equal, byte for byte, pykubectl's rendering (kubectl/printers.py) of the objects the server
lists. The server computes the AGE cells at its own ``now``, somewhere between the start and
the end of the kubectl run: the output must be the rendering at one such moment. kubectl's
``-v=7`` log shows the requests it made (a Table asked for, ``includeObject``).
"""

from __future__ import annotations

import datetime
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "apiserver" / "rest"))
from table_samples import SAMPLES  # noqa: E402

from apimachinery.convert import from_dict, to_dict  # noqa: E402
from apimachinery.kinds import KindInfo, info_of, kind_info  # noqa: E402
from apiserver.rest.table import wants_table  # noqa: E402
from kubectl.output import parse_sort_by, sort_objects  # noqa: E402
from kubectl.printers import TableOptions, format_table, table_headers, table_row  # noqa: E402
from rest_server import RestServer  # noqa: E402

NAMESPACES = ("default", "team-a", "dev", "kube-node-lease")  # the samples' namespaces


def collection_path(info: KindInfo, namespace: str | None) -> str:
    prefix = "/api/v1" if not info.group else f"/apis/{info.api_version}"
    return f"{prefix}/namespaces/{namespace}/{info.plural}" if namespace else f"{prefix}/{info.plural}"


def stored_form(obj: Message, rename: dict[str, str]) -> dict[str, Any]:
    """A sample as a client would send it: no server-set metadata, this module's namespaces,
    cluster-scoped names prefixed (the shared server has objects of other tests too)."""
    body = to_dict(obj)
    meta = body["metadata"]
    for server_set in ("uid", "resourceVersion", "creationTimestamp"):
        meta.pop(server_set, None)
    if meta.get("namespace"):
        meta["namespace"] = rename[meta["namespace"]]
    elif body["kind"] == "Namespace":
        meta["name"] = rename[meta["name"]]
    else:
        meta["name"] = "print-" + meta["name"]
    involved = body.get("involvedObject", {})
    if involved.get("namespace"):
        involved["namespace"] = rename[involved["namespace"]]
    for subject in body.get("subjects", []):
        if subject.get("namespace"):
            subject["namespace"] = rename[subject["namespace"]]
    if body["kind"] in ("Deployment", "ReplicaSet"):
        workload_valid(body)
    if body["kind"] == "Service":  # several ports need names (not printed)
        for port in body["spec"].get("ports", []):
            port.setdefault("name", f"p{port['port']}")
    return body


def workload_valid(body: dict[str, Any]) -> None:
    """What validation asks of a Deployment or ReplicaSet and the samples leave out (none of
    it is printed): a selector, a template whose labels it matches, a container."""
    spec = body.setdefault("spec", {})
    selector = spec.setdefault("selector", {"matchLabels": {"app": body["metadata"]["name"]}})
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update(selector.get("matchLabels", {}))
    for requirement in selector.get("matchExpressions", []):
        labels[requirement["key"]] = requirement["values"][0]
    template.setdefault("spec", {}).setdefault("containers", [{"name": "c", "image": "nginx"}])


@pytest.fixture(scope="module")
def stored(rest_server: RestServer) -> Iterator[dict[str, str]]:
    """Every sample stored (status too); the samples' namespace → this module's."""
    suffix = uuid.uuid4().hex[:6]
    rename = {ns: f"print-{ns}-{suffix}" for ns in NAMESPACES}
    namespace_samples = {o.metadata.name: o for objects in SAMPLES for o in objects if info_of(o).kind == "Namespace"}
    cluster_scoped: list[str] = []
    for ns in NAMESPACES:
        body = (stored_form(namespace_samples[ns], rename) if ns in namespace_samples else
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rename[ns]}})
        made = rest_server.request("POST", "/api/v1/namespaces", body)
        assert made.status == 201, made.body
    try:
        for objects in SAMPLES:
            info = info_of(objects[0])
            if info.kind == "Namespace":
                continue
            for obj in objects:
                body = stored_form(obj, rename)
                path = collection_path(info, body["metadata"].get("namespace"))
                made = rest_server.request("POST", path, body)
                assert made.status == 201, (body, made.body)
                if not info.namespaced:
                    cluster_scoped.append(f"{path}/{body['metadata']['name']}")
                if body.get("status"):
                    put = {**made.body, "status": body["status"]}
                    updated = rest_server.request("PUT", f"{path}/{body['metadata']['name']}/status", put)
                    assert updated.status == 200, updated.body
        yield rename
    finally:
        for ns in rename.values():
            rest_server.empty_namespace(ns)
            rest_server.request("DELETE", f"/api/v1/namespaces/{ns}")
        for path in cluster_scoped:
            rest_server.request("DELETE", path)


def listed(rest_server: RestServer, info: KindInfo, namespace: str | None) -> list[Message]:
    reply = rest_server.request("GET", collection_path(info, namespace))
    assert reply.status == 200, reply.body
    return [from_dict({"kind": info.kind, "apiVersion": info.api_version, **item}) for item in reply.body["items"]]


def renderings(objects: list[Message], start: float, end: float, **options: Any) -> set[str]:
    """pykubectl's table of ``objects`` at every moment the server may have taken as ``now``."""
    opts = TableOptions(**options)
    shown = set()
    moment = start
    while moment <= end + 0.05:
        now = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
        shown.add(format_table(table_headers(info_of(objects[0]), opts), [table_row(o, now, opts) for o in objects]))
        moment += 0.02
    return shown


def kubectl_get(rest_server: RestServer, *args: str) -> tuple[str, float, float, list[tuple[str, str, str]]]:
    """kubectl's output, when it ran, and the (verb, url, Accept) of each request it made."""
    start = time.time()
    done = rest_server.kubectl(*args, "-v=7")
    end = time.time()
    assert done.returncode == 0, done.stderr
    requests = re.findall(r'"Request" verb="(\w+)" url="([^"]+)" headers=<\n\s*Accept: ([^\n]*)', done.stderr)
    return done.stdout, start, end, requests


def query_of(url: str) -> dict[str, str]:
    _, _, query = url.partition("?")
    return dict(part.partition("=")[::2] for part in query.split("&") if part)


CASES = [
    (["get", "pods"], "Pod", "default", {}),
    (["get", "pods", "-o", "wide"], "Pod", "default", {"wide": True}),
    (["get", "pods", "-A", "-o", "wide", "--show-labels"], "Pod", None,
     {"wide": True, "with_namespace": True, "show_labels": True}),
    (["get", "nodes", "-o", "wide"], "Node", None, {"wide": True}),
    (["get", "deployments", "-o", "wide"], "Deployment", "default", {"wide": True}),
    (["get", "rs"], "ReplicaSet", "default", {}),
    (["get", "svc", "-o", "wide"], "Service", "default", {"wide": True}),
    (["get", "endpointslices"], "EndpointSlice", "default", {}),
    (["get", "events"], "Event", "default", {}),
    (["get", "events", "-o", "wide"], "Event", "default", {"wide": True}),
    (["get", "ns", "--show-labels"], "Namespace", None, {"show_labels": True}),
    (["get", "leases"], "Lease", "kube-node-lease", {}),
    (["get", "roles"], "Role", "dev", {}),
    (["get", "clusterroles"], "ClusterRole", None, {}),
    (["get", "rolebindings", "-o", "wide"], "RoleBinding", "dev", {"wide": True}),
    (["get", "clusterrolebindings", "-o", "wide"], "ClusterRoleBinding", None, {"wide": True}),
    (["get", "jobs", "-o", "wide"], "Job", "default", {"wide": True}),
    (["get", "cj"], "CronJob", "default", {}),
    (["get", "ds", "-o", "wide"], "DaemonSet", "default", {"wide": True}),
    (["get", "sts", "-o", "wide"], "StatefulSet", "default", {"wide": True}),
    (["get", "cm"], "ConfigMap", "default", {}),
    (["get", "secrets"], "Secret", "default", {}),
    (["get", "pv"], "PersistentVolume", None, {}),
    (["get", "pvc", "-o", "wide"], "PersistentVolumeClaim", "default", {"wide": True}),
    (["get", "sc"], "StorageClass", None, {}),
]


@pytest.mark.parametrize(("args", "kind", "namespace", "options"), CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_real_kubectl_prints_what_pykubectl_prints(rest_server: RestServer, stored: dict[str, str], args: list[str],
                                                   kind: str, namespace: str | None, options: dict[str, bool]) -> None:
    info = kind_info(kind)
    scope = stored[namespace] if namespace else None
    objects = listed(rest_server, info, scope)
    out, start, end, requests = kubectl_get(rest_server, *args, *(["-n", scope] if scope else []))
    assert out in renderings(objects, start, end, **options)
    [(_, url, accept)] = [r for r in requests if f"/{info.plural}" in r[1]]
    assert wants_table(accept) == (True, "meta.k8s.io/v1")  # server-side printing was asked for
    assert "includeObject" not in query_of(url)  # the default: Metadata


def test_sort_by_asks_for_whole_objects_and_sorts_the_rows(rest_server: RestServer, stored: dict[str, str]) -> None:
    objects = sort_objects(listed(rest_server, kind_info("Pod"), None), parse_sort_by(".metadata.name"))
    out, start, end, requests = kubectl_get(rest_server, "get", "pods", "-A", "--sort-by=.metadata.name")
    assert out in renderings(objects, start, end, with_namespace=True)
    [(_, url, _)] = [r for r in requests if "/pods" in r[1]]
    assert query_of(url).get("includeObject") == "Object"


def test_several_kinds_prefix_the_name_with_the_kind(rest_server: RestServer, stored: dict[str, str]) -> None:
    ns = stored["default"]
    deployments = listed(rest_server, kind_info("Deployment"), ns)
    replica_sets = listed(rest_server, kind_info("ReplicaSet"), ns)
    out, start, end, _ = kubectl_get(rest_server, "get", "deployments,replicasets", "-n", ns)
    assert out in {d + "\n" + r for d in renderings(deployments, start, end, with_kind=True)
                   for r in renderings(replica_sets, start, end, with_kind=True)}


def test_ages_are_the_servers(rest_server: RestServer, stored: dict[str, str]) -> None:
    """kubectl prints the LAST SEEN the server computed from the event's lastTimestamp."""
    ns = stored["default"]
    two_hours_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "two-hours", "namespace": ns},
             "involvedObject": {"kind": "Pod", "name": "web", "namespace": ns}, "reason": "Old", "type": "Normal",
             "message": "long ago", "lastTimestamp": two_hours_ago.strftime("%Y-%m-%dT%H:%M:%SZ")}
    made = rest_server.request("POST", f"/api/v1/namespaces/{ns}/events", event)
    assert made.status == 201, made.body
    try:
        out, _, _, _ = kubectl_get(rest_server, "get", "events", "-n", ns, "--field-selector=reason=Old")
        assert out.splitlines()[1].split()[0] == "120m"
    finally:
        rest_server.request("DELETE", f"/api/v1/namespaces/{ns}/events/two-hours")


def test_watch_events_carry_one_row_tables(rest_server: RestServer, stored: dict[str, str]) -> None:
    """``get -w``: the list, then a row per event; kubectl reuses the first event's columns
    for the later events that carry none (Kubernetes' watch sends them once)."""
    ns = stored["default"]
    pods = listed(rest_server, kind_info("Pod"), ns)
    start = time.time()
    watcher = rest_server.kubectl_popen("get", "pods", "-n", ns, "-o", "wide", "-w", "-v=7")
    try:
        assert watcher.stdout is not None
        lines = [watcher.stdout.readline() for _ in range(len(pods) + 1)]
        listed_at = time.time()
        name = pods[0].metadata.name
        patched = rest_server.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}",
                                      {"metadata": {"labels": {"watched": "yes"}}},
                                      content_type="application/merge-patch+json")
        assert patched.status == 200, patched.body
        modified = from_dict({"kind": "Pod", "apiVersion": "v1", **patched.body})
        event_row = watcher.stdout.readline()
        seen_at = time.time()
    finally:
        watcher.kill()
        _, err = watcher.communicate(timeout=10)
    assert "".join(lines) in renderings(pods, start, listed_at, wide=True)
    assert [event_row.split()] in [[line.split() for line in table.splitlines()[1:]]
                                   for table in renderings([modified], listed_at, seen_at, wide=True)]
    watches = re.findall(r'"Request" verb="GET" url="([^"]+)" headers=<\n\s*Accept: ([^\n]*)', err)
    [(url, accept)] = [w for w in watches if query_of(w[0]).get("watch") in ("1", "true")]
    assert wants_table(accept)[0]
