"""Cluster benchmark on real Podman: the seed's story beside `podman kube play` and 4 parallel `podman run -d`.

The seed's story timed end to end over >= 10 runs (p50/p95), with both peers timed in
the same run on the same machine, and node loss.

    sudo .venv/bin/python -m bench.cluster [--runs N] [--node-loss-runs M] [--quick] [--out DIR]

1. apply → 4/4 Running   `pykube up --nodes 3`; each run applies examples/multi-worker.yaml
                         (Deployment, 4 replicas) and times until 4 Pods are Running and
                         Ready, as seen through the API (polled every 20 ms); then deletes
                         it and waits until all is gone (untimed).
                         Peer A: `podman kube play` of the same manifest through node n1's
                         Podman API socket, then `podman kube down` (untimed); without the
                         containerPort declaration, which Podman 4.3 would publish on the
                         host 4 times over.
                         Peer B: 4 `podman run -d` of the same image (same memory limit)
                         started in parallel through n1's socket, then removed (untimed):
                         what the containers alone cost on one node, with no pods, API or
                         scheduling around them.
                         Fair to the peers: each gets the same untimed warm-up run as
                         pykube (images in the cache, Podman's own caches warm); the runs
                         are interleaved (pykube, A, B, pykube, A, B, ...) so that a noisy
                         neighbour on the machine hits all three alike; and every one is
                         timed from its first call to the same observable point, its 4
                         containers seen running by a poll every 20 ms (pykube: through
                         the API, Pods Running and Ready; the peers: through the node's
                         Podman API, containers in state running).
2. node loss             with the Deployment running, a node with Pods loses power
                         (`LocalCluster.stop_node`: kubelet, Podman and containers killed)
                         and the time until 4 Pods run again on the other nodes is measured;
                         the node is booted again between runs. Default settings: the
                         controller-manager declares a node NotReady 8 s after its last
                         Lease renewal and evicts its Pods at once.

A run that fails or times out is a failure: an infinite time in the percentiles, and
counted in the record (the targets allow none); the benchmark carries on with the next.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import grpc
import podman
import yaml

from apimachinery.convert import from_dict
from apimachinery.kinds import unwrap, wrap
from bench.common import REPO_ROOT, append_results, latency_records, mode, percentile, print_table
from client.connection import connect
from cluster.lab import environment_problems
from cluster.local_cluster import LocalCluster
from protos import api_pb2, api_pb2_grpc

MANIFEST = REPO_ROOT / "examples" / "multi-worker.yaml"
SELECTOR = "component=worker"
PODMAN_RUN_PEER = "4 parallel podman run -d"
REPLICAS = 4
KUBE_PLAY_POD = "multi-worker-pod"  # `podman kube play` names the Deployment's pods <name>-pod-<i>
POLL = 0.02  # seconds between two looks at "are the 4 running yet", for pykube and the peers alike


def running_pods(stub: api_pb2_grpc.APIStub) -> list:
    reply = stub.List(api_pb2.ListRequest(kind="Pod", namespace="default", label_selector=SELECTOR), timeout=10)
    out = []
    for wrapped in reply.items:
        pod = unwrap(wrapped)
        statuses = pod.status.container_statuses
        if (not pod.metadata.HasField("deletion_timestamp") and pod.status.phase == "Running" and statuses
                and all(s.ready and s.state.HasField("running") for s in statuses)):
            out.append(pod)
    return out


def wait(what: str, check, timeout: float = 120.0, interval: float = POLL):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


class Runs:
    """Times of one contender's runs and its failures (a failed run is an infinite time)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.times: list[float] = []
        self.failures: list[str] = []

    def run(self, timed: Callable[[], float], cleanup: Callable[[], None]) -> None:
        try:
            self.times.append(timed())
        except (TimeoutError, RuntimeError, subprocess.SubprocessError, grpc.RpcError) as err:
            self.failures.append(f"{type(err).__name__}: {err}")
            print(f"  {self.label}: run failed: {err}", file=sys.stderr, flush=True)
        finally:
            cleanup()


def apply_run(stub: api_pb2_grpc.APIStub, deployment) -> float:
    began = time.monotonic()
    stub.Apply(api_pb2.ApplyRequest(objects=[wrap(deployment)]), timeout=10)
    wait("4/4 Running", lambda: len(running_pods(stub)) == REPLICAS)
    return time.monotonic() - began


def apply_cleanup(stub: api_pb2_grpc.APIStub) -> None:
    try:
        stub.Delete(api_pb2.DeleteRequest(kind="Deployment", namespace="default", name="multi-worker"), timeout=10)
    except grpc.RpcError:
        pass  # a failed run may not have created it
    wait("everything gone", lambda: not stub.List(api_pb2.ListRequest(
        kind="Pod", namespace="default", label_selector=SELECTOR), timeout=10).items)


def node_loss_run(cluster: LocalCluster, stub: api_pb2_grpc.APIStub) -> float:
    current = wait("4/4 Running", lambda: running_pods(stub) if len(running_pods(stub)) == REPLICAS else None)
    victim = Counter(p.spec.node_name for p in current).most_common(1)[0][0]
    began = time.monotonic()
    cluster.stop_node(victim)
    try:
        wait("replacements Running", lambda: (lambda pods: len(pods) == REPLICAS and all(
            p.spec.node_name != victim for p in pods))(running_pods(stub)))
        return time.monotonic() - began
    finally:
        cluster.start_node(victim)


