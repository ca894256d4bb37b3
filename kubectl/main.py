"""``pykubectl``: parse the command line, connect, run the verb, report failures like kubectl.

Exit codes are kubectl's: 0 on success, 1 on any error. Every error is one line on
stderr (``error: ...`` or ``Error from server (Reason): ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Mapping, NoReturn, Sequence, TextIO

import grpc

from apimachinery.kinds import UnknownKindError
from client.config import ConfigError, Settings, credentials_hint, load_settings
from client.connection import DEFAULT_ADDRESS, ServerUnreachable, connect, is_unreachable, short_reason
from component_base.flags import duration_arg
from kubectl.context import Context
from kubectl.errors import CliError, UsageError, server_error_line, unreachable_line, unreachable_line_for
from kubectl.verbs import (
    api_resources,
    apply,
    auth,
    cordon,
    create,
    delete,
    describe,
    drain,
    events,
    exec,
    get,
    label,
    logs,
    port_forward,
    rollout,
    run,
    scale,
    version,
    wait,
)

PROG = "pykubectl"
VERBS = (apply, create, run, get, describe, delete, logs, exec, port_forward, events, label, scale, rollout, wait,
         cordon, drain, api_resources, version, auth)
DEFAULT_REQUEST_TIMEOUT = 30.0  # seconds a request may take once the server is reached
CONNECT_TIMEOUT = 5.0  # seconds to wait for a server that neither answers nor refuses
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports mistakes kubectl's way (raise, exit 1) instead of exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, verb=self.prog)


def add_global_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """Flags every command takes, before or after the verb (``default`` is SUPPRESS after it)."""
    parser.add_argument("--server", "-s", default=default, metavar="HOST:PORT",
                        help=f"the apiserver to talk to (default: $PYKUBECONFIG's server, else {DEFAULT_ADDRESS})")
    parser.add_argument("--kubeconfig", default=default, metavar="FILE",
                        help="the config file to use (default: $PYKUBECONFIG, else ~/.pykube/config)")
    parser.add_argument("-n", "--namespace", default=default, help="the namespace for this request")
    parser.add_argument("--request-timeout", type=duration_arg, default=default, metavar="DURATION",
                        help=f"give up on a request after this long, e.g. 30s; 0: never "
                             f"(default {DEFAULT_REQUEST_TIMEOUT:g}s)")


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="pykubectl controls a pykube cluster.")
    add_global_flags(parser, default=None)
    # The same flags after the verb; SUPPRESS keeps them from overwriting values given before it.
    common = Parser(add_help=False)
    add_global_flags(common, default=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)
    for verb in VERBS:
        verb.register(subparsers, common)
    return parser


def parse_command_line(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed command line.

    ``run NAME --image=I -- CMD ARGS``: argparse fills all positionals from their first run,
    so words after ``--`` that follow options are left over. For verbs that take them
    (``takes_command``), ``args.command`` gets the words after the first ``--``, as cobra's
    ArgsLenAtDash gives kubectl. (exec takes its command with argparse's REMAINDER.)
    """
    words = list(argv)
    try:
        return _parse(words)
    except UsageError:
        if "--" not in words:
            raise
        at = words.index("--")
        try:
            args = _parse(words[:at])
        except UsageError:
            args = None
        if args is None or not getattr(args, "takes_command", False):
            raise
        args.command = words[at + 1:]
        return args


def _parse(words: list[str]) -> argparse.Namespace:
    args, extras = build_parser().parse_known_args(words)
    # In ``label pods -l app=web tier=db`` the change comes after the positionals' first run;
    # verbs naming a list in ``extra_words`` get such leftover words.
    extra_words = getattr(args, "extra_words", None)
    if extras and (extra_words is None or any(word.startswith("-") for word in extras)):
        raise UsageError(f"unrecognized arguments: {' '.join(extras)}", verb=PROG)
    if extras:
        getattr(args, extra_words).extend(extras)
    return args


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parse_command_line(sys.argv[1:] if argv is None else argv)
        if args.verb is None:
            build_parser().print_help(out)
            return EXIT_OK
        settings = load_settings(args.server, args.namespace, env, args.kubeconfig)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except UsageError as error:
        err.write(f"error: {error}\nSee '{error.verb} -h' for help and examples.\n")
        return EXIT_ERROR
    except ConfigError as error:
        err.write(f"error: {error}\n")
        return EXIT_ERROR
    return _run_verb(args, settings, out, err, stdin or sys.stdin)


def _run_verb(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    timeout = DEFAULT_REQUEST_TIMEOUT if args.request_timeout is None else args.request_timeout
    try:
        with connect(settings.server, call_timeout=timeout or None, tls=settings.tls) as connection:

            def dial() -> Any:
                connection.dial(CONNECT_TIMEOUT)
                return connection.stub

            ctx = Context(settings=settings, connect=dial, out=out, err=err, stdin=stdin)
            return args.run(args, ctx)
    except (CliError, UnknownKindError) as error:
        err.write(f"error: {error}\n")
    except ServerUnreachable as error:
        err.write(unreachable_line(error.address, error.reason) + "\n")
    except grpc.RpcError as error:
        line = unreachable_line_for(settings.server, error) if is_unreachable(error) else server_error_line(error)
        err.write((_tls_refused_line(settings, error) or line) + "\n")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    return EXIT_ERROR


def _tls_refused_line(settings: Settings, error: grpc.RpcError) -> str | None:
    """A plaintext client that the server dropped at once (it wants TLS): say which config
    lacks the credentials rather than "cannot reach"."""
    hint = credentials_hint(settings)
    if hint is None or not is_unreachable(error) or short_reason(error) != "socket closed":
        return None
    return f"error: the server at {settings.server} closed a plaintext connection (it requires TLS): {hint}"


def _silence_stdout() -> None:
    """After ``pykubectl get pods | head -1``: point stdout at /dev/null so exiting stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
