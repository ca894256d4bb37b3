"""Loading -f manifests: files, directories, stdin, multi-document YAML, Lists, and errors
that name the file and the place."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from kubectl.manifest import ManifestError, load_objects
from protos import apps_pb2, core_pb2

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: multi-worker
spec:
  replicas: 4
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
      - name: worker
        image: busybox
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n"
POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - {name: web, image: nginx}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def names(objects: list) -> list[str]:
    return [obj.metadata.name for obj in objects]


def test_multi_document_file_keeps_order_and_types(tmp_path: Path) -> None:
    path = write(tmp_path / "all.yaml", f"{NAMESPACE}---\n{DEPLOYMENT}---\n{POD}")
    objects = load_objects([str(path)])
    assert names(objects) == ["team-a", "multi-worker", "web"]
    assert isinstance(objects[0], core_pb2.Namespace)
    assert isinstance(objects[1], apps_pb2.Deployment)
    assert objects[1].spec.replicas == 4
    assert objects[1].spec.template.spec.containers[0].image == "busybox"


def test_empty_documents_and_comments_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "sparse.yaml", f"---\n# just a comment\n---\n{POD}---\n---\n")
    assert names(load_objects([str(path)])) == ["web"]


def test_directory_reads_manifest_files_sorted_and_not_recursive(tmp_path: Path) -> None:
    write(tmp_path / "b-pod.yml", POD)
    write(tmp_path / "a-namespace.json", '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}')
    write(tmp_path / "c-deploy.yaml", DEPLOYMENT)
    write(tmp_path / "README.md", "not a manifest: {")
    write(tmp_path / "nested" / "extra.yaml", NAMESPACE.replace("team-a", "nested"))
    assert names(load_objects([str(tmp_path)])) == ["team-a", "web", "multi-worker"]


def test_recursive_directory_includes_subdirectories(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", POD)
    write(tmp_path / "nested" / "extra.yaml", NAMESPACE.replace("team-a", "nested"))
    assert names(load_objects([str(tmp_path)], recursive=True)) == ["web", "nested"]


def test_stdin_is_read_for_dash() -> None:
    objects = load_objects(["-"], stdin=io.StringIO(f"{POD}---\n{NAMESPACE}"))
    assert names(objects) == ["web", "team-a"]


def test_several_paths_are_read_in_order(tmp_path: Path) -> None:
    first = write(tmp_path / "z.yaml", POD)
    second = write(tmp_path / "a.yaml", NAMESPACE)
    assert names(load_objects([str(first), str(second)])) == ["web", "team-a"]


def test_kind_list_is_expanded(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Namespace
          metadata: {name: one}
        - apiVersion: v1
          kind: Namespace
          metadata: {name: two}
        """)
    assert names(load_objects([str(path)])) == ["one", "two"]


def test_int_or_string_and_quantities_load(tmp_path: Path) -> None:
    strategy = "  strategy:\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}\n"
    path = write(tmp_path / "d.yaml", DEPLOYMENT + strategy)
    deployment = load_objects([str(path)])[0]
    assert deployment.spec.strategy.rolling_update.max_surge.int_val == 1
    assert deployment.spec.strategy.rolling_update.max_unavailable.str_val == "25%"


def test_unquoted_yaml_timestamps_still_load(tmp_path: Path) -> None:
    path = write(tmp_path / "ns.yaml", NAMESPACE + "  creationTimestamp: 2024-05-01T10:00:00Z\n")
    namespace = load_objects([str(path)])[0]
    assert namespace.metadata.creation_timestamp.ToJsonString() == "2024-05-01T10:00:00Z"


# ------------------------------------------------------------------ errors


def error_of(paths: list[str], **kwargs: object) -> str:
    with pytest.raises(ManifestError) as caught:
        load_objects(paths, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def test_malformed_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"
                                           "spec:\n  replicas: 1\n  selector: a: b\n")
    message = error_of([str(path)])
    # libyaml's words, which go-yaml (kubectl's reader) shares.
    assert message == f"error parsing {path}: line 7, column 14: mapping values are not allowed in this context"


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "ns.json", '{"apiVersion": "v1",\n "kind": "Namespace"\n "metadata": {}}')
    message = error_of([str(path)])
    assert message.startswith(f"error parsing {path}: line 3, column 2: ")


def test_unknown_kind_is_named_with_file_and_document(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", f"{POD}---\napiVersion: v1\nkind: Gadget\nmetadata: {{name: s}}\n")
    message = error_of([str(path)])
    assert message.startswith(f'error validating "{path}" (document 2): no matches for kind "Gadget" in version "v1"')


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "deploy.yaml", f"{NAMESPACE}---\n" + DEPLOYMENT.replace("replicas:", "replica:"))
    assert error_of([str(path)]) == (
        f'error validating "{path}" (document 2): unknown field "replica" in Deployment.spec'
    )


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "deploy.yaml", DEPLOYMENT.replace("replicas: 4", "replicas: four"))
    assert error_of([str(path)]) == (
        f'error validating "{path}" (document 1): Deployment.spec.replicas: expected an integer, got string \'four\''
    )


def test_missing_kind_and_non_mapping_documents_are_errors(tmp_path: Path) -> None:
    no_kind = write(tmp_path / "a.yaml", "apiVersion: v1\nmetadata: {name: x}\n")
    assert "(document 1): Object 'Kind' is missing" in error_of([str(no_kind)])
    scalar = write(tmp_path / "b.yaml", "just a string\n")
    assert "(document 1): a manifest must be a mapping" in error_of([str(scalar)])


def test_error_inside_a_list_names_the_item(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", """\
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Namespace, metadata: {name: ok}}
        - {apiVersion: v1, kind: Namespace, metadata: {name: bad}, spek: {}}
        """)
    assert error_of([str(path)]) == f'error validating "{path}" (document 1, item 2): unknown field "spek" in Namespace'


def test_a_bad_third_document_means_nothing_is_returned(tmp_path: Path) -> None:
    good = write(tmp_path / "a.yaml", NAMESPACE)
    bad = write(tmp_path / "b.yaml", f"{POD}---\n{NAMESPACE}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\n"
                                     "spec: {containers: [{name: c, image: i, ports: [{containerPort: http}]}]}\n")
    message = error_of([str(good), str(bad)])
    assert message.startswith(f'error validating "{bad}" (document 3): Pod.spec.containers[0].ports[0].containerPort')


def test_stdin_errors_name_stdin() -> None:
    message = error_of(["-"], stdin=io.StringIO("kind: Pod\nmetadata: [\n"))
    assert message.startswith("error parsing STDIN: line 3, column 1: ")


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert error_of([str(missing)]) == f'the path "{missing}" does not exist'


def test_empty_directory_gives_no_objects(tmp_path: Path) -> None:
    assert load_objects([str(tmp_path)]) == []
