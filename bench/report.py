"""Render a results.json into docs/benchmarks.md: the machine, every figure, the peers
beside them, the issue's targets met or missed, and PNG plots.

    python -m bench.report RESULTS.json [--doc docs/benchmarks.md] [--plots docs/bench/] [--no-plots]

The generated part sits between two markers in the document,

    <!-- bench-report:begin -->
    ...
    <!-- bench-report:end -->

and only that part is rewritten: the hand-written text around it (how to run each
benchmark, what limits a figure, the profiles) stays as it is. When the markers are
missing they are inserted after the document's introduction (before its first
``## `` heading).

The output depends only on the input: the latest record of each name (by its
timestamp, later in the file on a tie), in the order the names first appear. Those
records must come from one commit (each record carries the commit it was measured on
and whether the work tree was dirty): a "full run" stitched together from different
code is refused, naming the commits, and a dirty tree is said in the header. The
machine from ``machine.json`` beside the results (``python -m bench --out DIR``
writes it) or, failing that, probed when the report is rendered (and said so); no
clock is read. The plots are written with matplotlib's Agg backend and without the
PNG's "Software" stamp, so the same input gives the same bytes with the same
matplotlib.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from bench.common import REPO_ROOT
from bench.targets import GE, RATIO_GE, RATIOS, TARGETS, Outcome, Target, convert, describe_conditions, evaluate

BEGIN = "<!-- bench-report:begin -->"
END = "<!-- bench-report:end -->"
DEFAULT_DOC = REPO_ROOT / "docs" / "benchmarks.md"
MACHINE_FILE = "machine.json"
# Files this report writes into the plots directory (and may remove when stale).
PLOT_PATTERNS = ("peers.png", "targets.png", "latency-*.png")
_PERCENTILE = re.compile(r"^(?P<group>.+?)[._]p(?P<q>\d{2,3})$")
_TIME_UNITS = ("s", "ms", "us", "µs")

Rec = Mapping[str, Any]


# ------------------------------------------------------------------ records


def load_records(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    if not isinstance(data, list) or not all(isinstance(r, dict) and "name" in r for r in data):
        raise ValueError(f"{path}: expected a JSON list of records with a name each")
    return data


def latest_records(records: Iterable[Rec]) -> dict[str, Rec]:
    """The latest record of each name (timestamp order; later in the list wins a tie), keyed
    by name in the order names first appear, so a benchmark's figures stay together."""
    order: dict[str, int] = {}
    best: dict[str, tuple[str, int, Rec]] = {}
    for index, record in enumerate(records):
        name = str(record["name"])
        order.setdefault(name, len(order))
        key = (str(record.get("timestamp") or ""), index)
        if name not in best or key >= best[name][:2]:
            best[name] = (*key, record)
    return {name: best[name][2] for name in sorted(order, key=order.__getitem__)}


class MixedRun(ValueError):
    """The records to render were measured on different commits."""


def one_commit(latest: Mapping[str, Rec]) -> tuple[str, bool]:
    """(commit, dirty) that every record was measured on; MixedRun naming the commits (and
    the benchmarks measured on each) when they differ. A record without a commit counts as
    commit "unknown"."""
    benches: dict[str, list[str]] = {}
    for name, record in latest.items():
        found = benches.setdefault(str(record.get("commit") or "unknown"), [])
        if benchmark_of(name) not in found:
            found.append(benchmark_of(name))
    if len(benches) > 1:
        named = "; ".join(f"{commit[:12]} ({', '.join(b)})" for commit, b in benches.items())
        raise MixedRun(f"the records come from {len(benches)} commits: {named}; a report shows one run "
                       "on one commit (run the suite again into a fresh --out DIR)")
    commit = next(iter(benches), "unknown")
    return commit, any(bool(r.get("dirty", True)) for r in latest.values())


def conditions_of(record: Rec) -> str:
    return describe_conditions(record.get("conditions") or {})


def benchmark_of(name: str) -> str:
    return name.split(".", 1)[0]


def ratio(record: Rec) -> float | None:
    """pykube / peer, where a peer ran and both figures exist."""
    value, peer = record.get("value"), record.get("peer_value")
    if record.get("peer") is None or value is None or peer is None or not float(peer):
        return None
    return float(value) / float(peer)


