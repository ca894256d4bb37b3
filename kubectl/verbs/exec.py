"""``pykubectl exec``: run a command in a container of a Pod.

    pykubectl exec web-7d4b9-x2x4z -- ls /
    pykubectl exec web-7d4b9-x2x4z -c sidecar -- cat /etc/hostname
    pykubectl exec -it web-7d4b9-x2x4z -- sh            # an interactive shell
    echo hi | pykubectl exec -i web-7d4b9-x2x4z -- cat

Like kubectl, it asks the apiserver (API.Exec, one bidirectional stream), which relays to the
kubelet of the Pod's node, which runs the command in the container: pykubectl never talks to a
node. With ``-i`` stdin goes to the command; with ``-t`` (and a terminal on stdin) the local
terminal is put in raw mode for the session (every key goes to the command, Ctrl-C included)
and restored on exit, and its size (and every resize, SIGWINCH) is passed on.

Exit codes are kubectl's: the command's own exit code, with ``command terminated with exit
code N`` on stderr when it is not 0; 1 when the exec itself failed (no such Pod or container).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import shutil
import signal
import termios
import threading
import tty as tty_mod
from typing import Any, Iterator

import grpc

from client.connection import is_unreachable
from kubectl.context import Context
from kubectl.errors import CliError, is_not_found, server_error_line
from kubectl.verbs.logs import ByteSink, pod_name
from protos import api_pb2, kubelet_pb2

READ_SIZE = 32 * 1024


def add_exec_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--container", default="", help="the container (default: the pod's first)")
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    parser.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print output from the remote session")


class _FlagsParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise CliError(message)


# The flags again, for those written between POD and ``--`` (argparse hands them to COMMAND).
LATE_FLAGS = _FlagsParser(prog="pykubectl exec", add_help=False)
add_exec_flags(LATE_FLAGS)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "exec", parents=[common], help="Execute a command in a container",
        description="Execute a command in a container of a pod (the pod's first container unless -c names one).",
    )
    parser.add_argument("pod", metavar="POD", help="the pod: NAME or pod/NAME")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [args...]",
                        help="the command to run and its arguments, after --")
    add_exec_flags(parser)
    parser.set_defaults(run=run)


def command_of(args: argparse.Namespace) -> list[str]:
    """The command after ``--``; flags between POD and ``--`` are parsed into ``args``."""
    command = list(args.command)
    if command and command[0].startswith("-") and "--" in command:  # argparse keeps "--" only then
        at = command.index("--")
        flags, command = command[:at], command[at + 1:]
        if flags:
            LATE_FLAGS.parse_args(flags, namespace=args)
    if not command:
        raise CliError("you must specify at least one command for the container")
    return command


def choose_container(pod: Any, requested: str, ctx: Context, quiet: bool) -> str:
    """kubectl's default: the first container, with a note when there was a choice."""
    if requested:
        return requested
    names = [c.name for c in pod.spec.containers]
    if len(names) > 1 and not quiet:
        ctx.warn(f'Defaulted container "{names[0]}" out of: {", ".join(names)}')
    return names[0]


def error_line(err: grpc.RpcError) -> str:
    """A refused upgrade reads as kubectl's; everything else as the server's error."""
    details = err.details() if hasattr(err, "details") else ""
    if details and details.startswith("container not found"):
        return f"error: unable to upgrade connection: {details}"
    return server_error_line(err)


class Terminal:
    """The local terminal in raw mode for the session, its size, and SIGWINCH (``-t`` only)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved = termios.tcgetattr(fd)

    def size(self) -> kubelet_pb2.TerminalSize:
        columns, lines = shutil.get_terminal_size()
        with contextlib.suppress(OSError):
            columns, lines = os.get_terminal_size(self.fd)
        return kubelet_pb2.TerminalSize(width=columns, height=lines)

    @contextlib.contextmanager
    def raw(self, on_resize: Any) -> Iterator[None]:
        previous = signal.signal(signal.SIGWINCH, lambda *_: on_resize(self.size()))
        tty_mod.setraw(self.fd)
        try:
            yield
        finally:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            signal.signal(signal.SIGWINCH, previous)


def read_stdin(fd: int, inputs: "queue.Queue[kubelet_pb2.ExecInput | None]", stop: threading.Event) -> None:
    """Stdin → the request stream, in a thread of its own; its end becomes ``stdin_closed``."""
    while not stop.is_set():
        try:
            data = os.read(fd, READ_SIZE)
        except OSError:
            data = b""
        if not data:
            inputs.put(kubelet_pb2.ExecInput(stdin_closed=True))
            return
        inputs.put(kubelet_pb2.ExecInput(stdin=data))


def requests(start: kubelet_pb2.ExecStart,
             inputs: "queue.Queue[kubelet_pb2.ExecInput | None]") -> Iterator[kubelet_pb2.ExecInput]:
    yield kubelet_pb2.ExecInput(start=start)
    while (item := inputs.get()) is not None:
        yield item


def run(args: argparse.Namespace, ctx: Context) -> int:
    command = command_of(args)
    name = pod_name(args.pod)
    pod = ctx.api.Get(api_pb2.GetRequest(kind="Pod", namespace=ctx.namespace, name=name)).pod
    container = choose_container(pod, args.container, ctx, args.quiet)
    if pod.status.phase in ("Succeeded", "Failed"):
        raise CliError(f"cannot exec into a container in a completed pod; current phase is {pod.status.phase}")
    stdin_fd = _fileno(ctx.stdin)
    terminal = None
    if args.tty:
        if args.stdin and stdin_fd is not None and os.isatty(stdin_fd):
            terminal = Terminal(stdin_fd)
        elif not args.quiet:
            ctx.warn("Unable to use a TTY - input is not a terminal or the right kind of file")
    start = kubelet_pb2.ExecStart(namespace=ctx.namespace, pod=name, container=container, command=command,
                                  stdin=args.stdin, tty=terminal is not None)
    if terminal is not None:
        start.size.CopyFrom(terminal.size())
    inputs: queue.Queue[kubelet_pb2.ExecInput | None] = queue.Queue()
    stop = threading.Event()
    if args.stdin:
        if stdin_fd is None:
            data = ctx.stdin.read()
            inputs.put(kubelet_pb2.ExecInput(stdin=data.encode() if isinstance(data, str) else data))
            inputs.put(kubelet_pb2.ExecInput(stdin_closed=True))
        else:
            threading.Thread(target=read_stdin, args=(stdin_fd, inputs, stop), daemon=True).start()
    stdout, stderr = ByteSink(ctx.out), ByteSink(ctx.err)
    exit_code = 0
    call = ctx.api.Exec(requests(start, inputs))
    raw = terminal.raw(lambda size: inputs.put(kubelet_pb2.ExecInput(resize=size))) \
        if terminal is not None else contextlib.nullcontext()
    try:
        with raw:
            for output in call:
                which = output.WhichOneof("output")
                if which == "stdout":
                    stdout.write(output.stdout)
                elif which == "stderr":
                    stderr.write(output.stderr)
                elif which == "exit_code":
                    exit_code = output.exit_code
    except grpc.RpcError as err:
        if is_unreachable(err) or (is_not_found(err) and (err.details() or "").startswith("pods ")):
            raise
        ctx.warn(error_line(err))
        return 1
    finally:
        stop.set()
        inputs.put(None)
        call.cancel()
        stdout.close()
        stderr.close()
    if exit_code != 0:
        ctx.warn(f"command terminated with exit code {exit_code}")
    return exit_code


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


