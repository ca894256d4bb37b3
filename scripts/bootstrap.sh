#!/usr/bin/env bash
# Set up everything pykube needs on a fresh Debian/Ubuntu machine, idempotently:
# system packages (when missing) and the project's virtualenv in .venv.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run on its own.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# System packages. Python >= 3.11 with venv is all the apiserver and pykubectl need.
need_apt=()
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# Local cluster nodes (cluster/): rootful Podman with runc, netavark + aardvark-dns networking
# (iptables inside each node's namespace), nftables for pykube-proxy's rules, catatonit for pod infra containers, Debian's
# docker-registry standing in for Docker Hub, and busybox-static to build the lab images offline.
node_pkgs=(podman runc netavark aardvark-dns iptables nftables procps catatonit docker-registry busybox-static iproute2 util-linux)
need_node=()
for pkg in "${node_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_node+=("$pkg")
done
if ((${#need_node[@]})) && [ "$(id -u)" -ne 0 ] && ! ((${#need_apt[@]})); then
    # Only the nodes need these (and root); the apiserver and pykubectl work without them.
    echo "note: local cluster nodes need: ${need_node[*]} (install as root: apt-get install ${need_node[*]})" >&2
    need_node=()
fi
need_apt+=("${need_node[@]}")
if ((${#need_apt[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "pykube needs these packages: ${need_apt[*]} (run as root or: sudo apt-get install ${need_apt[*]})" >&2
        exit 1
    fi
    say "installing system packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# The virtualenv, reinstalled only when pyproject.toml or the extras installed change
# (the stamp holds a hash of both). Extras: test (pytest), bench (matplotlib, for the
# benchmark report's plots).
extras="test,bench"
stamp="$VENV/.pykube-installed"
want="$({ cat "$REPO_ROOT/pyproject.toml"; echo "extras=$extras"; } | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in .venv"
    python3 -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing pykube and its dependencies into .venv"
    pip_log="$VENV/pip-install.log"
    if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
           "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT[$extras]"; } >"$pip_log" 2>&1; then
        cat "$pip_log" >&2
        echo "installing pykube into .venv failed (log above, also in $pip_log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