def evaluate_targets(latest: Mapping[str, Rec], targets: Sequence[Target] = TARGETS) -> list[Outcome]:
    return [evaluate(t, latest.get(t.record)) for t in targets]


# ------------------------------------------------------------------ machine


def probe_machine() -> dict[str, str]:
    """What the figures depend on: CPUs (as `nproc` counts them), CPU model, RAM, kernel,
    Python, Podman. Read from /proc and the tools themselves; missing pieces are "?"."""
    info: dict[str, str] = {}
    try:
        info["nproc"] = str(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        info["nproc"] = str(os.cpu_count() or "?")
    info["cpu"] = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = " ".join(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    info["ram"] = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram"] = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
                break
    except (OSError, ValueError):
        pass
    info["kernel"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    info["podman"] = "not installed"
    if shutil.which("podman"):
        try:
            out = subprocess.run(["podman", "--version"], capture_output=True, text=True, timeout=20,
                                 check=False).stdout
            info["podman"] = out.split()[-1] if out.split() else "?"
        except (OSError, subprocess.SubprocessError):
            info["podman"] = "?"
    return info


def write_machine(out_dir: Path) -> Path:
    """Record the machine beside results.json, so a later report describes where the
    benchmarks ran rather than where the report was rendered."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MACHINE_FILE
    path.write_text(json.dumps(probe_machine(), indent=2, sort_keys=True) + "\n")
    return path


def load_machine(results: Path) -> tuple[dict[str, str], bool]:
    """(machine, recorded): from machine.json beside the results, else probed now."""
    path = results.parent / MACHINE_FILE
    if path.exists():
        return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}, True
    return probe_machine(), False


# ------------------------------------------------------------------ markdown


def fmt(value: Any, unit: str = "", failures: int = 0) -> str:
    """A figure with as many digits as a benchmark on a shared machine deserves; "failed"
    for a figure that failures made infinite (a p99 with 1% of the samples failed)."""
    if value is None:
        return "failed" if failures else "–"
    v = float(value)
    if math.isnan(v):
        return "–"
    if unit in ("count", "pods") and v == int(v):
        return f"{int(v):,}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.3f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def machine_lines(machine: Mapping[str, str], recorded: bool, latest: Mapping[str, Rec],
                  total_records: int) -> list[str]:
    stamps = sorted(str(r["timestamp"]) for r in latest.values() if r.get("timestamp"))
    when = "no timestamps" if not stamps else (stamps[0] if stamps[0] == stamps[-1] else
                                               f"{stamps[0]} … {stamps[-1]}")
    source = "recorded with the results" if recorded else \
        "probed when the report was rendered (no machine.json beside the results)"
    commit, dirty = one_commit(latest)
    modes = sorted({str((r.get("conditions") or {}).get("mode", "?")) for r in latest.values()})
    run = "a full run" if modes == ["full"] else f"a run in {' and '.join(modes)} mode"
    tree = ("; **the work tree had uncommitted changes**: the figures are not those of the commit alone"
            if dirty else " (clean work tree)")
    return [
        f"Figures of {run} on one commit: `{commit}`{tree}.",
        "",
        "| CPUs (`nproc`) | CPU model | RAM | kernel | Python | Podman | figures dated (UTC) |",
        "| ---: | --- | ---: | --- | --- | --- | --- |",
        "| " + " | ".join(_cell(machine.get(k, "?")) for k in ("nproc", "cpu", "ram", "kernel", "python", "podman"))
        + f" | {_cell(when)} |",
        "",
        f"Machine {source}. {len(latest)} figures (the latest of {total_records} records).",
    ]


def figures_lines(latest: Mapping[str, Rec]) -> list[str]:
    """One table per benchmark: every figure, with the peer's figure and the ratio where a peer ran."""
    lines: list[str] = []
    groups: dict[str, list[Rec]] = {}
    for name, record in latest.items():
        groups.setdefault(benchmark_of(name), []).append(record)
    for bench, records in groups.items():
        with_peer = any(r.get("peer") is not None for r in records)
        lines += [f"### {bench}", ""]
        if with_peer:
            lines += ["| figure | pykube | unit | peer | peer figure | pykube/peer | conditions |",
                      "| --- | ---: | --- | --- | ---: | ---: | --- |"]
        else:
            lines += ["| figure | pykube | unit | conditions |", "| --- | ---: | --- | --- |"]
        for r in records:
            unit = str(r.get("unit", ""))
            failures = int(r.get("failures") or 0)
            shown = fmt(r.get("value"), unit, failures) + (f" ({failures} failed)" if failures else "")
            head = f"| `{r['name']}` | {shown} | {_cell(unit)} |"
            params = _cell(conditions_of(r))
            if with_peer:
                rr = ratio(r)
                peer = _cell(r["peer"]) if r.get("peer") is not None else ""
                peer_value = fmt(r.get("peer_value"), unit) if r.get("peer") is not None else ""
                lines.append(f"{head} {peer} | {peer_value} | {'' if rr is None else f'{rr:.2f}'} | {params} |")
            else:
                lines.append(f"{head} {params} |")
        lines.append("")
    if not groups:
        lines += ["No records.", ""]
    return lines


def targets_lines(outcomes: Sequence[Outcome], latest: Mapping[str, Rec]) -> list[str]:
    lines = ["| target | record | conditions | wanted | measured | verdict |",
             "| --- | --- | --- | --- | ---: | --- |"]
    for o in outcomes:
        t = o.target
        if o.measured is None:
            measured = "–"
        elif t.comparison in RATIOS:
            r = latest[t.record]
            unit = str(r.get("unit", ""))
            measured = f"{o.measured:.2f} ({fmt(r['value'], unit)} vs {fmt(r['peer_value'], unit)} {unit})"
        else:
            measured = f"{fmt(o.measured, t.unit)} {t.unit}"
        verdict = o.verdict if o.met is None else ("**met**" + o.verdict[3:] if o.met else f"**{o.verdict}**")
        wanted = t.wanted + ("" if not t.max_failures else f", ≤ {t.max_failures} failures")
        lines.append(f"| {_cell(t.description)} | `{t.record}` | {_cell(describe_conditions(t.required))} "
                     f"| {_cell(wanted)} | {_cell(measured)} | {_cell(verdict)} |")
    met = sum(1 for o in outcomes if o.met)
    missed = sum(1 for o in outcomes if o.met is False)
    uncomparable = sum(1 for o in outcomes if o.verdict.startswith("not comparable"))
    unmeasured = len(outcomes) - met - missed - uncomparable
    tally = (f"{met} of {len(outcomes)} targets met, {missed} missed (a failure counts as missed), "
             f"{uncomparable} not comparable, {unmeasured} not measured. A target holds only for the "
             "conditions it names (the full mode, the nodes, Pods and runs); a figure measured under other "
             "conditions (e.g. the quick mode) is \"not comparable\", never met, and every target allows no "
             "failed Pod or call unless it says otherwise.")
    lines += ["", tally]
    return lines


def render_section(records: Sequence[Rec], machine: Mapping[str, str], recorded: bool,
                   plots: Sequence[tuple[str, str]] = ()) -> str:
    """The generated part of the document (without the markers). plots: (title, relative link)."""
    latest = latest_records(records)
    outcomes = evaluate_targets(latest)
    lines = [
        "## Results (generated)",
        "",
        ("Rendered by `python -m bench.report` from a results.json; do not edit between the "
         "bench-report markers (the next report replaces it). Where a peer ran beside a figure, "
         "pykube/peer is the ratio of the two (for times lower is better, for rates higher is better)."),
        "",
        "### Machine",
        "",
        *machine_lines(machine, recorded, latest, len(records)),
        "",
        "### Targets (issues 6, 10, 11, 12 and 13)",
        "",
        *targets_lines(outcomes, latest),
        "",
        *figures_lines(latest),
    ]
    if plots:
        lines += ["### Plots", ""]
        for title, link in plots:
            lines += [f"![{title}]({link})", ""]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def splice(doc: str, section: str) -> str:
    """doc with the text between the markers replaced by section; the markers are inserted
    after the introduction (before the first `## ` heading, or at the end) when absent.
    A marker counts only on a line of its own, so prose may quote it."""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    begins = [m.start() for m in re.finditer(rf"^{re.escape(BEGIN)}[ \t]*$", doc, flags=re.MULTILINE)]
    ends = [m.end() for m in re.finditer(rf"^{re.escape(END)}[ \t]*$", doc, flags=re.MULTILINE)]
    if begins or ends:
        if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
            raise ValueError("the document must hold exactly one bench-report begin marker line "
                             "before one end marker line")
        return doc[:begins[0]] + block + doc[ends[0]:]
    match = re.search(r"^## ", doc, flags=re.MULTILINE)
    if match is None:
        return doc.rstrip("\n") + ("\n\n" if doc.strip() else "") + block + "\n"
    head, tail = doc[:match.start()], doc[match.start():]
    return head + block + "\n\n" + tail


# ------------------------------------------------------------------ plots


@dataclass
class LatencyGroup:
    name: str
    percentiles: dict[int, float]  # q -> milliseconds


def latency_groups(latest: Mapping[str, Rec]) -> dict[str, list[LatencyGroup]]:
    """Per benchmark, the figures that come as percentiles (name ending in .pNN or _pNN,
    unit of time), in milliseconds, in first-appearance order. A figure named
    ``..._vs_<peer>`` restates another beside a second peer and is left out."""
    out: dict[str, dict[str, LatencyGroup]] = {}
    for name, record in latest.items():
        match = _PERCENTILE.match(name)
        unit = str(record.get("unit", ""))
        if not match or unit not in _TIME_UNITS or record.get("value") is None or "_vs_" in match["group"]:
            continue
        ms = convert(float(record["value"]), unit, "ms")
        if ms is None or math.isnan(ms):
            continue
        group = match["group"]
        groups = out.setdefault(benchmark_of(name), {})
        groups.setdefault(group, LatencyGroup(group, {})).percentiles[int(match["q"])] = ms
    return {bench: list(groups.values()) for bench, groups in out.items()}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "figure.dpi": 100})
    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)


