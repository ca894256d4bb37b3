"""Sealed network namespaces for lab nodes, and ways for Python code to act inside one.

Each node of a local cluster lives in a named network namespace (``/run/netns/<name>``) that
has only ``lo`` up and no routes: whatever runs there (Podman, its bridge, the pods) can reach
the node's own addresses and nothing else. That is the lab's safety property, so this module
never adds a route or a link to the outside.

Python code acts inside a namespace from threads that switched into it with ``setns(2)``:
``kubelet.netns`` (the node side) has :func:`~kubelet.netns.enter_netns` and the probe
executor; here :func:`socket_in_netns` creates a socket there (e.g. the registry relay's
listener) for code that otherwise runs in the root namespace.

Why not ``ip netns exec``: it also remounts ``/sys`` for the child, which breaks runc's cgroup
lookup; use ``nsenter --net=<path>`` for child processes instead (:func:`nsenter_prefix`).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
from pathlib import Path

from kubelet.netns import enter_netns

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


def nsenter_prefix(path: str) -> list[str]:
    """Argv prefix that runs a command in the namespace (``nsenter``, not ``ip netns exec``)."""
    return ["nsenter", f"--net={path}", "--"]


def socket_in_netns(path: str, family: int = socket.AF_INET,
                    type: int = socket.SOCK_STREAM) -> socket.socket:
    """A new socket that belongs to ``path``'s namespace, created from a short-lived thread.

    The caller's thread never changes namespace, so this is safe from an asyncio loop or a
    gRPC server thread. Bind/listen/connect can then happen anywhere.
    """
    box: dict[str, object] = {}

    def make() -> None:
        try:
            enter_netns(path)
            box["sock"] = socket.socket(family, type)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=make, name="socket-in-netns")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["sock"]  # type: ignore[return-value]


def listen_in_netns(path: str, host: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``host:port`` inside the namespace (e.g. the registry relay)."""
    sock = socket_in_netns(path, socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
