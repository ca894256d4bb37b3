"""The /openapi/v3 documents: every kind found by its GVK, every $ref resolving, the merge
semantics of merge_keys.py and the .proto comments carried into the schemas."""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2  # noqa: F401 (registers Struct)

from apimachinery.kinds import KINDS, BY_KIND
from apiserver.rest import openapi
from apiserver.rest.openapi_meta import INT_OR_STRING, QUANTITY, TIME
from protos.comments import clean, comments

CORE = "io.k8s.api.core.v1"
APPS = "io.k8s.api.apps.v1"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
GROUP_VERSIONS = ["api/v1", "apis/apps/v1", "apis/batch/v1", "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1",
                  "apis/rbac.authorization.k8s.io/v1", "apis/storage.k8s.io/v1"]


def schemas(path: str) -> dict[str, Any]:
    return openapi.document(path)["components"]["schemas"]


def prop(path: str, schema: str, field: str) -> dict[str, Any]:
    return schemas(path)[schema]["properties"][field]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def target(schema: dict[str, Any]) -> str:
    """The schema name a property refers to, through allOf or not."""
    inner = schema["allOf"][0] if "allOf" in schema else schema
    return inner["$ref"].removeprefix("#/components/schemas/")


# ------------------------------------------------------------------------------ index


def test_index_names_each_group_version_by_the_hash_of_its_document() -> None:
    index = openapi.index()
    assert sorted(index["paths"]) == sorted(GROUP_VERSIONS)
    for path, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{path}?hash=")
        digest = url.split("?hash=", 1)[1]
        assert len(digest) == 128  # SHA-512, hex
        assert digest == hashlib.sha512(openapi.canonical_json(openapi.document(path))).hexdigest()
        assert openapi.document_hash(path) == digest


def test_documents_are_built_once_and_unknown_paths_are_none() -> None:
    assert openapi.document("apis/apps/v1") is openapi.document("/apis/apps/v1/")
    assert openapi.document("apis/nope/v1") is None
    assert openapi.document("") is None
    assert openapi.document_hash("apis/nope/v1") is None


def test_documents_are_openapi_3() -> None:
    for path in GROUP_VERSIONS:
        doc = openapi.document(path)
        assert doc["openapi"] == "3.0.0"
        assert doc["info"]["title"] == "Kubernetes"
        assert doc["paths"] and doc["components"]["schemas"]


# ---------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("info", KINDS, ids=lambda info: info.kind)
def test_every_kind_and_its_list_have_a_schema_with_their_gvk(info) -> None:
    group, _, version = info.api_version.rpartition("/")
    found = schemas(openapi.group_version_path(info.api_version))
    by_gvk = {(g["group"], g["version"], g["kind"]): name
              for name, schema in found.items() for g in schema.get("x-kubernetes-group-version-kind", [])}
    kind = by_gvk[(group, version, info.kind)]
    assert kind.endswith("." + info.kind) and kind.startswith("io.k8s.")
    assert {"apiVersion", "kind", "metadata"} <= set(found[kind]["properties"])
    assert target(found[kind]["properties"]["metadata"]) == f"{META}.ObjectMeta"
    listed = by_gvk[(group, version, info.kind + "List")]
    assert found[listed]["properties"]["items"]["items"] == {"$ref": f"#/components/schemas/{kind}"}


@pytest.mark.parametrize("path", GROUP_VERSIONS)
def test_every_ref_resolves(path: str) -> None:
    doc = openapi.document(path)
    names = set(doc["components"]["schemas"])
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in names, ref


def test_kubernetes_names_for_the_shared_types() -> None:
    pod = schemas("api/v1")[f"{CORE}.Pod"]["properties"]
    assert target(pod["spec"]) == f"{CORE}.PodSpec"
    meta = schemas("api/v1")[f"{META}.ObjectMeta"]["properties"]
    assert target(meta["creationTimestamp"]) == TIME
    assert target(meta["ownerReferences"]["items"]) == f"{META}.OwnerReference"
    assert target(prop("api/v1", f"{CORE}.Event", "involvedObject")) == f"{CORE}.ObjectReference"
    assert target(prop("apis/apps/v1", f"{APPS}.DeploymentSpec", "selector")) == f"{META}.LabelSelector"
    assert target(prop("apis/apps/v1", f"{APPS}.RollingUpdateDeployment", "maxSurge")) == INT_OR_STRING