def plot_peers(latest: Mapping[str, Rec], path: Path) -> bool:
    """(a) pykube beside its peer, one small panel per figure that has a peer."""
    pairs = [r for r in latest.values() if r.get("peer") is not None and r.get("peer_value") is not None
             and r.get("value") is not None]
    if not pairs:
        return False
    plt = _pyplot()
    cols = min(4, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, r in zip(axes.flat, pairs):
        unit = str(r.get("unit", ""))
        values = [float(r["value"]), float(r["peer_value"])]
        labels = ["pykube", _wrap(str(r["peer"]), 22)]
        bars = ax.bar(labels, values, color=["#1f77b4", "#999999"])
        for bar, v in zip(bars, values):
            ax.annotate(fmt(v, unit), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
        rr = ratio(r)
        ax.set_title(f"{r['name']}\npykube/peer {rr:.2f}" if rr is not None else str(r["name"]))
        ax.set_ylabel(unit)
        ax.set_ylim(0, max(values) * 1.2 or 1)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    _save(fig, path)
    return True


def plot_targets(outcomes: Sequence[Outcome], path: Path) -> bool:
    """(b) measured / target for every target, with the 1.0 line: for ≤ targets a bar past
    the line is a miss, for ≥ targets a bar short of it is."""
    if not outcomes:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(outcomes) + 1.2))
    labels, values, colors = [], [], []
    for o in outcomes:
        sign = "≥" if o.target.comparison in (GE, RATIO_GE) else "≤"
        labels.append(f"{o.target.record} ({sign} {o.target.threshold:g} {o.target.unit})")
        values.append(o.attainment if o.attainment is not None else 0.0)
        colors.append("#2ca02c" if o.met else ("#d62728" if o.met is False else "#cccccc"))
    y = list(range(len(outcomes)))[::-1]
    ax.barh(y, values, color=colors)
    top = max([1.2, *[v * 1.15 for v in values]])
    for yy, v, o in zip(y, values, outcomes):
        ax.text(v + top * 0.01, yy, _short_verdict(o) if o.attainment is None else f"{v:.2f}", va="center",
                fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlim(0, top)
    ax.set_xlabel("measured / target (green met, red missed or failed, grey not measured or not comparable)")
    ax.set_title("targets (issues 6, 10, 11, 12 and 13)")
    _save(fig, path)
    return True


def _short_verdict(outcome: Outcome) -> str:
    """What a bar without a figure says: failed, not comparable, or not measured."""
    if outcome.met is False:
        return "failed"
    return "not comparable" if outcome.verdict.startswith("not comparable") else "not measured"


def plot_latency(bench: str, groups: Sequence[LatencyGroup], path: Path) -> bool:
    """(c) a benchmark's latency percentiles: p50/p95/p99 bars side by side per figure."""
    if not groups:
        return False
    plt = _pyplot()
    qs = sorted({q for g in groups for q in g.percentiles})
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(groups) + 1.5), 3.2))
    width = 0.8 / len(qs)
    values = [v for g in groups for v in g.percentiles.values() if v > 0]
    unit, scale = ("s", 1e-3) if values and max(values) >= 2000 else ("ms", 1.0)
    for i, q in enumerate(qs):
        xs = [x + (i - (len(qs) - 1) / 2) * width for x in range(len(groups))]
        heights = [g.percentiles.get(q, 0.0) * scale for g in groups]
        bars = ax.bar(xs, heights, width, label=f"p{q}")
        for bar, h in zip(bars, heights):
            if h > 0:
                ax.annotate(fmt(h), (bar.get_x() + bar.get_width() / 2, h), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([_wrap(g.name.split(".", 1)[-1], 18) for g in groups])
    if values and max(values) / min(values) > 10:
        ax.set_yscale("log")  # one figure in ms beside another in s: both stay readable
    ax.set_ylabel(unit)
    ax.set_title(f"{bench}: latency percentiles")
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.replace("_", "_\u200b").split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines).replace("\u200b", "")


