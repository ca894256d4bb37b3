"""Sealed network namespaces for lab nodes, and ways for Python code to act inside one.

Each node of a local cluster lives in a named network namespace (``/run/netns/<name>``) that
has only ``lo`` up and no routes: whatever runs there (Podman, its bridge, the pods) can reach
the node's own addresses and nothing else. That is the lab's safety property, so this module
never adds a route or a link to the outside.

How code acts inside a namespace (a thread that ``setns``-ed, a socket made there, ``nsenter``
for child processes) is :mod:`component_base.netns`, shared with the kubelet and pykube-proxy.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

NETNS_DIR = Path("/run/netns")
_NAME_OK = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")

def netns_name(cluster: str, node: str) -> str:
    """The namespace name of a node: ``pykube-<cluster>-<node>`` (what ``ip netns list`` shows)."""
    name = f"pykube-{cluster}-{node}"
    if not _NAME_OK.match(name):
        raise ValueError(f"invalid network namespace name {name!r}")
    return name

def netns_path(name: str) -> str:
    """The bind-mounted namespace file that ``setns``/``nsenter --net=`` take."""
    return str(NETNS_DIR / name)

def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")

def create_netns(name: str) -> str:
    """Create a sealed namespace: ``lo`` up, no other link, no route. Returns its path.

    An existing namespace of that name (left by a crashed run) is reused after checking it has
    no default route, so a restart never widens what the lab can reach.
    """
    if not _NAME_OK.match(name):
        raise ValueError(f"invalid network namespace name {name!r}")
    path = netns_path(name)
    if not os.path.exists(path):
        _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")
    if has_default_route(name):
        raise RuntimeError(f"network namespace {name} has a default route; refusing to use it")
    return path

def delete_netns(name: str) -> None:
    """Remove the namespace's name; the kernel frees it when its last process is gone."""
    if os.path.exists(netns_path(name)):
        _ip("netns", "delete", name)

def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))

def routes(name: str, family: str = "-4") -> str:
    """``ip route`` output inside the namespace (for checks and debugging)."""
    result = subprocess.run(["ip", "-n", name, family, "route", "show", "table", "all"],
                            capture_output=True, text=True, check=True)
    return result.stdout

def has_default_route(name: str) -> bool:
    for family in ("-4", "-6"):
        for line in routes(name, family).splitlines():
            if line.startswith("default"):
                return True
    return False
