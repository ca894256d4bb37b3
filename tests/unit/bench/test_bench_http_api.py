"""bench.http_api's pure parts: its settings and the conditions the targets read, the ABBA order,
the Pods and their JSON bodies, the two kubeconfigs (one apiserver, two faces), the check of a
`get pods` output, and the records with their peers. Nothing here times anything or starts a
server."""

from __future__ import annotations

import base64

import pytest

from apimachinery.convert import to_dict
from bench.common import CallStats, Timing
from bench.http_api import (DEFAULT, GRPC, GRPC_PEER, HTTP, PYKUBECTL_PEER, QUICK, Measured, Runs, build_records,
                            conditions_of, faces_in_order, kubeconfigs, output_problem, parse_args, pod_named,
                            pods_url)
from bench.targets import TARGETS, evaluate
from client import pki


def stats(latencies: list[float], wall: float) -> CallStats:
    return CallStats(latencies=latencies, timing=Timing(wall, 1.0, 0.5))


def test_quick_is_small_and_the_full_mode_is_what_the_targets_name() -> None:
    settings, out = parse_args(["--quick"])
    assert settings == QUICK and out is None
    assert QUICK.objects * 2 <= 1000 and QUICK.runs <= 5  # CI: well under a minute
    full, _ = parse_args([])
    assert full == DEFAULT
    conditions = conditions_of(DEFAULT)
    assert conditions["mode"] == "full"
    for target in (t for t in TARGETS if t.record.startswith("http.")):
        assert all(conditions[key] == value for key, value in target.conditions.items()), target.record
    with pytest.raises(SystemExit):
        parse_args(["--objects", "2", "--rounds", "3"])
    with pytest.raises(SystemExit):
        parse_args(["--pods", "-1"])


def test_rounds_alternate_abba() -> None:
    assert [faces_in_order(n)[0] for n in range(4)] == [GRPC, HTTP, GRPC, HTTP]
    assert all(set(faces_in_order(n)) == {GRPC, HTTP} for n in range(4))


def test_each_face_creates_its_own_pods_and_the_body_is_kubernetes_json() -> None:
    grpc_pod, http_pod = pod_named(GRPC, 7, 3, "bench-http"), pod_named(HTTP, 7, 3, "bench-http")
    assert (grpc_pod.metadata.name, http_pod.metadata.name) == ("grpc-000007", "http-000007")
    body = to_dict(http_pod)
    assert body["apiVersion"] == "v1" and body["kind"] == "Pod"
    assert body["metadata"]["namespace"] == "bench-http"
    assert body["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    assert pods_url("bench-http") == "/api/v1/namespaces/bench-http/pods"


def test_kubectl_gets_the_https_face_and_pykubectl_the_grpc_face_with_the_same_admin() -> None:
    ca = pki.create_ca()
    admin = pki.issue_client_cert(ca, "system:admin", ("system:masters",))
    kubectl, pykubectl = kubeconfigs(ca, admin, "127.0.0.1:1001", "127.0.0.1:1002", "bench-http-list")
    assert kubectl["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1002"
    assert pykubectl["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1001"
    for config in (kubectl, pykubectl):
        assert config["contexts"][0]["context"]["namespace"] == "bench-http-list"
        user = config["users"][0]["user"]
        assert base64.b64decode(user["client-certificate-data"]) == admin.cert_pem()
        assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == ca.cert_pem()


def test_a_get_pods_output_is_a_header_and_a_row_per_pod() -> None:
    good = "NAME   READY   STATUS    RESTARTS   AGE\n" + "".join(f"p{i}   0/1   Pending   0   1s\n" for i in range(3))
    assert output_problem(good, 3) is None
    assert output_problem(good, 1000) == "4 lines, expected 1001 (the header and 1000 Pods)"
    assert output_problem("No resources found in x namespace.\n", 0).startswith("no header")


def test_records_carry_their_peers_and_meet_or_miss_their_targets() -> None:
    measured = Measured()
    measured.creates[GRPC] = [stats([0.010] * 100, 1.0)]
    measured.creates[HTTP] = [stats([0.015] * 99 + [0.025], 1.5)]
    measured.lists[GRPC], measured.lists[HTTP] = [0.05] * 5, [0.12] * 5
    measured.kubectl, measured.pykubectl = Runs([0.40] * 20), Runs([0.50] * 19, failures=1)
    records = {r.name: r for r in build_records(measured, 1000)}
    create = records["http.create.p99"]
    assert (create.value, create.peer, create.peer_value) == (pytest.approx(15.0), GRPC_PEER, pytest.approx(10.0))
    assert records["http.create.throughput"].value == pytest.approx(100 / 1.5)
    assert records["http.list1000.p50"].value == pytest.approx(120.0)
    assert records["http.list1000.p50"].peer_value == pytest.approx(50.0)
    get = records["http.kubectl_get.p50"]
    assert get.peer == PYKUBECTL_PEER and get.failures == 1 and get.value == pytest.approx(400.0)
    conditions = conditions_of(DEFAULT)
    verdicts = {t.record: evaluate(t, records[t.record].as_json(conditions, {"commit": "c0ffee", "dirty": False}, "t"))
                for t in TARGETS if t.record.startswith("http.")}
    assert verdicts["http.create.p99"].met is True  # 1.5 ≤ 2
    assert verdicts["http.kubectl_get.p50"].met is False  # a pykubectl run failed: none allowed
    measured.pykubectl = Runs([0.25] * 20)
    get = {r.name: r for r in build_records(measured, 1000)}["http.kubectl_get.p50"]
    outcome = evaluate(next(t for t in TARGETS if t.record == "http.kubectl_get.p50"),
                       get.as_json(conditions, {"commit": "c0ffee", "dirty": False}, "t"))
    assert outcome.met is False and outcome.measured == pytest.approx(1.6)  # 1.6 > 1.5
