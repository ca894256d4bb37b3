"""``pykubectl port-forward``: reach a Pod's port from this machine.

    pykubectl port-forward pod/web 8080            # 127.0.0.1:8080 -> the Pod's 8080
    pykubectl port-forward web 9000:8080 9001:9090
    pykubectl port-forward svc/client 3050         # the Service's port 3050 -> its targetPort
    pykubectl port-forward deployment/web :8080    # a free local port
    pykubectl port-forward --address 0.0.0.0 pod/web 8080

Like kubectl, it listens locally (``--address``, default ``localhost``: 127.0.0.1 and ::1) and
forwards every connection it accepts to the Pod's port through the apiserver (API.PortForward),
which relays to the kubelet of the Pod's node, which dials the port inside the Pod's network
namespace: no route to the Pod is needed, and a server bound to the Pod's own localhost works.
One call carries one connection, both ways, half-closes included (the local client's EOF
reaches the Pod's server as EOF). A Service, Deployment or ReplicaSet is forwarded to one Pod of
its selector, chosen once at the start as kubectl does (see port_forward_targets.py).

It prints ``Forwarding from 127.0.0.1:8080 -> 8080`` per listener and ``Handling connection for
8080`` per connection, and runs until Ctrl-C (exit 0). A connection the Pod refuses prints
kubectl's ``an error occurred forwarding 8080 -> 8080: ...`` and is closed; the others go on.
Bad input (a bad port, a Pod that is not running, a local port in use) is one ``error:`` line and
exit 1, before anything listens.
"""

from __future__ import annotations

import argparse
import ipaddress
import selectors
import socket
import threading
from typing import Any, Iterable, Iterator, Sequence

import grpc

from apimachinery.kinds import resolve_resource, unwrap
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.verbs.port_forward_targets import (
    ForwardedPort,
    convert_named_ports,
    go_type,
    parse_ports,
    pick_pod,
    pod_selector,
    translate_service_ports,
)
from protos import api_pb2, core_pb2, kubelet_pb2

READ_SIZE = 32 * 1024
SELECTOR_KINDS = ("Service", "Deployment", "ReplicaSet")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "port-forward", parents=[common], help="Forward one or more local ports to a pod",
        description="Forward one or more local ports to a pod (or a pod of a service, deployment or replicaset).",
    )
    parser.add_argument("target", metavar="TYPE/NAME", help="pod/NAME (or NAME), svc/NAME, deployment/NAME, rs/NAME")
    parser.add_argument("ports", nargs="*", metavar="[LOCAL_PORT:]REMOTE_PORT",
                        help="LOCAL:REMOTE, or REMOTE (the same port locally), or :REMOTE (a free local port)")
    parser.add_argument("--address", action="append", default=None, metavar="ADDRESSES",
                        help="addresses to listen on (comma separated); only IP addresses or localhost "
                             "(default localhost)")
    parser.set_defaults(run=run)


# ------------------------------------------------------------------ the target


def resolve_target(target: str, ports: Sequence[str], ctx: Context) -> tuple[core_pb2.Pod, list[ForwardedPort]]:
    """The Pod to forward to and the port pairs, as kubectl's Complete and Validate decide them."""
    kind_word, slash, name = target.partition("/")
    if not slash:
        kind_word, name = "pod", target
    info = resolve_resource(kind_word)  # an unknown type: "the server doesn't have a resource type"
    if not name or "/" in name:
        raise CliError(f'arguments in resource/name form must have a single resource and name: "{target}"')
    obj = _get(ctx, info.kind, name)
    if info.kind == "Pod":
        pod = obj
    elif info.kind in SELECTOR_KINDS:
        selector = pod_selector(obj)
        reply = ctx.api.List(api_pb2.ListRequest(kind="Pod", namespace=ctx.namespace, label_selector=str(selector)))
        pod = pick_pod([unwrap(item) for item in reply.items])
        if pod is None:
            raise CliError(f"no pods found for {info.singular}/{name} (selector {selector})")
    else:
        raise CliError(f"cannot attach to {go_type(info.kind, info.api_version)}: "
                       f"selector for {go_type(info.kind, info.api_version)} not implemented")
    specs = translate_service_ports(ports, obj, pod) if info.kind == "Service" else convert_named_ports(ports, pod)
    forwards = parse_ports(specs)
    if pod.status.phase != "Running":
        raise CliError(f"unable to forward port because pod is not running. Current status={pod.status.phase}")
    return pod, forwards


def _get(ctx: Context, kind: str, name: str) -> Any:
    return unwrap(ctx.api.Get(api_pb2.GetRequest(kind=kind, namespace=ctx.namespace, name=name)))


# ------------------------------------------------------------------ listening


def listen_addresses(values: Iterable[str] | None) -> list[tuple[str, bool]]:
    """(IP, required) to listen on: ``localhost`` is 127.0.0.1 and, if it works, ::1."""
    out: list[tuple[str, bool]] = []
    for value in values or ["localhost"]:
        for address in filter(None, (part.strip() for part in value.split(","))):
            if address == "localhost":
                out += [("127.0.0.1", True), ("::1", False)]
                continue
            try:
                out.append((str(ipaddress.ip_address(address)), True))
            except ValueError:
                raise CliError(f"{address} is not a valid IP") from None
    return out