def test_scalar_types_and_formats() -> None:
    port = schemas("api/v1")[f"{CORE}.ContainerPort"]["properties"]
    assert (port["containerPort"]["type"], port["containerPort"]["format"]) == ("integer", "int32")
    assert port["hostIP"]["type"] == "string"  # the JSON name, not host_ip
    meta = schemas("api/v1")[f"{META}.ObjectMeta"]["properties"]
    assert meta["generation"]["format"] == "int64"
    assert meta["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert prop("apis/apps/v1", f"{APPS}.DeploymentSpec", "paused")["type"] == "boolean"
    assert prop("api/v1", f"{CORE}.Container", "command")["items"] == {"type": "string"}


def test_quantities_time_and_int_or_string() -> None:
    requests = prop("api/v1", f"{CORE}.ResourceRequirements", "requests")
    assert requests["type"] == "object"
    assert requests["additionalProperties"] == {"$ref": f"#/components/schemas/{QUANTITY}"}
    assert target(prop("api/v1", f"{CORE}.NodeStatus", "capacity")["additionalProperties"]) == QUANTITY
    found = schemas("api/v1")
    assert found[TIME]["type"] == "string" and found[TIME]["format"] == "date-time"
    assert found[INT_OR_STRING]["format"] == "int-or-string"
    assert found[INT_OR_STRING]["x-kubernetes-int-or-string"] is True
    assert {"type": "integer"} in found[INT_OR_STRING]["oneOf"]
    assert {"type": "string"} in found[QUANTITY]["oneOf"]


def test_merge_keys_of_containers_ports_and_env() -> None:
    containers = prop("api/v1", f"{CORE}.PodSpec", "containers")
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = prop("apis/apps/v1", f"{CORE}.Container", "ports")
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    env = prop("api/v1", f"{CORE}.Container", "env")
    assert (env["x-kubernetes-patch-merge-key"], env["x-kubernetes-list-type"]) == ("name", "map")


def test_sets_atomic_lists_and_retain_keys() -> None:
    finalizers = prop("api/v1", f"{META}.ObjectMeta", "finalizers")
    assert finalizers["x-kubernetes-list-type"] == "set"
    assert finalizers["x-kubernetes-patch-strategy"] == "merge"
    tolerations = prop("api/v1", f"{CORE}.PodSpec", "tolerations")
    assert tolerations["x-kubernetes-list-type"] == "atomic"
    assert "x-kubernetes-patch-merge-key" not in tolerations
    strategy = prop("apis/apps/v1", f"{APPS}.DeploymentSpec", "strategy")
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert target(strategy) == f"{APPS}.DeploymentStrategy"


def test_descriptions_come_from_the_proto_comments() -> None:
    assert prop("api/v1", f"{CORE}.ContainerPort", "protocol")["description"] == "TCP (default), UDP or SCTP."
    policy = prop("api/v1", f"{CORE}.PodSpec", "restartPolicy")["description"]
    assert policy == "Always (default), OnFailure or Never."
    replicas = prop("apis/apps/v1", f"{APPS}.DeploymentSpec", "replicas")["description"]
    assert replicas.startswith("Default 1; 0 is a valid value")
    assert schemas("apis/apps/v1")[f"{APPS}.Deployment"]["description"].startswith("Deployment ")
    # A multi-line comment reads as one paragraph.
    deletion = prop("api/v1", f"{META}.ObjectMeta", "deletionTimestamp")["description"]
    assert "finalizers and (for a bound Pod)" in deletion
    # A described $ref goes through allOf (OpenAPI 3.0 ignores a $ref's siblings).
    resources = prop("api/v1", f"{CORE}.Container", "resources")
    assert "allOf" in resources and resources["description"]
    # Every kind's apiVersion and kind are described as Kubernetes describes them.
    assert prop("api/v1", f"{CORE}.Pod", "apiVersion")["description"].startswith("APIVersion defines")


def test_comment_blocks_become_paragraphs() -> None:
    assert clean(" One line\n continued.\n\n Second.\n") == "One line continued.\n\nSecond."
    assert clean("") == ""
    assert comments()["pykube.v1.ServicePort.target_port"].startswith("The Pods' port: a number")


def test_schema_names_are_unique_across_all_messages() -> None:
    named: dict[str, str] = {}
    for message in openapi._reachable([info.message.DESCRIPTOR for info in KINDS]):
        name = openapi.schema_name(message)
        assert named.setdefault(name, message.full_name) == message.full_name, name


def test_free_form_json_is_written_inline() -> None:
    """A Struct field (as managedFields' fieldsV1 will be) is any JSON object, not a $ref."""
    pool = descriptor_pool.Default()
    name = "pykube_openapi_test.proto"
    try:
        pool.FindFileByName(name)
    except KeyError:
        file = descriptor_pb2.FileDescriptorProto(name=name, package="pykube_openapi_test",
                                                  dependency=["google/protobuf/struct.proto"])
        message = file.message_type.add(name="Holder")
        message.field.add(name="fields_v1", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                          label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
                          type_name=".google.protobuf.Struct", json_name="fieldsV1")
        pool.Add(file)
    holder = pool.FindMessageTypeByName("pykube_openapi_test.Holder")
    schema = openapi.field_schema(holder, holder.fields_by_name["fields_v1"])
    assert schema == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert [m.full_name for m in openapi._reachable([holder])] == ["pykube_openapi_test.Holder"]


# ------------------------------------------------------------------------------ paths


@pytest.mark.parametrize("info", KINDS, ids=lambda info: info.kind)
def test_each_kind_has_its_paths_and_a_patch_that_takes_field_validation(info) -> None:
    doc = openapi.document(openapi.group_version_path(info.api_version))
    prefix = "/" + openapi.group_version_path(info.api_version)
    collection = (f"{prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced
                  else f"{prefix}/{info.plural}")
    item = doc["paths"][collection + "/{name}"]
    group, _, version = info.api_version.rpartition("/")
    gvk = {"group": group, "version": version, "kind": info.kind}
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}
    assert set(doc["paths"][collection]) == {"get", "post", "parameters"}
    for op in (*(item[v] for v in ("get", "put", "patch", "delete")), doc["paths"][collection]["post"]):
        assert op["x-kubernetes-group-version-kind"] == gvk
    patch = item["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= {p["name"] for p in patch["parameters"]}
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
        "application/strategic-merge-patch+json"}
    if info.namespaced:
        assert f"{prefix}/{info.plural}" in doc["paths"]


def test_operation_ids_follow_kubernetes() -> None:
    pods = openapi.document("api/v1")["paths"]
    assert pods["/api/v1/namespaces/{namespace}/pods"]["get"]["operationId"] == "listCoreV1NamespacedPod"
    assert pods["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert pods["/api/v1/nodes/{name}"]["patch"]["operationId"] == "patchCoreV1Node"
    rbac = openapi.document("apis/rbac.authorization.k8s.io/v1")["paths"]
    binding = rbac["/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}"]
    assert binding["put"]["operationId"] == "replaceRbacAuthorizationV1NamespacedRoleBinding"
    assert BY_KIND["RoleBinding"].namespaced
