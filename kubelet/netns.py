"""Threads that live in a node's network namespace, for the kubelet's probes.

A lab node's Podman, its bridge and its pods live in a sealed network namespace
(``/run/netns/<name>``, made by ``cluster.netns``), while the kubelet stays in the
root namespace: it dials the apiserver on 127.0.0.1 and its Podman over a unix
socket. Probes, though, must reach pod IPs, which exist only inside the node's
namespace. Linux lets a single *thread* switch network namespace with ``setns(2)``,
and a socket keeps the namespace it was created in, whatever thread later uses it.
So:

* :func:`enter_netns` moves only the calling thread (``os.setns`` is Python 3.12+;
  we are on 3.11, hence ctypes);
* :func:`netns_executor` gives a thread pool whose workers all live in the node's
  namespace, for HTTP/TCP probes (``pykubelet --probe-netns``).
"""

from __future__ import annotations

import ctypes
import os
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
