#!/usr/bin/env bash
# The main job, as far as pykube has come: start an apiserver, apply the seed's
# Deployment (4 replicas of multi-worker) with pykubectl and show what the
# apiserver recorded. Everything it starts is stopped on exit.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO_ROOT/scripts/bootstrap.sh"
cd "$REPO_ROOT"

STATE_DIR="${PYKUBE_STATE_DIR:-$REPO_ROOT/.pykube-demo}"
ADDRESS="${PYKUBE_DEMO_ADDRESS:-127.0.0.1:6443}"
mkdir -p "$STATE_DIR"
export PYKUBECONFIG="$STATE_DIR/config"
printf 'server: %s\n' "$ADDRESS" > "$PYKUBECONFIG"

say "starting pykube-apiserver on $ADDRESS (store: $STATE_DIR/apiserver/pykube.db, log: $STATE_DIR/apiserver.log)"
.venv/bin/pykube-apiserver --listen "$ADDRESS" --data-dir "$STATE_DIR/apiserver" \
    >"$STATE_DIR/apiserver.log" 2>&1 &
APISERVER_PID=$!
stop_apiserver() {
    kill -TERM "$APISERVER_PID" 2>/dev/null && wait "$APISERVER_PID" 2>/dev/null || true
}
trap stop_apiserver EXIT

# Ready when our apiserver logs that it serves (not merely when something answers the port).
for _ in $(seq 1 200); do
    grep -q '"apiserver serving"' "$STATE_DIR/apiserver.log" 2>/dev/null && break
    if ! kill -0 "$APISERVER_PID" 2>/dev/null; then
        echo "pykube-apiserver did not start:" >&2; cat "$STATE_DIR/apiserver.log" >&2; exit 1
    fi
    sleep 0.05
done
grep -q '"apiserver serving"' "$STATE_DIR/apiserver.log" || { echo "pykube-apiserver did not start in 10 s" >&2; exit 1; }

run() { printf '\n$ %s\n' "$*"; "$@"; }
run .venv/bin/pykubectl apply -f examples/multi-worker.yaml
run .venv/bin/pykubectl get deployments
run .venv/bin/pykubectl get deployment multi-worker -o yaml
run .venv/bin/pykubectl get namespaces
say "done: the apiserver recorded the desired state (4 replicas of multi-worker)."
say "controllers, scheduler and kubelets that make it real land next (see README)."
