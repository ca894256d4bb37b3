"""The apiserver's meta.k8s.io/v1 Table, and that kubectl printing it shows what pykubectl shows.

``kubectl_prints`` below renders a Table the way kubectl's table printer does (from the JSON
alone: column names upper-cased, priority-1 columns only with -o wide, cells with Go's %v,
NAMESPACE and LABELS from each row's object, Go tabwriter alignment). For hand-built objects
of every kind it must equal pykubectl's own rendering, normal and wide: one definition of
the columns, two faces, the same table.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.message import Message
from table_samples import NOW, SAMPLES, events, pods, rbac, replica_sets

from apimachinery.kinds import KINDS, info_of, kind_info
from apimachinery.tables import TABLES
from apiserver import errors
from apiserver.rest.table import include_object_option, object_table, to_table, wants_table
from kubectl.printers import TableOptions, format_table, table_headers, table_row

KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                  "g=meta.k8s.io,application/json")


# ------------------------------------------------------ kubectl, reimplemented


def go_value(cell: Any) -> str:
    """fmt.Sprint of a decoded JSON cell."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return str(cell)


def tabwriter(lines: list[list[str]]) -> str:
    """kubectl's tabwriter (minwidth 6, padding 3): every cell but a line's last is padded."""
    widths: dict[int, int] = {}
    for cells in lines:
        for column, cell in enumerate(cells[:-1]):
            widths[column] = max(widths.get(column, 0), 6, len(cell) + 3)
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(cells[:-1])) + cells[-1] + "\n"
                   for cells in lines)


def kubectl_prints(table: dict[str, Any], wide: bool = False, with_namespace: bool = False,
                   show_labels: bool = False) -> str:
    """What kubectl's HumanReadablePrinter prints for a Table received from the server."""
    table = json.loads(json.dumps(table))  # only what crosses the wire
    shown = [i for i, c in enumerate(table["columnDefinitions"]) if wide or c["priority"] == 0]
    header = [table["columnDefinitions"][i]["name"].upper() for i in shown]
    lines = [(["NAMESPACE"] if with_namespace else []) + header + (["LABELS"] if show_labels else [])]
    for row in table["rows"]:
        metadata = row["object"]["metadata"]
        labels = metadata.get("labels", {})
        line = [go_value(row["cells"][i]) for i in shown]
        if with_namespace:
            line.insert(0, metadata.get("namespace", ""))
        if show_labels:
            line.append(",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>")
        lines.append(line)
    return tabwriter(lines)


def pykubectl_prints(objects: list[Message], **options: bool) -> str:
    opts = TableOptions(**options)
    return format_table(table_headers(info_of(objects[0]), opts), [table_row(obj, NOW, opts) for obj in objects])


def test_every_kind_has_a_table_and_a_sample() -> None:
    assert set(TABLES) == {info.kind for info in KINDS}
    assert {info_of(objects[0]).kind for objects in SAMPLES} == set(TABLES)


@pytest.mark.parametrize("objects", SAMPLES, ids=lambda objects: info_of(objects[0]).kind)
@pytest.mark.parametrize("options", [{}, {"wide": True}, {"with_namespace": True, "show_labels": True},
                                     {"wide": True, "with_namespace": True}], ids=str)
def test_kubectl_prints_the_table_as_pykubectl_prints_the_objects(objects: list[Message],
                                                                   options: dict[str, bool]) -> None:
    table = to_table(info_of(objects[0]), objects, "Metadata", NOW, {"resourceVersion": "42"})
    assert kubectl_prints(table, **options) == pykubectl_prints(objects, **options)


# ------------------------------------------------------------ the Table itself


