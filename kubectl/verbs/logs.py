"""``pykubectl logs``: print a container's output.

    pykubectl logs web-7d4b9-x2x4z
    pykubectl logs web-7d4b9-x2x4z -c sidecar --tail 20
    pykubectl logs -f web-7d4b9-x2x4z
    pykubectl logs --previous web-7d4b9-x2x4z        # the instance before the last restart

Like kubectl, it asks the apiserver (API.Logs), which finds the Pod's node and relays
the output from that node's kubelet: pykubectl never talks to a node.

The output is the container's raw bytes, written as they arrive and flushed per
chunk, so ``-f`` is live and binary or non-UTF-8 output passes through untouched.
Ctrl-C ends a ``-f`` normally (exit 0), as it does for kubectl.
"""

from __future__ import annotations

import argparse
import codecs
from typing import Any, TextIO

import grpc

from apimachinery.kinds import resolve_resource
from client.connection import is_unreachable
from kubectl.context import Context
from kubectl.errors import GENERIC_SERVER_ERROR, REASONS, CliError, reason_for
from kubectl.resources import kind_ref
from protos import kubelet_pb2

# Kubernetes answers every refused log request (which container, no host yet, waiting
# to start, no previous instance) with 400 BadRequest; pykube carries those as
# INVALID_ARGUMENT or FAILED_PRECONDITION, which other verbs show as Invalid/Forbidden.
LOG_REASONS: dict[grpc.StatusCode, str] = {
    **REASONS,
    grpc.StatusCode.INVALID_ARGUMENT: "BadRequest",
    grpc.StatusCode.FAILED_PRECONDITION: "BadRequest",
}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "logs", parents=[common], help="Print the logs for a container in a pod",
        description="Print the output of a container in a pod (the pod's only container unless -c names one).",
    )
    parser.add_argument("pod", metavar="POD", help="the pod: NAME or pod/NAME")
    parser.add_argument("inline_container", nargs="?", default="", metavar="CONTAINER",
                        help="the container (same as -c; kubectl's older form)")
    parser.add_argument("-c", "--container", default="", help="the container to print the logs of")
    parser.add_argument("-f", "--follow", action="store_true", help="keep streaming new output until Ctrl-C")
    parser.add_argument("-p", "--previous", action="store_true",
                        help="print the logs of the previous instance of the container (before its last restart)")
    parser.add_argument("--tail", type=int, default=-1, metavar="N",
                        help="only the last N lines; -1 (default): all of them")
    parser.set_defaults(run=run)


def pod_name(arg: str) -> str:
    """``web`` or ``pod/web`` (``pods/web``, ``po/web``) → ``web``."""
    if "/" not in arg:
        return arg
    kind, _, name = arg.partition("/")
    info = resolve_resource(kind)  # an unknown type is the usual "doesn't have a resource type" error
    if info.kind != "Pod":
        raise CliError(f"cannot get logs from {kind_ref(info)}/{name}: only pods are supported "
                       "(name one of its pods: pykubectl get pods)")
    if not name or "/" in name:
        raise CliError(f'arguments in resource/name form must have a single resource and name: "{arg}"')
    return name


def build_request(args: argparse.Namespace, namespace: str) -> kubelet_pb2.LogsRequest:
    """The API.Logs request the command line asks for (empty container: the server picks
    the Pod's only one, or says which to choose from)."""
    if args.container and args.inline_container:
        raise CliError("only one of -c or an inline [CONTAINER] arg is allowed")
    request = kubelet_pb2.LogsRequest(
        namespace=namespace, pod=pod_name(args.pod), container=args.container or args.inline_container,
        follow=args.follow, previous=args.previous,
    )
    if args.tail != -1:  # kubectl's "all"; any other value (even a bad one) is the server's to judge
        request.tail_lines = args.tail
    return request


def error_line(err: grpc.RpcError) -> str:
    """``Error from server (BadRequest): container "c" in pod "x" is waiting to start``"""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or GENERIC_SERVER_ERROR
    reason = LOG_REASONS.get(code, reason_for(code)) if code is not None else reason_for(None)
    return f"Error from server ({reason}): {details}"


class ByteSink:
    """Writes raw bytes to a text stream's binary buffer, flushed per chunk.

    A stream without one (tests' StringIO) gets the bytes decoded incrementally, so a
    UTF-8 character split across two chunks still comes out whole."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.binary = getattr(out, "buffer", None)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> None:
        if self.binary is not None:
            self.out.flush()  # whatever went out as text first stays first
            self.binary.write(data)
            self.binary.flush()
        else:
            self.out.write(self.decoder.decode(data))
            self.out.flush()

    def close(self) -> None:
        if self.binary is None:
            rest = self.decoder.decode(b"", final=True)
            if rest:
                self.out.write(rest)
                self.out.flush()


def run(args: argparse.Namespace, ctx: Context) -> int:
    request = build_request(args, ctx.namespace)
    sink = ByteSink(ctx.out)
    call = None
    try:
        call = ctx.api.Logs(request)
        for chunk in call:
            sink.write(chunk.data)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a user ends `logs -f`
    except grpc.RpcError as err:
        if is_unreachable(err):
            raise  # "cannot reach the apiserver", as every verb says it
        sink.close()
        ctx.warn(error_line(err))
        return 1
    finally:
        sink.close()
        if call is not None and hasattr(call, "cancel"):
            call.cancel()  # no-op when finished; else tells the server to stop streaming
    return 0