def _show(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def open_listeners(forwards: Sequence[ForwardedPort], addresses: Sequence[tuple[str, bool]]
                   ) -> list[tuple[socket.socket, ForwardedPort]]:
    """A listening socket per (port, address); port 0 becomes one free port for all addresses.

    A port that cannot be listened on is kubectl's ``Unable to listen on port ...``; then nothing
    listens at all."""
    listeners: list[tuple[socket.socket, ForwardedPort]] = []
    try:
        for forward in forwards:
            local, failures = forward.local, []
            for ip, required in addresses:
                family = socket.AF_INET6 if ":" in ip else socket.AF_INET
                try:
                    sock = socket.socket(family, socket.SOCK_STREAM)
                except OSError as err:
                    if required:
                        failures.append(f"unable to create listener: Error listen {_network(ip)} "
                                        f"{_show(ip, local)}: socket: {_words(err)}")
                    continue
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((ip, local))
                    sock.listen(128)
                except OSError as err:
                    sock.close()
                    if required:
                        failures.append(f"unable to create listener: Error listen {_network(ip)} "
                                        f"{_show(ip, local)}: bind: {_words(err)}")
                    continue
                local = sock.getsockname()[1]
                listeners.append((sock, ForwardedPort(local, forward.remote)))
            if failures:
                raise CliError(f"Unable to listen on port {forward.local}: Listeners failed to create with the "
                               f"following errors: [{' '.join(failures)}]")
    except BaseException:
        for sock, _ in listeners:
            sock.close()
        raise
    return listeners


def _network(ip: str) -> str:
    return "tcp6" if ":" in ip else "tcp4"


def _words(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


# ------------------------------------------------------------------ one connection


def requests_from(conn: socket.socket, start: kubelet_pb2.PortForwardStart) -> Iterator[kubelet_pb2.PortForwardInput]:
    """Local client → the request stream: the start, its bytes, and its EOF as ``data_closed``."""
    yield kubelet_pb2.PortForwardInput(start=start)
    while True:
        try:
            data = conn.recv(READ_SIZE)
        except OSError:
            data = b""
        if not data:
            yield kubelet_pb2.PortForwardInput(data_closed=True)
            return
        yield kubelet_pb2.PortForwardInput(data=data)


def deliver(outputs: Iterable[kubelet_pb2.PortForwardOutput], conn: socket.socket) -> str:
    """The Pod's bytes → the local client, then EOF to it; the Pod's error (or "") at the end."""
    try:
        for output in outputs:
            if output.WhichOneof("output") == "data":
                conn.sendall(output.data)
            elif output.WhichOneof("output") == "error":
                return output.error
        conn.shutdown(socket.SHUT_WR)  # the Pod's server closed: the local client reads EOF
    except OSError:
        pass  # the local client went away; the call ends with it
    return ""


def forward_connection(api: Any, conn: socket.socket, start: kubelet_pb2.PortForwardStart,
                       forward: ForwardedPort, ctx: Context, stopping: threading.Event) -> None:
    """One accepted connection, in a thread of its own, for as long as both sides keep it.

    Once the command is stopping (Ctrl-C), calls cut short by the closing channel say nothing."""
    call = api.PortForward(requests_from(conn, start))
    try:
        try:
            error = deliver(call, conn)
        except grpc.RpcError as err:
            error = err.details() or str(err.code())
        if error and not stopping.is_set():
            ctx.warn(f"an error occurred forwarding {forward.local} -> {forward.remote}: {error}")
    finally:
        call.cancel()
        try:
            conn.shutdown(socket.SHUT_RDWR)  # also wakes the request iterator's recv
        except OSError:
            pass
        conn.close()


def serve(listeners: Sequence[tuple[socket.socket, ForwardedPort]], pod: core_pb2.Pod, ctx: Context,
          stopping: threading.Event) -> None:
    """Accept until interrupted; each connection gets its own thread and API call."""
    with selectors.DefaultSelector() as selector:
        for sock, forward in listeners:
            selector.register(sock, selectors.EVENT_READ, forward)
        while True:
            for key, _ in selector.select():
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                forward: ForwardedPort = key.data
                ctx.print(f"Handling connection for {forward.local}")
                start = kubelet_pb2.PortForwardStart(namespace=pod.metadata.namespace, pod=pod.metadata.name,
                                                     port=forward.remote)
                threading.Thread(target=forward_connection, args=(ctx.api, conn, start, forward, ctx, stopping),
                                 name=f"port-forward-{forward.local}", daemon=True).start()


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.ports:
        raise CliError("TYPE/NAME and list of ports are required for port-forward")
    addresses = listen_addresses(args.address)
    pod, forwards = resolve_target(args.target, args.ports, ctx)
    listeners = open_listeners(forwards, addresses)
    stopping = threading.Event()
    try:
        for sock, forward in listeners:
            ip = sock.getsockname()[0]
            ctx.print(f"Forwarding from {_show(ip, forward.local)} -> {forward.remote}")
        serve(listeners, pod, ctx, stopping)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how port-forward ends
    finally:
        stopping.set()
        for sock, _ in listeners:
            sock.close()
    return 0