def test_pod_table_has_kubernetes_columns_and_typed_cells() -> None:
    table = to_table(kind_info("Pod"), pods(), "Metadata", NOW, {"resourceVersion": "42", "continue": ""})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}  # an empty continue is left out
    columns = table["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert columns[0]["format"] == "name" and columns[0]["description"].startswith("Name must be unique")
    assert all(c["type"] == "string" for c in columns)
    assert table["rows"][0]["cells"] == ["web-7d4b9c", "1/2", "CrashLoopBackOff", "5 (5s ago)", "3m2s",
                                         "10.88.0.5", "node-1", "<none>", "<none>"]


def test_integer_columns_carry_numbers() -> None:
    table = to_table(kind_info("ReplicaSet"), replica_sets(), "None", NOW)
    assert [c["type"] for c in table["columnDefinitions"][1:4]] == ["integer"] * 3
    assert table["rows"][0]["cells"][1:4] == [4, 4, 2]
    events_table = to_table(kind_info("Event"), events(), "None", NOW)
    assert [row["cells"][8] for row in events_table["rows"]] == [3, 1]  # COUNT: a singleton is 1


def test_job_and_cronjob_columns_are_kubectls() -> None:
    from table_samples import cron_jobs, jobs
    table = to_table(kind_info("Job"), jobs(), "None", NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    assert [row["cells"][:5] for row in table["rows"]] == [
        ["pi", "Complete", "3/3", "90s", "5m"], ["work", "Running", "0/1 of 4", "25s", "30s"]]
    table = to_table(kind_info("CronJob"), cron_jobs(), "None", NOW)
    assert [c["name"] for c in table["columnDefinitions"]][:7] == [
        "Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"]
    assert [row["cells"][:7] for row in table["rows"]] == [
        ["tick", "*/5 * * * *", "<none>", "False", 1, "90s", "120m"],
        ["nightly", "0 2 * * *", "Europe/Berlin", "True", 0, "<none>", "3d"]]


def test_roles_show_created_at_as_a_date() -> None:
    table = to_table(kind_info("Role"), rbac()[0], "None", NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Created At", "date")]
    assert table["rows"][0]["cells"] == ["reader", "2024-05-01T11:58:30Z"]


def test_include_object_policies() -> None:
    [pod, _] = pods()
    info = kind_info("Pod")
    metadata_row = to_table(info, [pod], "Metadata", NOW)["rows"][0]
    assert metadata_row["object"]["kind"] == "PartialObjectMetadata"
    assert metadata_row["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert metadata_row["object"]["metadata"]["labels"] == {"app": "web"}
    assert "spec" not in metadata_row["object"]
    full = to_table(info, [pod], "Object", NOW)["rows"][0]["object"]
    assert full["kind"] == "Pod" and full["apiVersion"] == "v1" and full["spec"]["nodeName"] == "node-1"
    assert "object" not in to_table(info, [pod], "None", NOW)["rows"][0]
    assert include_object_option(None) == include_object_option("") == "Metadata"


def test_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match="includeObject: Invalid value: \"All\""):
        to_table(kind_info("Pod"), pods(), "All", NOW)


def test_one_object_table_for_get_and_watch_events() -> None:
    [pod, _] = pods()
    table = object_table(kind_info("Pod"), pod, "Metadata", NOW)
    assert table["metadata"] == {"resourceVersion": "17"} and len(table["rows"]) == 1
    later = object_table(kind_info("Pod"), pod, "Metadata", NOW, with_columns=False)
    assert later["columnDefinitions"] == [] and later["rows"] == table["rows"]
    beta = object_table(kind_info("Pod"), pod, "Metadata", NOW, api_version="meta.k8s.io/v1beta1")
    assert beta["apiVersion"] == beta["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_empty_list_still_has_its_columns() -> None:
    table = to_table(kind_info("Node"), [], "Metadata", NOW, {"resourceVersion": "9"})
    assert table["rows"] == [] and len(table["columnDefinitions"]) == 10


# ------------------------------------------------------------- content types


@pytest.mark.parametrize(("accept", "expected"), [
    (KUBECTL_ACCEPT, (True, "meta.k8s.io/v1")),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", (True, "meta.k8s.io/v1beta1")),
    ("application/json", (False, "")),
    ("", (False, "")),
    ("*/*", (False, "")),
    ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", (False, "")),
    ("application/json;as=Table;v=v1;g=example.com,application/json", (False, "")),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", (False, "")),
    ("application/json;q=0.9,application/json;as=Table;v=v1;g=meta.k8s.io", (True, "meta.k8s.io/v1")),
    ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", (False, "")),
    ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json", (False, "")),
])
def test_accept_header(accept: str, expected: tuple[bool, str]) -> None:
    assert wants_table(accept) == expected
