"""bench.workloads' pure parts: settings and the conditions the targets read, the ABBA order,
the two Pods (differing only by the ConfigMap volume and the Secret env var), and the records
with the plain Pod as the peer. Nothing here starts a process."""

from __future__ import annotations

import pytest

from bench.targets import TARGETS, evaluate
from bench.workloads import (MOUNT, QUICK, Measured, Settings, abba, build_records, conditions_of, config_objects,
                             config_pod, parse_args, plain_pod)


def test_quick_is_small_and_the_full_mode_is_what_the_targets_name() -> None:
    settings, out, quick = parse_args(["--quick"])
    assert settings == QUICK and quick and out is None
    assert QUICK.runs <= 5 and QUICK.updates <= 10
    full, _, quick = parse_args([])
    assert full == Settings() and not quick
    conditions = conditions_of(full, quick)
    names = [t for t in TARGETS if t.record.startswith("workloads.")]
    assert {t.record for t in names} == {"workloads.pod_start_config.p50", "workloads.pod_start_config.p95",
                                         "workloads.config_to_file.p99"}
    for target in names:
        assert all(conditions[key] == value for key, value in target.conditions.items()), target.record
    with pytest.raises(SystemExit):
        parse_args(["--runs", "0"])


def test_abba_order_puts_neither_kind_always_first() -> None:
    order = abba(4)
    assert order == [False, True, True, False, False, True, True, False]
    assert order.count(True) == order.count(False) == 4


def test_the_two_pods_differ_only_by_the_config() -> None:
    plain, with_config = plain_pod("p"), config_pod("p", "cm", "sec")
    assert with_config.spec.volumes[0].config_map.name == "cm"
    container = with_config.spec.containers[0]
    assert container.volume_mounts[0].mount_path == MOUNT
    assert container.env[0].value_from.secret_key_ref.name == "sec"
    del with_config.spec.volumes[:]
    del container.volume_mounts[:]
    del container.env[:]
    assert with_config == plain
    cm, secret = config_objects("x", "v1")
    assert cm.data["value"] == "v1" and secret.data["password"] and cm.metadata.name == secret.metadata.name == "x"


def test_records_hold_the_plain_pod_as_peer_and_failures_count() -> None:
    m = Measured(plain=[0.2, 0.3], config=[0.22, 0.33], in_container=[0.1, 0.2], host_file=[0.05, 0.06])
    records = {r.name: r for r in build_records(m)}
    start = records["workloads.pod_start_config.p50"]
    assert start.peer == "same Pod without ConfigMap/Secret" and start.peer_value == pytest.approx(200.0)
    assert start.value == pytest.approx(220.0)
    assert records["workloads.config_to_file.p99"].value == pytest.approx(200.0)
    assert records["workloads.config_to_host_file.p50"].value == pytest.approx(50.0)
    m.failures["in_container"] += 1
    failed = {r.name: r for r in build_records(m)}["workloads.config_to_file.p99"]
    assert failed.failures == 1
    target = next(t for t in TARGETS if t.record == "workloads.config_to_file.p99")
    record = {"name": target.record, "value": 200.0, "unit": "ms", "conditions": dict(target.required)}
    assert evaluate(target, record).met is True  # 200 ms against 2 s, in the record's unit
