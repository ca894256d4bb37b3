"""Cluster benchmark on real Podman: the seed's story beside `podman kube play` and 4 parallel `podman run`.

The seed's story timed end to end over >= 10 runs (p50/p95), with both peers timed in
the same run on the same machine, and node loss.

    sudo .venv/bin/python -m bench.cluster [--runs N] [--node-loss-runs M] [--quick] [--out DIR]

1. apply → 4/4 Running   `pykube up --nodes 3`; each run applies examples/multi-worker.yaml
                         (Deployment, 4 replicas, images already in every node's cache after
                         a warm-up run) and times until 4 Pods are Running and Ready, as seen
                         through the API; then deletes it and waits until all is gone.
                         Peer: `podman kube play` of the same manifest through one node's
                         Podman API socket (it starts the 4 replicas and returns), then
                         `podman kube down`; without the containerPort declaration, which
                         Podman 4.3 would publish on the host 4 times over.
                         Second peer: 4 `podman run -d` of the same image (same memory
                         limit) started in parallel through that node's Podman API socket,
                         until all 4 return; then removed. What the containers alone cost
                         on one node, with no pods, API or scheduling around them.
2. node loss             with the Deployment running, a node with Pods loses power
                         (`LocalCluster.stop_node`: kubelet, Podman and containers killed)
                         and the time until 4 Pods run again on the other nodes is measured;
                         the node is booted again between runs. Default settings: the
                         controller-manager declares a node NotReady 8 s after its last
                         Lease renewal and evicts its Pods at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import grpc
import yaml

from apimachinery.convert import from_dict
from apimachinery.kinds import unwrap, wrap
from bench.common import REPO_ROOT, Record, append_results, percentile, print_table
from cluster.lab import environment_problems
from cluster.local_cluster import LocalCluster
from protos import api_pb2, api_pb2_grpc

MANIFEST = REPO_ROOT / "examples" / "multi-worker.yaml"
SELECTOR = "component=worker"
PODMAN_RUN_PEER = "4 parallel podman run"


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


def wait(what: str, check, timeout: float = 120.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def apply_run(stub: api_pb2_grpc.APIStub, deployment) -> float:
    began = time.monotonic()
    stub.Apply(api_pb2.ApplyRequest(objects=[wrap(deployment)]), timeout=10)
    wait("4/4 Running", lambda: len(running_pods(stub)) == 4)
    elapsed = time.monotonic() - began
    stub.Delete(api_pb2.DeleteRequest(kind="Deployment", namespace="default", name="multi-worker"), timeout=10)
    wait("everything gone", lambda: not stub.List(api_pb2.ListRequest(
        kind="Pod", namespace="default", label_selector=SELECTOR), timeout=10).items)
    return elapsed


def node_loss_run(cluster: LocalCluster, stub: api_pb2_grpc.APIStub) -> float:
    current = wait("4/4 Running", lambda: running_pods(stub) if len(running_pods(stub)) == 4 else None)
    victim = Counter(p.spec.node_name for p in current).most_common(1)[0][0]
    began = time.monotonic()
    cluster.stop_node(victim)
    try:
        wait("replacements Running", lambda: (lambda pods: len(pods) == 4 and all(
            p.spec.node_name != victim for p in pods))(running_pods(stub)))
        return time.monotonic() - began
    finally:
        cluster.start_node(victim)


def kube_play_runs(cluster: LocalCluster, runs: int, work: Path) -> list[float]:
    node = cluster.podman_node(cluster.spec(), "n1")
    manifest = work / "kube-play.yaml"
    # Podman 4.3 publishes a declared containerPort on the host when no hostPort is given,
    # so 4 replicas would fight over :8080; the peer runs the manifest without the port
    # declaration (which changes nothing about the containers themselves).
    peer = yaml.safe_load(MANIFEST.read_text())
    for container in peer["spec"]["template"]["spec"]["containers"]:
        container.pop("ports", None)
    manifest.write_text(yaml.safe_dump(peer))
    times = []
    for _ in range(runs):
        began = time.monotonic()
        node.remote("kube", "play", str(manifest), timeout=120)
        times.append(time.monotonic() - began)
        node.remote("kube", "down", str(manifest), timeout=120)
    return times


def podman_run_runs(cluster: LocalCluster, runs: int) -> list[float]:
    """4 parallel `podman run -d` of the manifest's image on one node, timed until all returned."""
    node = cluster.podman_node(cluster.spec(), "n1")
    container = yaml.safe_load(MANIFEST.read_text())["spec"]["template"]["spec"]["containers"][0]
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    replicas = int(yaml.safe_load(MANIFEST.read_text())["spec"]["replicas"])
    names = [f"peer-run-{i}" for i in range(replicas)]

    def start(name: str) -> None:
        memory = ["--memory", limit.replace("Mi", "m").replace("Gi", "g")] if limit else []
        node.remote("run", "-d", "--name", name, *memory, container["image"], timeout=120)

    times = []
    with ThreadPoolExecutor(max_workers=replicas) as pool:
        for _ in range(runs):
            began = time.monotonic()
            list(pool.map(start, names))  # re-raises the first failure
            times.append(time.monotonic() - began)
            node.remote("rm", "-f", "-t", "0", *names, timeout=120)
    return times


