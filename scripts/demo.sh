#!/usr/bin/env bash
# The main job: the seed's story on a real local cluster.
#   1. pykube up --nodes 3: a registry standing in for Docker Hub, the control plane
#      (apiserver, scheduler, controller-manager) and 3 nodes, each a kubelet with its
#      own Podman, image cache and sealed network namespace;
#   2. pykubectl apply examples/multi-worker.yaml (4 replicas of multi-worker) and wait;
#   3. pykubectl get pods -o wide: the 4 replicas spread 2/1/1 over the 3 nodes;
#   4. self-healing: podman kill one container → the kubelet restarts it, RESTARTS 1.
# The cluster keeps running afterwards; `sudo .venv/bin/pykube down` stops it.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
    echo "the demo starts a local cluster, which needs root (network namespaces, rootful Podman): run it with sudo" >&2
    exit 1
fi
source "$REPO_ROOT/scripts/bootstrap.sh"
cd "$REPO_ROOT"

STATE_DIR="${PYKUBE_STATE_DIR:-/var/lib/pykube}"
export PYKUBE_STATE_DIR="$STATE_DIR"
PYKUBE=.venv/bin/pykube
KUBECTL=.venv/bin/pykubectl
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

if $PYKUBE status >/dev/null 2>&1; then
    say "a cluster is already running in $STATE_DIR: using it"
else
    run $PYKUBE up --nodes 3
fi
run $KUBECTL get nodes
run $KUBECTL apply -f examples/multi-worker.yaml --wait --timeout 180s
run $KUBECTL get deployment multi-worker
run $KUBECTL get pods -o wide

say "the desired state (4 replicas) is the current state; pods per node:"
$KUBECTL get pods -o json | .venv/bin/python -c '
import collections, json, sys
pods = [p for p in json.load(sys.stdin)["items"] if p.get("status", {}).get("phase") == "Running"]
for node, n in sorted(collections.Counter(p["spec"]["nodeName"] for p in pods).items()):
    print(f"  {node}: {n} x multi-worker")'

# Self-healing, as in the seed notes: kill a container behind the cluster's back.
read -r POD NODE CONTAINER < <($KUBECTL get pods -o json | .venv/bin/python -c '
import json, sys
pod = sorted(json.load(sys.stdin)["items"], key=lambda p: p["metadata"]["name"])[0]
print(pod["metadata"]["name"], pod["spec"]["nodeName"], pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])')
say "killing the container of pod $POD on node $NODE with podman kill"
run $PYKUBE podman "$NODE" kill "$CONTAINER" >/dev/null
for _ in $(seq 1 150); do
    restarts=$($KUBECTL get pod "$POD" | awk 'NR==2 {print $4}')
    status=$($KUBECTL get pod "$POD" | awk 'NR==2 {print $3}')
    [ "$restarts" = "1" ] && [ "$status" = "Running" ] && break
    sleep 0.2
done
run $KUBECTL get pods
[ "$restarts" = "1" ] || { echo "the container was not restarted" >&2; exit 1; }
say "the kubelet restarted it: RESTARTS 1, 4 replicas running again."
say "the cluster keeps running (state in $STATE_DIR): try .venv/bin/pykubectl get pods -o wide;"
say "stop it with: sudo .venv/bin/pykube down"
