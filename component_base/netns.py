"""Acting inside another network namespace: threads, sockets and child processes.

A lab node's Podman, its bridge and its Pods live in a network namespace of their own
(``/run/netns/<name>``, made by ``cluster.netns``), while the node's agents (the kubelet,
pykube-proxy) stay in the root namespace: they dial the apiserver on 127.0.0.1. Some of their
work must happen in the node's network, though (probes and port-forwards reach Pod IPs, the
proxy's DNS server listens on the node's cluster DNS address). Linux lets a single *thread*
switch network namespace with ``setns(2)``, and a socket keeps the namespace it was created in,
whatever thread later uses it. So:

* :func:`enter_netns` moves only the calling thread (``os.setns`` is Python 3.12+; we are on
  3.11, hence ctypes);
* :func:`netns_executor` gives a thread pool whose workers all live in the namespace (the
  kubelet's HTTP/TCP probes, ``pykubelet --probe-netns``);
* :func:`socket_in_netns` / :func:`listen_in_netns` make a socket there from a short-lived
  thread, for code that otherwise runs in the root namespace;
* :func:`nsenter_prefix` runs a child process there. Why not ``ip netns exec``: it also remounts
  ``/sys`` for the child, which breaks runc's cgroup lookup; ``nsenter --net=<path>`` does not.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.setns.restype = ctypes.c_int


def enter_netns(path: str) -> None:
    """Move the *calling thread* (only it) into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def netns_executor(path: str, max_workers: int = 4,
                   thread_name_prefix: str = "netns") -> ThreadPoolExecutor:
    """A thread pool whose every worker runs inside ``path``'s namespace (for probes).

    Workers never switch back, so anything submitted (``urllib``, ``socket.create_connection``)
    sees the node's network: pod IPs are reachable, the root namespace's 127.0.0.1 is not.
    """
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix,
                              initializer=enter_netns, initargs=(path,))


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