def summary(label: str, values: Sequence[float]) -> str:
    return (f"{label:<52} n={len(values):<3} p50 {percentile(values, 50):6.2f} s   "
            f"p95 {percentile(values, 95):6.2f} s")


def run(runs: int, node_loss_runs: int, out: Path | None) -> int:
    problems = environment_problems()
    if problems:
        print("bench.cluster cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    deployment = from_dict(yaml.safe_load(MANIFEST.read_text()))
    with tempfile.TemporaryDirectory(prefix="pkc-") as tmp:
        work = Path(tmp)
        cluster = LocalCluster(work / "state", name=f"bench{os.getpid() % 10000}", out=lambda *a, **k: None)
        try:
            cluster.up(nodes=3, kubeconfig=False)
            stub = api_pb2_grpc.APIStub(grpc.insecure_channel(cluster.address))
            apply_run(stub, deployment)  # warm-up: every node pulls the image once
            applies = [apply_run(stub, deployment) for _ in range(runs)]
            stub.Apply(api_pb2.ApplyRequest(objects=[wrap(deployment)]), timeout=10)
            losses = [node_loss_run(cluster, stub) for _ in range(node_loss_runs)]
            stub.Delete(api_pb2.DeleteRequest(kind="Deployment", namespace="default", name="multi-worker"),
                        timeout=10)
            wait("everything gone", lambda: not running_pods(stub))
            plays = kube_play_runs(cluster, runs, work)
            podman_runs = podman_run_runs(cluster, runs)
        finally:
            cluster.down(purge=True)
    print(summary("pykube: apply → 4/4 Running on 3 nodes", applies))
    print(summary("peer: podman kube play (4 replicas, one node)", plays))
    print(summary("peer: 4 parallel podman run -d (one node)", podman_runs))
    print(summary("pykube: node loss → replacements Running", losses))
    results = [Record(f"cluster.apply_to_running.p{q}", percentile(applies, q), "s", "podman kube play",
                      percentile(plays, q)) for q in (50, 95)]
    # The same pykube figures again, beside the second peer (a record holds one peer).
    results += [Record(f"cluster.apply_vs_podman_run.p{q}", percentile(applies, q), "s", PODMAN_RUN_PEER,
                       percentile(podman_runs, q)) for q in (50, 95)]
    results += [Record(f"cluster.node_loss_to_running.p{q}", percentile(losses, q), "s") for q in (50, 95)]
    print_table(results)
    if out is not None:
        print(f"results appended to {append_results(out, results, f'runs={runs},node_loss_runs={node_loss_runs}')}")
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
    return run(args.runs, args.node_loss_runs, args.out)


if __name__ == "__main__":
    sys.exit(main())
