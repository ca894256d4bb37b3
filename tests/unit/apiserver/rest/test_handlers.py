"""The HTTP API's handlers on a Registry over a MemoryStore, through aiohttp's test client:
CRUD, list chunking, dry runs, field validation, subresources and the Status of bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer

from apimachinery.identity import UserInfo
from apiserver.auth.attributes import Decision
from apiserver.auth.modes import AlwaysAllow
from apiserver.filters import InFlightLimiter
from apiserver.registry.registry import Registry
from apiserver.rest.handlers import API, decode_continue, encode_continue
from apiserver.rest.server import RESTServer
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def pod(name: str = "web", **extra: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": "c", "image": "nginx"}], **extra.pop("spec", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **extra}, "spec": spec}


def lease(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "labels": labels}, "spec": {"holderIdentity": "x"}}


def deployment(name: str = "web", replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


Test = Callable[[TestClient, Registry], Awaitable[None]]


def serve(test: Test, **server: Any) -> None:
    """Run test against a fresh registry behind a plain-HTTP RESTServer."""
    async def main() -> None:
        cache = WatchCache()
        registry = Registry(MemoryStore(), cache)
        api = API(registry, cache, max_request_bytes=server.pop("max_request_bytes", 3 * 1024 * 1024))
        rest = RESTServer(api, "127.0.0.1:0", authorizer=server.pop("authorizer", AlwaysAllow()), **server)
        async with TestClient(TestServer(rest.app)) as client:
            await test(client, registry)
    asyncio.run(main())


async def status_of(response: Any, code: int, reason: str) -> dict[str, Any]:
    body = await response.json()
    assert response.status == code, body
    assert (body["kind"], body["status"], body["code"], body.get("reason")) == ("Status", "Failure", code, reason)
    return body


# ------------------------------------------------------------------ CRUD

def test_create_get_list_update_delete() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        created = await client.post(PODS, json=pod())
        assert created.status == 201
        body = await created.json()
        assert (body["kind"], body["metadata"]["namespace"]) == ("Pod", "default")
        again = await status_of(await client.post(PODS, json=pod()), 409, "AlreadyExists")
        assert again["details"] == {"name": "web", "kind": "pods"}  # named though the URL does not
        got = await (await client.get(f"{PODS}/web")).json()
        assert got["metadata"]["uid"] == body["metadata"]["uid"]
        listed = await (await client.get(PODS)).json()
        assert listed["kind"] == "PodList" and listed["apiVersion"] == "v1"
        assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]
        assert int(listed["metadata"]["resourceVersion"]) >= int(body["metadata"]["resourceVersion"])
        assert len((await (await client.get("/api/v1/pods")).json())["items"]) == 1  # every namespace

        got["metadata"]["labels"] = {"tier": "front"}
        updated = await client.put(f"{PODS}/web", json=got)
        assert updated.status == 200
        assert (await updated.json())["metadata"]["labels"] == {"tier": "front"}
        stale = await client.put(f"{PODS}/web", json=got)  # got's resourceVersion is gone now
        await status_of(stale, 409, "Conflict")

        deleted = await client.delete(f"{PODS}/web")
        assert deleted.status == 200 and (await deleted.json())["metadata"]["name"] == "web"
        gone = await status_of(await client.get(f"{PODS}/web"), 404, "NotFound")
        assert gone["message"] == 'pods "web" not found'
        assert gone["details"] == {"name": "web", "kind": "pods"}
    serve(test)


def test_create_fills_in_the_namespace_and_refuses_another() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        other = pod()
        other["metadata"]["namespace"] = "kube-system"
        body = await status_of(await client.post(PODS, json=other), 400, "BadRequest")
        assert body["message"] == "the namespace of the provided object does not match the namespace sent on the request"
        wrong_kind = {**lease("x"), "apiVersion": "v1"}
        await status_of(await client.post(LEASES, json=wrong_kind), 400, "BadRequest")
        assert registry.list("Lease")[0] == []
        name_differs = await client.put(f"{PODS}/other", json=pod())
        await status_of(name_differs, 400, "BadRequest")
    serve(test)


def test_yaml_bodies_are_read() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        text = "apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: c, image: nginx}]\n"
        response = await client.post(PODS, data=text, headers={"Content-Type": "application/yaml"})
        assert response.status == 201
    serve(test)


def test_list_chunking_with_limit_and_continue() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        for i in range(5):
            assert (await client.post(LEASES, json=lease(f"l{i}", app="a" if i % 2 else "b"))).status == 201
        first = await (await client.get(LEASES, params={"limit": "2"})).json()
        assert [x["metadata"]["name"] for x in first["items"]] == ["l0", "l1"]
        assert first["metadata"]["remainingItemCount"] == 3
        revision = first["metadata"]["resourceVersion"]
        await client.post(LEASES, json=lease("l9"))  # after the first page: a continued page sees it
        names = [x["metadata"]["name"] for x in first["items"]]
        token = first["metadata"]["continue"]
        while token:
            page = await (await client.get(LEASES, params={"limit": "2", "continue": token})).json()
            assert page["metadata"]["resourceVersion"] == revision
            names += [x["metadata"]["name"] for x in page["items"]]
            token = page["metadata"].get("continue", "")
        assert names == ["l0", "l1", "l2", "l3", "l4", "l9"]
        selected = await (await client.get(LEASES, params={"labelSelector": "app=a"})).json()
        assert [x["metadata"]["name"] for x in selected["items"]] == ["l1", "l3"]
        await status_of(await client.get(LEASES, params={"continue": "garbage"}), 400, "BadRequest")
        await status_of(await client.get(LEASES, params={"labelSelector": "a in (b"}), 400, "BadRequest")
    serve(test)


def test_continue_tokens_round_trip() -> None:
    assert decode_continue(encode_continue(42, "default/web")) == (42, "default/web")


def test_dry_run_writes_nothing() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        response = await client.post(PODS, json=pod(), params={"dryRun": "All"})
        assert response.status == 201 and (await response.json())["metadata"]["name"] == "web"
        assert registry.list("Pod")[0] == []
        await status_of(await client.post(PODS, json=pod(), params={"dryRun": "Some"}), 400, "BadRequest")
        await client.post(PODS, json=pod())
        assert (await client.delete(f"{PODS}/web", params={"dryRun": "All"})).status == 200
        assert registry.exists("Pod", "default", "web")
    serve(test)


def test_field_validation() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        unknown = lease("strict")
        unknown["spec"]["foo"] = 1
        strict = await status_of(await client.post(LEASES, json=unknown, params={"fieldValidation": "Strict"}),
                                 400, "BadRequest")
        assert strict["message"] == 'strict decoding error: unknown field "spec.foo"'
        assert registry.list("Lease")[0] == []
        warned = await client.post(LEASES, json=unknown)  # Warn is the default
        assert warned.status == 201
        assert warned.headers.getall("Warning") == ['299 - "unknown field \\"spec.foo\\""']
        unknown["metadata"]["name"] = "ignored"
        ignored = await client.post(LEASES, json=unknown, params={"fieldValidation": "Ignore"})
        assert ignored.status == 201 and "Warning" not in ignored.headers
        await status_of(await client.post(LEASES, json=unknown, params={"fieldValidation": "Loud"}),
                        400, "BadRequest")
    serve(test)


# ------------------------------------------------------------------ bad input

def test_bad_input_answers_a_status_and_writes_nothing() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await status_of(await client.post(PODS, data=b"{not json", headers={"Content-Type": "application/json"}),
                        400, "BadRequest")
        media = await status_of(await client.post(PODS, data=b"x", headers={"Content-Type": "text/plain"}),
                                415, "UnsupportedMediaType")
        assert "application/json" in media["message"]
        invalid = pod()
        invalid["spec"]["containers"] = []
        body = await status_of(await client.post(PODS, json=invalid), 422, "Invalid")
        assert body["details"]["causes"][0]["field"] == "spec.containers"
        assert body["details"]["causes"][0]["reason"] == "FieldValueRequired"
        assert (body["details"]["name"], body["details"]["kind"]) == ("web", "Pod")  # NewInvalid: the kind
        typed = pod()
        typed["spec"]["containers"] = "nginx"
        await status_of(await client.post(PODS, json=typed), 400, "BadRequest")
        assert registry.list("Pod")[0] == []
        missing = await status_of(await client.get("/api/v1/namespaces/default/widgets"), 404, "NotFound")
        assert missing["message"] == "the server could not find the requested resource"
        await status_of(await client.put(PODS, json=pod()), 405, "MethodNotAllowed")
        await status_of(await client.get("/nowhere"), 404, "NotFound")
        await status_of(await client.get("/openapi/v2"), 404, "NotFound")
    serve(test)


def test_an_oversized_body_is_413() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        big = pod()
        big["metadata"]["annotations"] = {"a": "x" * 2048}
        body = await status_of(await client.post(PODS, json=big), 413, "RequestEntityTooLarge")
        assert body["message"] == "Request entity too large: limit is 1024"
        assert registry.list("Pod")[0] == []
    serve(test, max_request_bytes=1024)


# ------------------------------------------------------------------ filters

class Deny:
    def authorize(self, attrs: Any) -> Decision:
        return Decision(attrs.verb == "get")


def test_a_denied_request_is_403_in_kubernetes_words() -> None:
    alice = UserInfo("alice", ("system:authenticated",))

    async def test(client: TestClient, registry: Registry) -> None:
        body = await status_of(await client.post(PODS, json=pod()), 403, "Forbidden")
        assert body["message"] == ('pods is forbidden: User "alice" cannot create resource "pods" in API group "" '
                                   'in the namespace "default"')
        assert (await client.get("/version")).status == 200
    serve(test, authorizer=Deny(), authenticate=lambda request: alice)


def test_over_the_in_flight_limit_is_429_with_retry_after() -> None:
    limiter = InFlightLimiter(max_read_only=1, max_mutating=1)
    limiter.read_only = 1  # the one slot is taken
    alice = UserInfo("alice", ("system:authenticated",))

    async def test(client: TestClient, registry: Registry) -> None:
        response = await client.get(PODS)
        await status_of(response, 429, "TooManyRequests")
        assert response.headers["Retry-After"] == "1"
        assert (await client.post(PODS, json=pod())).status == 201  # writes have their own budget
        assert limiter.mutating == 0  # released once answered
    serve(test, limiter=limiter, authenticate=lambda request: alice)


def test_no_user_is_401() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await status_of(await client.get(PODS), 401, "Unauthorized")
    serve(test, authenticate=lambda request: None)


# ------------------------------------------------------------------ patch, subresources, the rest

def test_merge_patch_and_status() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await client.post(LEASES, json=lease("l"))
        patched = await client.patch(f"{LEASES}/l", data=json.dumps({"metadata": {"labels": {"a": "b"}}}),
                                     headers={"Content-Type": "application/merge-patch+json"})
        assert patched.status == 200 and (await patched.json())["metadata"]["labels"] == {"a": "b"}
        await status_of(await client.patch(f"{LEASES}/l", data=b"{}", headers={"Content-Type": "text/plain"}),
                        415, "UnsupportedMediaType")
        await client.post(PODS, json=pod())
        status = await client.patch(f"{PODS}/web/status", data=json.dumps({"status": {"phase": "Running"}}),
                                    headers={"Content-Type": "application/merge-patch+json"})
        assert status.status == 200 and (await status.json())["status"]["phase"] == "Running"
        assert registry.get("Pod", "default", "web").status.phase == "Running"
    serve(test)


def test_scale_subresource() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await client.post(DEPLOYMENTS, json=deployment())
        scale = await (await client.get(f"{DEPLOYMENTS}/web/scale")).json()
        assert (scale["kind"], scale["apiVersion"], scale["spec"]) == ("Scale", "autoscaling/v1", {"replicas": 2})
        assert scale["status"]["selector"] == "app=web"
        patched = await client.patch(f"{DEPLOYMENTS}/web/scale", data=json.dumps({"spec": {"replicas": 5}}),
                                     headers={"Content-Type": "application/merge-patch+json"})
        assert (await patched.json())["spec"]["replicas"] == 5
        scale["spec"]["replicas"] = 3  # scale's resourceVersion is stale now
        await status_of(await client.put(f"{DEPLOYMENTS}/web/scale", json=scale), 409, "Conflict")
        assert registry.get("Deployment", "default", "web").spec.replicas == 5
        await status_of(await client.get(f"{LEASES}/x/scale"), 404, "NotFound")
    serve(test)


def test_a_stateful_set_has_the_scale_subresource_too() -> None:
    """kubectl scale sts/NAME PATCHes statefulsets/NAME/scale; a DaemonSet has no scale."""
    async def test(client: TestClient, registry: Registry) -> None:
        sts = deployment("db", replicas=3)
        sts["kind"], sts["spec"]["serviceName"] = "StatefulSet", "db"
        path = "/apis/apps/v1/namespaces/default/statefulsets"
        made = await client.post(path, json=sts)
        assert made.status == 201, await made.text()
        scale = await (await client.get(f"{path}/db/scale")).json()
        assert (scale["kind"], scale["spec"], scale["status"]["selector"]) == ("Scale", {"replicas": 3}, "app=db")
        patched = await client.patch(f"{path}/db/scale", data=json.dumps({"spec": {"replicas": 1}}),
                                     headers={"Content-Type": "application/merge-patch+json"})
        assert patched.status == 200 and (await patched.json())["spec"]["replicas"] == 1
        assert registry.get("StatefulSet", "default", "db").spec.replicas == 1
        ds = deployment("agent")
        ds["kind"] = "DaemonSet"
        del ds["spec"]["replicas"]
        daemon_sets = "/apis/apps/v1/namespaces/default/daemonsets"
        assert (await client.post(daemon_sets, json=ds)).status == 201
        await status_of(await client.get(f"{daemon_sets}/agent/scale"), 404, "NotFound")
    serve(test)


def test_binding_and_eviction() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await client.post(PODS, json=pod())
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
                   "target": {"kind": "Node", "name": "n1"}}
        bound = await client.post(f"{PODS}/web/binding", json=binding)
        assert bound.status == 201 and (await bound.json())["status"] == "Success"
        assert registry.get("Pod", "default", "web").spec.node_name == "n1"
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web"},
                    "deleteOptions": {"gracePeriodSeconds": 0}}
        evicted = await client.post(f"{PODS}/web/eviction", json=eviction)
        assert evicted.status == 201
        assert not registry.exists("Pod", "default", "web")
    serve(test)


def test_delete_collection_by_label() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
            await client.post(LEASES, json=lease(name, app=app))
        response = await client.delete(LEASES, params={"labelSelector": "app=x"})
        assert response.status == 200
        body = await response.json()
        assert body["kind"] == "LeaseList" and [x["metadata"]["name"] for x in body["items"]] == ["a", "b"]
        assert [x.metadata.name for x in registry.list("Lease")[0]] == ["c"]
    serve(test)


def test_delete_options_from_the_body() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        created = await (await client.post(LEASES, json=lease("l"))).json()
        wrong = {"preconditions": {"uid": "not-it"}}
        await status_of(await client.delete(f"{LEASES}/l", json=wrong), 409, "Conflict")
        right = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": created["metadata"]["uid"]},
                 "propagationPolicy": "Background"}
        assert (await client.delete(f"{LEASES}/l", json=right)).status == 200
        assert not registry.exists("Lease", "default", "l")
    serve(test)


def test_version_and_health() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        version = await (await client.get("/version/")).json()  # the Python client's spelling
        assert version["major"] == "1" and int(version["minor"]) >= 29
        assert version["gitVersion"].startswith(f"v1.{version['minor']}.")
        for path in ("/healthz", "/livez", "/readyz", "/readyz/ping"):
            response = await client.get(path)
            assert (response.status, await response.text()) == (200, "ok")
        await status_of(await client.post("/version"), 405, "MethodNotAllowed")
    serve(test)


def test_one_audit_event_per_request(tmp_path) -> None:
    from apiserver.audit import AuditLog

    audit = AuditLog(str(tmp_path / "audit.log"), "Metadata")

    async def test(client: TestClient, registry: Registry) -> None:
        assert (await client.post(PODS, json=pod(), headers={"User-Agent": "kubectl/v1.37.1 (linux/amd64)"})).status == 201
        assert (await client.get(f"{PODS}/nope")).status == 404
    serve(test, audit=audit)
    audit.close()
    events = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(e["verb"], e["responseStatus"]["code"]) for e in events] == [("create", 201), ("get", 404)]
    assert events[0]["objectRef"] == {"resource": "pods", "namespace": "default", "apiVersion": "v1"}
    assert events[0]["userAgent"].startswith("kubectl/") and events[0]["user"]["username"] == "system:unsecured"
    assert events[1]["objectRef"]["name"] == "nope" and events[1]["responseStatus"]["reason"] == "NotFound"
    assert events[0]["annotations"]["authorization.k8s.io/decision"] == "allow"


def test_the_field_manager_is_the_query_or_the_user_agent() -> None:
    from apiserver.registry.managed_fields import MANAGER
    from apiserver.rest import routes

    seen: list[str] = []

    async def test(client: TestClient, registry: Registry) -> None:
        original = routes.serve_resource

        async def spy(api, request, info):
            seen.append(MANAGER.get())
            return await original(api, request, info)
        routes.serve_resource = spy
        try:
            await client.get(PODS, headers={"User-Agent": "kubectl/v1.37.1 (linux/amd64) kubernetes/abc"})
            await client.get(PODS, params={"fieldManager": "me"})
        finally:
            routes.serve_resource = original
    serve(test)
    assert seen == ["kubectl", "me"]


def test_a_kind_without_status_has_no_status_subresource() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await client.post(LEASES, json=lease("l"))
        await status_of(await client.get(f"{LEASES}/l/status"), 404, "NotFound")
        await status_of(await client.get(f"{PODS}/web/nonsense"), 404, "NotFound")
    serve(test)


def test_scale_takes_a_json_patch_and_a_strategic_merge_patch() -> None:
    async def test(client: TestClient, registry: Registry) -> None:
        await client.post(DEPLOYMENTS, json=deployment())
        smp = await client.patch(f"{DEPLOYMENTS}/web/scale", data=json.dumps({"spec": {"replicas": 4}}),
                                 headers={"Content-Type": "application/strategic-merge-patch+json"})
        assert (await smp.json())["spec"]["replicas"] == 4
        ops = [{"op": "replace", "path": "/spec/replicas", "value": 1}]
        jp = await client.patch(f"{DEPLOYMENTS}/web/scale", data=json.dumps(ops),
                                headers={"Content-Type": "application/json-patch+json"})
        if jp.status != 415:  # JSON patch needs apimachinery.patch (the patch helper's)
            assert (await jp.json())["spec"]["replicas"] == 1
    serve(test)


class OnlyAdmins:
    """Allows system:masters everything, alice to impersonate bob, everyone to review themselves
    (as system:basic-user does); nothing else."""

    def authorize(self, attrs: Any) -> Decision:
        if "system:masters" in attrs.user.groups or attrs.resource == "selfsubjectaccessreviews":
            return Decision(True)
        if attrs.user.name == "alice":
            return Decision(attrs.verb == "impersonate" and attrs.resource == "users" and attrs.name == "bob")
        return Decision(False)


def test_self_subject_access_review_and_impersonation() -> None:
    alice = UserInfo("alice", ("system:authenticated",))
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}}}
    url = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

    async def test(client: TestClient, registry: Registry) -> None:
        as_bob = await client.get(PODS, headers={"Impersonate-User": "bob"})
        body = await status_of(as_bob, 403, "Forbidden")
        assert 'User "bob" cannot list resource "pods"' in body["message"]  # impersonation allowed, bob is not
        as_carol = await status_of(await client.get(PODS, headers={"Impersonate-User": "carol"}), 403, "Forbidden")
        assert 'User "alice" cannot impersonate resource "users"' in as_carol["message"]
        groups_only = await client.get(PODS, headers={"Impersonate-Group": "system:masters"})
        await status_of(groups_only, 400, "BadRequest")
    serve(test, authorizer=OnlyAdmins(), authenticate=lambda request: alice)

    async def masters(client: TestClient, registry: Registry) -> None:
        answer = await client.post(url, json=review)
        assert answer.status == 201
        assert (await answer.json())["status"]["allowed"] is True
        as_bob = await client.post(url, json=review, headers={"Impersonate-User": "bob"})
        assert (await as_bob.json())["status"]["allowed"] is False
        await status_of(await client.post(url, json={"spec": {}}), 422, "Invalid")
    serve(masters, authorizer=OnlyAdmins())


def test_a_cronjob_with_a_bad_schedule_is_422_naming_it() -> None:
    cronjobs = "/apis/batch/v1/namespaces/default/cronjobs"
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
            "spec": {"schedule": "61 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}}

    async def test(client: TestClient, registry: Registry) -> None:
        status = await status_of(await client.post(cronjobs, json=body), 422, "Invalid")
        assert 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' in \
            status["message"]
        assert (status["details"]["kind"], status["details"]["group"]) == ("CronJob", "batch")
        assert status["details"]["causes"][0]["field"] == "spec.schedule"
        made = await client.post(cronjobs, json={**body, "spec": {**body["spec"], "schedule": "*/5 * * * *"}})
        assert made.status == 201 and (await made.json())["spec"]["successfulJobsHistoryLimit"] == 3
    serve(test)
