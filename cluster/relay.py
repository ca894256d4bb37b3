"""Carry the local registry into a sealed node namespace: a loopback-to-loopback TCP relay.

A node's Podman runs inside the node's network namespace, where ``127.0.0.1`` is the node's
own loopback and the registry (on the root namespace's 127.0.0.1) is unreachable - by design,
the namespace has no routes. The relay listens on ``127.0.0.1:<port>`` *inside* the node
(the socket is created by a thread that ``setns``-ed there, see :mod:`cluster.netns`) and
forwards every connection to ``127.0.0.1:<port>`` in the root namespace. Traffic never leaves
loopback, and the node's ``registries.conf`` can say ``docker.io -> 127.0.0.1:<port>`` with the
same port the registry really has.

Why a process (``python -m cluster.relay``) rather than a thread in whoever creates the node:
a node outlives the Python call that set it up (``pykube up`` returns, the cluster keeps
running, ``pykube down`` comes from another process), so everything a node needs at run time
is a process with a PID file, stopped by that PID. The relay costs one small asyncio process
per node, and its thread-namespace tricks stay out of the kubelet and the test runner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from component_base.netns import listen_in_netns, socket_in_netns
from cluster.registry import pid_alive, stop_pid

REPO_ROOT = Path(__file__).resolve().parents[1]
BUFFER = 64 * 1024


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


def _check_loopback(host: str) -> None:
    # The lab's network rule: the relay only ever joins two loopbacks.
    if not (host.startswith("127.") or host == "::1"):
        raise ValueError(f"relay addresses must be loopback, got {host}")


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF, then pass the EOF on (half-close)."""
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def splice(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                 upstream_r: asyncio.StreamReader, upstream_w: asyncio.StreamWriter) -> None:
    """Relay both directions between two connections until both ended, then close them."""
    try:
        await asyncio.gather(pipe(client_r, upstream_w), pipe(upstream_r, client_w))
    finally:
        for w in (client_w, upstream_w):
            with contextlib.suppress(Exception):
                w.close()


async def serve(netns: str, listen: str, to: str, ready: asyncio.Event | None = None) -> None:
    """Accept inside ``netns`` on ``listen``, connect to ``to`` from this (root) namespace."""
    listen_host, listen_port = _split(listen)
    to_host, to_port = _split(to)
    _check_loopback(listen_host)
    _check_loopback(to_host)
    sock = listen_in_netns(netns, listen_host, listen_port)
    sock.setblocking(False)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(to_host, to_port)
        except OSError:
            client_w.close()
            return
        await splice(client_r, client_w, upstream_r, upstream_w)

    server = await asyncio.start_server(handle, sock=sock)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()


def wait_listening_in_netns(netns: str, host: str, port: int, timeout: float = 10.0,
                            proc: subprocess.Popen | None = None) -> None:
    """Poll until something accepts on ``host:port`` inside ``netns``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"relay exited with {proc.returncode}")
        sock = socket_in_netns(netns)
        try:
            sock.settimeout(1)
            sock.connect((host, port))
            return
        except OSError:
            time.sleep(0.05)
        finally:
            sock.close()
    raise RuntimeError(f"nothing listens on {host}:{port} inside {netns}")


class RelayProcess:
    """One relay process for one node, started and stopped by PID (PID file in ``state_dir``)."""

    def __init__(self, netns: str, listen: str, to: str, state_dir: str | os.PathLike,
                 also: Sequence[str] = ()) -> None:
        self.netns = netns
        self.listen = listen
        self.to = to
        # More loopback addresses carried into the namespace as they are (the registry cache).
        self.also = list(also)
        self.state_dir = Path(state_dir)
        self.pid_file = self.state_dir / "relay.pid"
        self.log_path = self.state_dir / "relay.log"
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        pairs = [(self.listen, self.to)] + [(address, address) for address in self.also]
        return [sys.executable, "-m", "cluster.relay", "--netns", self.netns,
                *(arg for listen, to in pairs for arg in ("--listen", listen, "--to", to))]

    def start(self) -> "RelayProcess":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, cwd=REPO_ROOT,
                                         start_new_session=True)
        self.pid_file.write_text(str(self.proc.pid))
        try:
            for address in [self.listen, *self.also]:
                host, port = _split(address)
                wait_listening_in_netns(self.netns, host, port, proc=self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; log: {self.log_path.read_text(errors='replace')[-2000:]}")
        return self

    def stop(self) -> None:
        pid = self.proc.pid if self.proc is not None else None
        if pid is None and self.pid_file.exists():
            pid = int(self.pid_file.read_text().strip() or 0) or None
        if pid is not None:
            # The relay's command line names its namespace: a reused PID will not match.
            stop_pid(pid, must_contain=f"--netns {self.netns}", proc=self.proc)
        self.proc = None
        self.pid_file.unlink(missing_ok=True)

    def alive(self) -> bool:
        return self.proc is not None and pid_alive(self.proc.pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.relay", description=__doc__.split("\n")[0])
    parser.add_argument("--netns", required=True, help="namespace file to listen in, e.g. /run/netns/X")
    parser.add_argument("--listen", required=True, action="append",
                        help="loopback host:port inside the namespace (repeatable, one per --to)")
    parser.add_argument("--to", required=True, action="append",
                        help="loopback host:port in this (root) namespace")
    args = parser.parse_args(argv)
    if len(args.listen) != len(args.to):
        parser.error("give one --to for each --listen")

    async def serve_all() -> None:
        await asyncio.gather(*(serve(args.netns, listen, to) for listen, to in zip(args.listen, args.to)))

    try:
        asyncio.run(serve_all())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
