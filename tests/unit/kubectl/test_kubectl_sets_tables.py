"""get ds / get sts tables: Kubernetes' columns."""

from __future__ import annotations

from kubectl_testlib import NOW, meta

from apimachinery.kinds import info_of, resolve_resource
from kubectl.printers import TableOptions, format_table, table_headers, table_row
from protos import apps_pb2


def table(objects: list, **options: bool) -> str:
    opts = TableOptions(**options)
    return format_table(table_headers(info_of(objects[0]), opts), [table_row(obj, NOW, opts) for obj in objects])


def test_short_names():
    assert resolve_resource("ds").kind == "DaemonSet"
    assert resolve_resource("sts").kind == "StatefulSet"
    assert "all" in resolve_resource("daemonsets").categories and "all" in resolve_resource("sts").categories


def test_daemon_set_table() -> None:
    ds = apps_pb2.DaemonSet(metadata=meta("agent", "default", age_seconds=45),
                            status=apps_pb2.DaemonSetStatus(desired_number_scheduled=3, current_number_scheduled=3,
                                                            number_ready=2, updated_number_scheduled=3,
                                                            number_available=2))
    ds.spec.template.spec.node_selector["kubernetes.io/os"] = "linux"
    plain = apps_pb2.DaemonSet(metadata=meta("logs", "default", age_seconds=45))
    assert table([ds, plain]) == (
        "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR            AGE\n"
        "agent   3         3         2       3            2           kubernetes.io/os=linux   45s\n"
        "logs    0         0         0       0            0           <none>                   45s\n"
    )


def test_stateful_set_table() -> None:
    sts = apps_pb2.StatefulSet(metadata=meta("db", "default", age_seconds=45),
                               spec=apps_pb2.StatefulSetSpec(replicas=3),
                               status=apps_pb2.StatefulSetStatus(ready_replicas=2))
    assert table([sts]) == (
        "NAME   READY   AGE\n"
        "db     2/3     45s\n"
    )
    sts.spec.template.spec.containers.add(name="main", image="postgres:16")
    assert table_row(sts, NOW, TableOptions(wide=True)) == ["db", "2/3", "45s", "main", "postgres:16"]
