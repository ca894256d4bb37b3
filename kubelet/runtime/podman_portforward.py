"""Port-forward on Podman: dial 127.0.0.1:<port> inside a sandbox's network namespace.

The CRI's PortForward (containerd, CRI-O) enters the sandbox's network namespace and connects to
``localhost:<port>`` there, trying IPv4 then IPv6; so does this. The namespace is reached as
``/proc/<infra container PID>/ns/net``, not as the ``/run/netns/netns-...`` path Podman reports:
a node's Podman runs in a private mount namespace (see cluster/podman_node.py), so its
``/run/netns`` pins are invisible to the kubelet, while /proc (one PID namespace) is not.

The socket is made in the namespace by a short-lived thread (``socket_in_netns``) and keeps that
namespace for its whole life, so the kubelet's event loop uses it like any other connection.
Errors read as containerd's, with Go's socket words (``dial tcp4 127.0.0.1:8080: connect:
connection refused``).
"""

from __future__ import annotations

import socket
from typing import Any, Callable

from podman.errors import APIError, NotFound

from component_base.netns import socket_in_netns
from kubelet.runtime import ContainerRuntimeError
from kubelet.runtime.podman_mapping import error_message

CONNECT_TIMEOUT = 5.0  # seconds; a local connect answers at once, unless the namespace is wedged


def infra_pid(sandbox_id: str, infra: dict[str, Any] | None) -> int:
    """The PID of the sandbox's running infra container (from its inspect), whose netns is the Pod's."""
    state = (infra or {}).get("State") or {}
    pid = int(state.get("Pid") or 0)
    if infra is None or not state.get("Running") or pid <= 0:
        raise ContainerRuntimeError(f'failed to find network namespace of sandbox "{sandbox_id}": '
                                    "its infra container is not running")
    return pid


def sandbox_infra_pid(get_json: Callable[[str], Any], sandbox_id: str) -> int:
    """The infra container's PID, from the pod's and then the infra container's inspect
    (``get_json``: the adapter's GET of a libpod path)."""
    infra = None
    try:
        pod = get_json(f"/pods/{sandbox_id}/json")
        infra_id = pod.get("InfraContainerID") or pod.get("InfraId") or ""
        if infra_id:
            try:
                infra = get_json(f"/containers/{infra_id}/json")
            except NotFound:
                pass  # gone since: reported below as not running
    except NotFound:
        raise ContainerRuntimeError(f'sandbox "{sandbox_id}" not found') from None
    except APIError as err:
        raise ContainerRuntimeError(error_message(err)) from None
    return infra_pid(sandbox_id, infra)


def netns_of(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def _dial(netns_path: str, family: int, host: str, port: int) -> socket.socket:
    sock = socket_in_netns(netns_path, family)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _go_words(err: OSError, network: str, address: str) -> str:
    """``dial tcp4 127.0.0.1:8080: connect: connection refused``, as Go's net package words it."""
    reason = "i/o timeout" if isinstance(err, TimeoutError) else (err.strerror or str(err)).lower()
    return f"dial {network} {address}: connect: {reason}"


def dial_in_netns(netns_path: str, sandbox_id: str, port: int) -> socket.socket:
    """A connected TCP socket to localhost:port in the namespace (IPv4 first, then IPv6).

    Blocking: run it in a worker thread."""
    try:
        return _dial(netns_path, socket.AF_INET, "127.0.0.1", port)
    except OSError as v4:
        try:
            return _dial(netns_path, socket.AF_INET6, "::1", port)
        except OSError as v6:
            if isinstance(v4, FileNotFoundError) or isinstance(v6, FileNotFoundError):
                raise ContainerRuntimeError(f'failed to execute portforward in network namespace "{netns_path}": '
                                            "the namespace is gone (the sandbox stopped)") from None
            raise ContainerRuntimeError(
                f'failed to execute portforward in network namespace "{netns_path}": failed to connect to '
                f'localhost:{port} inside namespace "{sandbox_id}", '
                f"IPv4: {_go_words(v4, 'tcp4', f'127.0.0.1:{port}')} "
                f"IPv6 {_go_words(v6, 'tcp6', f'[::1]:{port}')}") from None
