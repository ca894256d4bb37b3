#!/usr/bin/env bash
# Run pykube's tests: set up (scripts/bootstrap.sh), check the generated gRPC stubs
# are current, then pytest. Extra arguments go to pytest (e.g. tests/unit -k watch).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO_ROOT/scripts/bootstrap.sh"
cd "$REPO_ROOT"

.venv/bin/python -m protos.generate --check
exec .venv/bin/python -m pytest "$@"
