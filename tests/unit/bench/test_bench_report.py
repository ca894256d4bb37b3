"""bench.report and bench.targets on a small fake results list: which record counts,
how targets are judged (met, missed by how much, not measured), the tables, and that
rendering into a document keeps every hand-written line outside the markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.targets import TARGETS, convert

MACHINE = {"nproc": "2", "cpu": "Test CPU", "ram": "4.0 GiB", "kernel": "Linux 6.0",
           "python": "3.11.0", "podman": "4.3.1"}


def rec(name: str, value: float | None, unit: str, ts: str = "2026-01-01T00:00:00+00:00",
        peer: str | None = None, peer_value: float | None = None, mode: str = "full", commit: str = "c0ffee",
        **conditions) -> dict:
    """A record as bench.common writes it; its conditions those of its target (if any) in MODE."""
    wanted = next((t.conditions for t in TARGETS if t.record == name), {})
    r: dict = {"name": name, "value": value, "unit": unit}
    if peer is not None:
        r.update(peer=peer, peer_value=peer_value)
    r.update(conditions={"mode": mode, **wanted, **conditions}, commit=commit, dirty=False, timestamp=ts)
    return r


FAKE = [
    rec("scheduler.create_per_pod.bound_throughput", 300.0, "pods/s", ts="2026-01-01T00:00:00+00:00", mode="quick"),
    rec("cluster.apply_to_running.p50", 0.6, "s", peer="podman kube play", peer_value=1.2),
    rec("cluster.apply_to_running.p95", 1.6, "s", peer="podman kube play", peer_value=1.0),
    rec("kubelet.kill_to_running.p50", 250.0, "ms", peer="podman kill+wait+start", peer_value=200.0),
    rec("kubelet.kill_to_running.p99", 852.0, "ms", peer="podman kill+wait+start", peer_value=400.0),
    rec("startup.latency.p99", 420.0, "ms"),  # target in s: converted
    rec("memory.kubelet", 45.0, "MiB"),
    # a later run of the scheduler: this one counts
    rec("scheduler.create_per_pod.bound_throughput", 1200.0, "pods/s", ts="2026-01-02T00:00:00+00:00"),
]


def outcomes_by_name(records: list[dict]) -> dict:
    return {o.target.record: o for o in report.evaluate_targets(report.latest_records(records))}


def test_latest_record_per_name_by_timestamp_then_position() -> None:
    latest = report.latest_records(FAKE)
    assert latest["scheduler.create_per_pod.bound_throughput"]["value"] == 1200.0
    # order of first appearance is kept
    assert list(latest)[:2] == ["scheduler.create_per_pod.bound_throughput", "cluster.apply_to_running.p50"]
    older_last = [rec("a.x", 2.0, "s", ts="2026-01-02T00:00:00+00:00"), rec("a.x", 1.0, "s", ts="2026-01-01T00:00:00+00:00")]
    assert report.latest_records(older_last)["a.x"]["value"] == 2.0
    same_time = [rec("a.x", 1.0, "s"), rec("a.x", 3.0, "s")]
    assert report.latest_records(same_time)["a.x"]["value"] == 3.0


def test_targets_judged_on_the_latest_records() -> None:
    got = outcomes_by_name(FAKE)
    assert got["scheduler.create_per_pod.bound_throughput"].verdict == "met with 20% to spare"
    assert got["cluster.apply_to_running.p50"].measured == pytest.approx(0.5)
    assert got["cluster.apply_to_running.p95"].verdict == "missed by 100% (2.0× the target)"
    assert got["kubelet.kill_to_running.p99"].verdict == "missed by 42%"
    assert got["startup.latency.p99"].measured == pytest.approx(0.42) and got["startup.latency.p99"].met
    for name in ("memory.control_plane.1000pods", "startup.api_mutating.p99", "cluster.node_loss_to_running.p50"):
        assert got[name].met is None and got[name].verdict == "not measured"
    # the quick run alone claims nothing
    quick = outcomes_by_name(FAKE[:1])["scheduler.create_per_pod.bound_throughput"]
    assert quick.met is None and quick.verdict.startswith("not comparable")


def test_convert_units() -> None:
    assert convert(250.0, "ms", "s") == pytest.approx(0.25)
    assert convert(1.0, "MiB", "MB") == pytest.approx(1.048576)
    assert convert(1.0, "s", "MB") is None
    assert convert(3.0, "pods/s", "pods/s") == 3.0


def test_one_run_on_one_commit() -> None:
    section = report.render_section(FAKE, MACHINE, recorded=True)
    assert "Figures of a full run on one commit: `c0ffee` (clean work tree)." in section
    mixed = FAKE + [rec("memory.kubelet", 44.0, "MiB", ts="2026-01-03T00:00:00+00:00", commit="deadbeef"),
                    rec("memory.control_plane.1000pods", 200.0, "MiB", commit="deadbeef")]
    with pytest.raises(report.MixedRun, match=r"2 commits: c0ffee \(scheduler, cluster, kubelet, startup\); "
                                              r"deadbeef \(memory\)"):
        report.render_section(mixed, MACHINE, recorded=True)
    # an older run's record, superseded by the latest of its name, does not mix the run
    superseded = [rec("memory.kubelet", 44.0, "MiB", commit="0dd"), *FAKE]
    assert "`c0ffee`" in report.render_section(superseded, MACHINE, recorded=True)
    dirty = [dict(r, dirty=True) if r["name"] == "memory.kubelet" else r for r in FAKE]
    assert "`c0ffee`; **the work tree had uncommitted changes**" in report.render_section(dirty, MACHINE, recorded=True)
    quick = [rec("apiserver.create.throughput", 900.0, "ops/s", mode="quick")]
    assert "Figures of a run in quick mode on one commit" in report.render_section(quick, MACHINE, recorded=True)


def test_failed_figures_are_shown_failed() -> None:
    failed = dict(rec("startup.latency.p99", None, "ms"), failures=3)
    section = report.render_section([failed], MACHINE, recorded=True)
    assert "| `startup.latency.p99` | failed (3 failed) | ms |" in section
    assert "**failed: 3 failures (none allowed)**" in section


def test_section_tables() -> None:
    section = report.render_section(FAKE, MACHINE, recorded=True, plots=[("targets", "bench/targets.png")])
    assert "| 2 | Test CPU | 4.0 GiB | Linux 6.0 | 3.11.0 | 4.3.1 |" in section
    assert "Machine recorded with the results" in section
    # the latest scheduler figure only, with its conditions
    assert ("| `scheduler.create_per_pod.bound_throughput` | 1,200 | pods/s | mode=full nodes=1000 pods=10000 |"
            in section)
    assert "300.0" not in section
    # peers and ratio
    assert ("| `kubelet.kill_to_running.p99` | 852.0 | ms | podman kill+wait+start | 400.0 | 2.13 | mode=full kills=50 |"
            in section)
    # targets table rows, each with the conditions it holds for
    assert "| `kubelet.kill_to_running.p99` | mode=full kills=50 | ≤ 600 ms | 852.0 ms | **missed by 42%** |" in section
    assert "| `memory.control_plane.1000pods` | mode=full nodes=100 | ≤ 300 MiB | – | not measured |" in section
    assert ("| `cluster.apply_to_running.p50` | mode=full runs=10 | pykube/peer ≤ 0.8 | 0.50 (0.600 vs 1.20 s) "
            "| **met** with 38% to spare |") in section
    assert "![targets](bench/targets.png)" in section
    # deterministic: same input, same text
    assert section == report.render_section(list(FAKE), dict(MACHINE), recorded=True,
                                            plots=[("targets", "bench/targets.png")])


HAND_WRITTEN = """# Benchmarks

