"""Job throughput on hollow nodes: one Job of 100 completions, parallelism 10 → Complete.

    python -m bench.jobs                 # 10 hollow nodes, 100 completions, parallelism 10
    python -m bench.jobs --quick         # 3 hollow nodes, 20 completions, parallelism 5
    python -m bench.jobs --completions 100 --parallelism 10 --nodes 10 --container-seconds 1 --out results/

A whole control plane, each piece its own process, as bench.scheduler runs it:
``pykube-apiserver``, ``pykube-scheduler``, ``pykube-controller-manager`` (its Job
controller) and one ``python -m kubelet.hollow`` process of N hollow nodes. The hollow
nodes' fake runtime is told (``--exit-after IMAGE=SECONDS``) that a container of the Job's
image exits 0 SECONDS after it started (default 0: at once, so the figure is the control
plane's alone; ``--container-seconds S`` for Pods that work S seconds), so each Pod
Succeeds; the Job controller then creates the next, keeping ``parallelism`` Pods active,
until ``completions`` have succeeded and the Job gets its Complete condition.

**These are hollow-node figures** (record names ``jobs.hollow.*``, conditions
``kubelets: hollow``): the controllers, the scheduler, the apiserver and the kubelet's
Pod workers are the real code, the containers are pretend. They measure the control
plane's Job machinery, not how fast Podman runs containers.

Figures:

* ``jobs.hollow.time_to_complete``: the Job's Create call → its Complete condition seen;
* ``jobs.hollow.completions_per_s``: completions / time_to_complete;
* ``jobs.hollow.floor``: the least time possible with these containers,
  ceil(completions / parallelism) × SECONDS (the rest is the control plane's overhead);
* ``jobs.hollow.overhead_per_wave``: (time_to_complete − floor) / waves, the control plane's
  time per round of ``parallelism`` Pods (create, schedule, start, report, count);
* ``jobs.hollow.max_active``: the most active Pods the Job's status showed (≤ parallelism);
* ``jobs.hollow.failed_pods``: Pods that failed (should be none).

A Job that is not Complete by the time-out (or ends Failed) is a failure: time_to_complete
infinite, the record carries the completions missing. Processes are stopped by PID at the
end, also on errors and time-outs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import grpc

from bench.common import (ChildProcess, Record, append_results, apiserver_healthy, mode, print_table,
                          raise_from_stage, run_benchmark, start_apiserver, start_component, start_control_plane,
                          wait_nodes_ready, wait_until)
from client.api import unwrap, wrap
from protos import api_pb2, api_pb2_grpc, batch_pb2, core_pb2, meta_pb2

NAMESPACE = "default"
JOB_NAME = "bench-job"
IMAGE = "docker.io/library/busybox:1.36"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0
POLL_INTERVAL = 0.05  # the Job's status is read this often: the resolution of time_to_complete


@dataclass
class Settings:
    nodes: int = 10
    completions: int = 100
    parallelism: int = 10
    container_seconds: float = 0.0  # how long each fake container runs before exiting 0
    timeout: float = 300.0
    nodes_timeout: float = 120.0
    quick: bool = False


QUICK = Settings(nodes=3, completions=20, parallelism=5, timeout=120.0, nodes_timeout=60.0, quick=True)


@dataclass
class Results:
    settings: Settings
    started: float = math.nan  # monotonic time of the Job's Create call
    finished_at: float = math.nan  # when the Job was first seen Complete (or Failed)
    outcome: str = ""  # "Complete", "Failed", "" (neither before the time-out)
    succeeded: int = 0
    failed: int = 0
    max_active: int = 0
    nodes_ready_after: float = math.nan
    errors: list[str] = field(default_factory=list)


def make_job(settings: Settings) -> batch_pb2.Job:
    """The benchmark's Job: COMPLETIONS Pods of IMAGE, PARALLELISM at once, restartPolicy Never."""
    job = batch_pb2.Job(metadata=meta_pb2.ObjectMeta(name=JOB_NAME, namespace=NAMESPACE))
    job.spec.completions = settings.completions
    job.spec.parallelism = settings.parallelism
    job.spec.backoff_limit = 0
    job.spec.template.spec.restart_policy = "Never"
    job.spec.template.spec.termination_grace_period_seconds = 0
    job.spec.template.spec.containers.add(name="work", image=IMAGE)
    return job


def finished(job: batch_pb2.Job) -> str:
    """"Complete" or "Failed" once the Job has that condition True, else ""."""
    for condition in job.status.conditions:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition.type
    return ""


def note(results: Results, job: batch_pb2.Job, now: float) -> bool:
    """Fold one reading of the Job into results; True once it has finished."""
    results.succeeded, results.failed = job.status.succeeded, job.status.failed
    results.max_active = max(results.max_active, job.status.active)
    outcome = finished(job)
    if outcome and not results.outcome:
        results.outcome, results.finished_at = outcome, now
    return bool(outcome)


def floor_seconds(settings: Settings) -> float:
    """The least time COMPLETIONS Pods of SECONDS each take, PARALLELISM at a time."""
    return math.ceil(settings.completions / settings.parallelism) * settings.container_seconds