def render_plots(records: Sequence[Rec], plots_dir: Path, link_base: Path) -> list[tuple[str, str]]:
    """Write the PNGs (removing this report's stale ones) and return (title, link) pairs,
    the links relative to link_base (the document's directory)."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    for pattern in PLOT_PATTERNS:
        for stale in plots_dir.glob(pattern):
            stale.unlink()
    latest = latest_records(records)
    made: list[tuple[str, Path]] = []
    if plot_peers(latest, plots_dir / "peers.png"):
        made.append(("pykube beside its peers", plots_dir / "peers.png"))
    if plot_targets(evaluate_targets(latest), plots_dir / "targets.png"):
        made.append(("target attainment", plots_dir / "targets.png"))
    for bench, groups in latency_groups(latest).items():
        path = plots_dir / f"latency-{bench}.png"
        if plot_latency(bench, groups, path):
            made.append((f"{bench} latency percentiles", path))
    return [(title, Path(os.path.relpath(path, link_base)).as_posix()) for title, path in made]


# ------------------------------------------------------------------ command


def report(results: Path, doc: Path = DEFAULT_DOC, plots_dir: Path | None = None, plots: bool = True) -> Path:
    """Render results into doc (in place) and its plots, and copy the results (and machine.json)
    beside the plots, so that the published document carries what it was rendered from;
    returns the document's path. MixedRun (nothing written) when the records' commits differ."""
    records = load_records(results)
    one_commit(latest_records(records))
    machine, recorded = load_machine(results)
    plots_dir = plots_dir if plots_dir is not None else doc.parent / "bench"
    links = render_plots(records, plots_dir, doc.parent) if plots else []
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(splice(text, render_section(records, machine, recorded, links)))
    plots_dir.mkdir(parents=True, exist_ok=True)
    for source in (results, results.parent / MACHINE_FILE):
        target = plots_dir / ("results.json" if source == results else MACHINE_FILE)
        if source.exists() and source.resolve() != target.resolve():
            shutil.copyfile(source, target)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, metavar="RESULTS.json")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="document to render into (default %(default)s)")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="where the PNGs go (default: bench/ beside --doc)")
    parser.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib needed)")
    args = parser.parse_args(argv)
    try:
        doc = report(args.results, args.doc, args.plots, plots=not args.no_plots)
    except MixedRun as err:
        print(f"bench.report: {err}", file=sys.stderr)
        return 1
    outcomes = evaluate_targets(latest_records(load_records(args.results)))
    for o in outcomes:
        shown = "–" if o.measured is None else fmt(o.measured, o.target.unit)
        print(f"{o.target.record:<36} {o.target.wanted:<22} {shown:>10}  {o.verdict}")
    print(f"report rendered into {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