Intro paragraph, hand-written; it may quote the markers inline: `<!-- bench-report:begin -->`.

## apiserver

Hand-written analysis | with a pipe.

## kubelet

More hand-written text.
"""


def test_markers_inserted_after_intro_and_hand_text_kept() -> None:
    once = report.splice(HAND_WRITTEN, "GENERATED ONE\n")
    assert once.index("Intro paragraph") < once.index(f"\n{report.BEGIN}\n") < once.index("## apiserver")
    assert once.replace(f"{report.BEGIN}\nGENERATED ONE\n{report.END}\n\n", "") == HAND_WRITTEN
    # a second report replaces only what is between the markers
    twice = report.splice(once, "GENERATED TWO\n")
    assert "GENERATED ONE" not in twice and "GENERATED TWO" in twice
    assert twice.replace(f"{report.BEGIN}\nGENERATED TWO\n{report.END}\n\n", "") == HAND_WRITTEN
    # markers moved by hand stay where they are
    moved = HAND_WRITTEN + f"\n{report.BEGIN}\nold\n{report.END}\ntrailer\n"
    out = report.splice(moved, "new\n")
    assert out == HAND_WRITTEN + f"\n{report.BEGIN}\nnew\n{report.END}\ntrailer\n"


def test_markers_without_headings_and_broken_markers() -> None:
    assert report.splice("# Title\n\nText.\n", "G\n") == f"# Title\n\nText.\n\n{report.BEGIN}\nG\n{report.END}\n"
    with pytest.raises(ValueError):
        report.splice(f"# T\n{report.BEGIN}\nonly a begin\n", "G\n")
    with pytest.raises(ValueError):
        report.splice(f"# T\n{report.END}\n{report.BEGIN}\n", "G\n")


def test_latency_groups_collect_percentiles_in_ms() -> None:
    records = FAKE + [rec("cluster.apply_vs_podman_run.p50", 0.6, "s", peer="4 parallel podman run", peer_value=0.5),
                      rec("apiserver.watch.delivery_p50", 4.0, "ms"), rec("apiserver.watch.delivery_p99", 15.0, "ms"),
                      rec("apiserver.create.throughput", 2000.0, "ops/s")]
    groups = report.latency_groups(report.latest_records(records))
    assert [g.name for g in groups["cluster"]] == ["cluster.apply_to_running"]
    assert groups["cluster"][0].percentiles == {50: 600.0, 95: 1600.0}
    assert groups["apiserver"][0].percentiles == {50: 4.0, 99: 15.0}
    assert "scheduler" not in groups and "memory" not in groups


def test_report_command_renders_doc_without_touching_hand_text(tmp_path: Path) -> None:
    results = tmp_path / "out" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps(FAKE))
    (results.parent / "machine.json").write_text(json.dumps(MACHINE))
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text(HAND_WRITTEN)
    assert report.main([str(results), "--doc", str(doc), "--no-plots"]) == 0
    first = doc.read_text()
    assert "Test CPU" in first and "missed by 42%" in first
    begin = first.index(f"\n{report.BEGIN}\n") + 1  # the marker line, not the quote in the intro
    end = first.index(f"\n{report.END}") + 1 + len(report.END)
    assert first[:begin] + first[end:].lstrip("\n") == HAND_WRITTEN
    report.main([str(results), "--doc", str(doc), "--no-plots"])
    assert doc.read_text() == first


def test_plots_are_written_and_linked(tmp_path: Path) -> None:
    plots = tmp_path / "docs" / "bench"
    links = report.render_plots(FAKE, plots, tmp_path / "docs")
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["latency-cluster.png", "latency-kubelet.png", "latency-startup.png", "peers.png", "targets.png"]
    assert ("target attainment", "bench/targets.png") in links
    assert all((tmp_path / "docs" / link).read_bytes().startswith(b"\x89PNG") for _, link in links)
    first = (plots / "targets.png").read_bytes()
    report.render_plots(FAKE, plots, tmp_path / "docs")
    assert (plots / "targets.png").read_bytes() == first  # same input, same bytes


def test_suite_order_and_report_at_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """python -m bench: startup and memory run after scheduler; a crashing benchmark makes the
    exit code non-zero without stopping the others; --report renders what was measured."""
    import bench.__main__ as suite
    names = [name for name, _ in suite.BENCHMARKS]
    assert names.index("scheduler") < names.index("startup") < names.index("memory")
    assert dict(suite.BENCHMARKS)["startup"] is False and dict(suite.BENCHMARKS)["memory"] is False

    ran: list[str] = []

    def fake_run(name: str, argv: list[str]) -> int:
        ran.append(name)
        if name == "startup":
            raise RuntimeError("boom")
        out = Path(argv[argv.index("--out") + 1])
        assert "--quick" in argv
        from bench.common import Record, append_results
        append_results(out, [Record(f"{name}.figure", 1.0, "s")], {"mode": "quick"})
        return 0

    monkeypatch.setattr(suite, "_run_one", fake_run)
    monkeypatch.setattr(suite, "_podman_ok", lambda: False)
    monkeypatch.setattr("bench.report.probe_machine", lambda: dict(MACHINE))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(HAND_WRITTEN)
    out = tmp_path / "out"
    code = suite.main(["--quick", "--out", str(out), "--report", "--report-doc", str(doc),
                       "--report-plots", str(tmp_path / "plots")])
    assert code == 1
    assert ran == ["apiserver", "scheduler_bare", "scheduler", "startup", "memory", "security",
                   "http_api", "jobs"]  # the Podman ones skipped
    text = doc.read_text()
    assert "`memory.figure`" in text and "Test CPU" in text and "Hand-written analysis" in text
    assert json.loads((out / "machine.json").read_text())["cpu"] == "Test CPU"
    with pytest.raises(SystemExit):
        suite.main(["--report"])  # --report needs --out


def test_report_command_refuses_a_mixed_run_and_keeps_its_input(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "out" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps(FAKE + [rec("memory.control_plane.1000pods", 200.0, "MiB", commit="deadbeef")]))
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text(HAND_WRITTEN)
    assert report.main([str(results), "--doc", str(doc), "--no-plots"]) == 1
    assert "from 2 commits: c0ffee" in capsys.readouterr().err
    assert doc.read_text() == HAND_WRITTEN and not (tmp_path / "docs" / "bench").exists()
    results.write_text(json.dumps(FAKE))
    assert report.main([str(results), "--doc", str(doc), "--no-plots"]) == 0
    assert json.loads((tmp_path / "docs" / "bench" / "results.json").read_text()) == FAKE