class PodmanPeers:
    """The two peers on node n1: `podman kube play` and 4 parallel `podman run -d`, each
    timed until its 4 containers are seen running through n1's Podman API."""

    def __init__(self, cluster: LocalCluster, work: Path) -> None:
        self.node = cluster.podman_node(cluster.spec(), "n1")
        self.client = podman.PodmanClient(base_url=self.node.url)
        manifest = yaml.safe_load(MANIFEST.read_text())
        # Podman 4.3 publishes a declared containerPort on the host when no hostPort is given,
        # so 4 replicas would fight over :8080; the peer runs the manifest without the port
        # declaration (which changes nothing about the containers themselves).
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            container.pop("ports", None)
        self.manifest = work / "kube-play.yaml"
        self.manifest.write_text(yaml.safe_dump(manifest))
        self.container = manifest["spec"]["template"]["spec"]["containers"][0]
        self.names = [f"peer-run-{i}" for i in range(REPLICAS)]
        self.pool = ThreadPoolExecutor(max_workers=REPLICAS)

    def _running(self, name_pattern: str) -> bool:
        found = self.client.containers.list(filters={"status": "running", "name": name_pattern})
        return len([c for c in found if not c.attrs.get("IsInfra")]) == REPLICAS

    def kube_play(self) -> float:
        began = time.monotonic()
        self.node.remote("kube", "play", str(self.manifest), timeout=120)
        wait("kube play: 4 containers running", lambda: self._running(f"^{KUBE_PLAY_POD}"))
        return time.monotonic() - began

    def kube_down(self) -> None:
        self.node.remote("kube", "down", str(self.manifest), check=False, timeout=120)

    def podman_run(self) -> float:
        limit = self.container.get("resources", {}).get("limits", {}).get("memory")
        memory = ["--memory", limit.replace("Mi", "m").replace("Gi", "g")] if limit else []

        def start(name: str) -> None:
            self.node.remote("run", "-d", "--name", name, *memory, self.container["image"], timeout=120)
        began = time.monotonic()
        list(self.pool.map(start, self.names))  # re-raises the first failure
        wait("podman run: 4 containers running", lambda: self._running("^peer-run-"))
        return time.monotonic() - began

    def podman_rm(self) -> None:
        self.node.remote("rm", "-f", "-t", "0", "--ignore", *self.names, check=False, timeout=120)

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


def summary(label: str, runs: Runs) -> str:
    failures = len(runs.failures)
    return (f"{label:<52} n={len(runs.times):<3} p50 {percentile(runs.times, 50, failures):6.2f} s   "
            f"p95 {percentile(runs.times, 95, failures):6.2f} s" + (f"   {failures} failed" if failures else ""))


def run(runs: int, node_loss_runs: int, out: Path | None, quick: bool) -> int:
    problems = environment_problems()
    if problems:
        print("bench.cluster cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    deployment = from_dict(yaml.safe_load(MANIFEST.read_text()))
    applies, plays, podman_runs = Runs("pykube apply"), Runs("podman kube play"), Runs(PODMAN_RUN_PEER)
    losses = Runs("node loss")
    with tempfile.TemporaryDirectory(prefix="pkc-") as tmp:
        work = Path(tmp)
        cluster = LocalCluster(work / "state", name=f"bench{os.getpid() % 10000}", out=lambda *a, **k: None)
        peers: PodmanPeers | None = None
        try:
            cluster.up(nodes=3, kubeconfig=False)
            stub = connect(cluster.address, call_timeout=None, tls=cluster.admin_tls()).stub
            peers = PodmanPeers(cluster, work)
            contenders = ((applies, lambda: apply_run(stub, deployment), lambda: apply_cleanup(stub)),
                          (plays, peers.kube_play, peers.kube_down),
                          (podman_runs, peers.podman_run, peers.podman_rm))
            for _, timed, cleanup in contenders:  # the same untimed warm-up for each (pulls, caches)
                Runs("warm-up").run(timed, cleanup)
            for _ in range(runs):  # interleaved: A B C A B C ...
                for runs_of, timed, cleanup in contenders:
                    runs_of.run(timed, cleanup)
            stub.Apply(api_pb2.ApplyRequest(objects=[wrap(deployment)]), timeout=10)
            for _ in range(node_loss_runs):
                losses.run(lambda: node_loss_run(cluster, stub), lambda: None)
            apply_cleanup(stub)
        finally:
            if peers is not None:
                peers.close()
            cluster.down(purge=True)
    print(summary("pykube: apply → 4/4 Running on 3 nodes", applies))
    print(summary("peer: podman kube play (4 replicas, one node)", plays))
    print(summary("peer: 4 parallel podman run -d (one node)", podman_runs))
    print(summary("pykube: node loss → replacements Running", losses))
    results = latency_records("cluster.apply_to_running", applies.times, len(applies.failures), (50, 95), "s",
                              "podman kube play", plays.times, len(plays.failures))
    # The same pykube figures again, beside the second peer (a record holds one peer).
    results += latency_records("cluster.apply_vs_podman_run", applies.times, len(applies.failures), (50, 95), "s",
                               PODMAN_RUN_PEER, podman_runs.times, len(podman_runs.failures))
    results += latency_records("cluster.node_loss_to_running", losses.times, len(losses.failures), (50, 95), "s")
    print_table(results)
    if out is not None:
        conditions = {"mode": mode(quick), "nodes": 3, "runs": runs, "node_loss_runs": node_loss_runs}
        print(f"results appended to {append_results(out, results, conditions)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="apply runs and kube play runs (default %(default)s)")
    parser.add_argument("--node-loss-runs", type=int, default=10, help="node-loss runs (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each")
    parser.add_argument("--out", type=Path, help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = args.node_loss_runs = 3
    return run(args.runs, args.node_loss_runs, args.out, args.quick)


if __name__ == "__main__":
    sys.exit(main())