def build_records(r: Results) -> list[Record]:
    s = r.settings
    missing = max(0, s.completions - r.succeeded)
    complete = r.outcome == "Complete" and not missing
    failures = 0 if complete else max(missing, 1)
    elapsed = r.finished_at - r.started if complete else math.inf
    waves = math.ceil(s.completions / s.parallelism)
    floor = floor_seconds(s)
    return [
        Record("jobs.hollow.time_to_complete", elapsed, "s", failures=failures),
        Record("jobs.hollow.completions_per_s", s.completions / elapsed if complete else math.nan, "completions/s",
               failures=failures),
        Record("jobs.hollow.floor", floor, "s"),
        Record("jobs.hollow.overhead_per_wave", (elapsed - floor) / waves if complete else math.nan, "s",
               failures=failures),
        Record("jobs.hollow.max_active", r.max_active, "pods"),
        Record("jobs.hollow.failed_pods", r.failed, "pods"),
        Record("jobs.hollow.nodes_ready_after", r.nodes_ready_after, "s"),
    ]


async def watch_job(stub: api_pb2_grpc.APIStub, results: Results, hollow: ChildProcess, timeout: float) -> None:
    """Read the Job every POLL_INTERVAL until it finishes or the time-out passes."""
    deadline = results.started + timeout
    while time.monotonic() < deadline:
        hollow.check_alive()
        reply = await stub.Get(api_pb2.GetRequest(kind="Job", namespace=NAMESPACE, name=JOB_NAME),
                               timeout=CALL_TIMEOUT)
        if note(results, unwrap(reply), time.monotonic()):
            return
        await asyncio.sleep(POLL_INTERVAL)
    results.errors.append(f"not finished after {timeout:.0f} s: {results.succeeded} succeeded, "
                          f"{results.failed} failed")


async def run_once(work: Path, settings: Settings) -> Results:
    results = Results(settings)
    apiserver, address = start_apiserver(work)
    processes: dict[str, ChildProcess] = {"apiserver": apiserver}
    channel: grpc.aio.Channel | None = None
    stage = "starting the apiserver"
    try:
        await wait_until(lambda: apiserver_healthy(address), apiserver, START_TIMEOUT)
        stage = "starting the scheduler and controller-manager"
        await start_control_plane(work, address, processes)
        stage = f"starting {settings.nodes} hollow nodes"
        processes["hollow_nodes"] = start_component(
            work, "hollow-nodes", "kubelet.hollow", address, "--nodes", str(settings.nodes),
            "--exit-after", f"{IMAGE}={settings.container_seconds}")
        channel = grpc.aio.insecure_channel(address)
        stub = api_pb2_grpc.APIStub(channel)
        results.nodes_ready_after = await wait_nodes_ready(stub, settings.nodes, processes["hollow_nodes"],
                                                          settings.nodes_timeout)
        print(f"  {settings.nodes} hollow Nodes Ready after {results.nodes_ready_after:.1f} s", flush=True)
        stage = "running the Job"
        results.started = time.monotonic()
        await stub.Create(api_pb2.CreateRequest(object=wrap(make_job(settings))), timeout=CALL_TIMEOUT)
        await watch_job(stub, results, processes["hollow_nodes"], settings.timeout)
        return results
    except Exception as err:
        raise_from_stage(err, stage, processes.values())
    finally:
        if channel is not None:
            await channel.close()
        for process in reversed(list(processes.values())):
            process.stop()


async def run(settings: Settings, out: Path | None) -> int:
    print(f"jobs benchmark (HOLLOW nodes: real control plane and kubelets, fake containers): one Job of "
          f"{settings.completions} completions, parallelism {settings.parallelism}, each Pod's container exiting 0 "
          f"after {settings.container_seconds} s, on {settings.nodes} hollow nodes", flush=True)
    with tempfile.TemporaryDirectory(prefix="pykube-bench-jobs-") as tmp:
        results = await run_once(Path(tmp), settings)
    for error in results.errors:
        print(f"  {error}")
    print(f"  Job {results.outcome or 'not finished'}: {results.succeeded} succeeded, {results.failed} failed")
    records = build_records(results)
    print_table(records)
    if out is not None:
        conditions = {"mode": mode(settings.quick), "nodes": settings.nodes, "kubelets": "hollow",
                      "completions": settings.completions, "parallelism": settings.parallelism,
                      "container_seconds": settings.container_seconds}
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    return 0  # a Job that did not complete is a figure (failures in the records), shown above


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, metavar="N", help=f"hollow nodes (default {defaults.nodes}; "
                                                               f"--quick {QUICK.nodes})")
    parser.add_argument("--completions", type=int, metavar="C",
                        help=f"the Job's completions (default {defaults.completions}; --quick {QUICK.completions})")
    parser.add_argument("--parallelism", type=int, metavar="P",
                        help=f"the Job's parallelism (default {defaults.parallelism}; --quick {QUICK.parallelism})")
    parser.add_argument("--container-seconds", type=float, metavar="S",
                        help=f"each fake container runs S seconds, then exits 0 (default {defaults.container_seconds})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.nodes} nodes, {QUICK.completions} completions, parallelism {QUICK.parallelism}")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else defaults

    def pick(value, default):
        return default if value is None else value
    settings = Settings(nodes=pick(args.nodes, base.nodes), completions=pick(args.completions, base.completions),
                        parallelism=pick(args.parallelism, base.parallelism),
                        container_seconds=pick(args.container_seconds, base.container_seconds),
                        timeout=base.timeout, nodes_timeout=base.nodes_timeout, quick=args.quick)
    if min(settings.nodes, settings.completions, settings.parallelism) < 1 or settings.container_seconds < 0:
        parser.error("--nodes, --completions and --parallelism must be >= 1, --container-seconds >= 0")
    return settings, args.out


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
