"""``pykubectl run NAME --image=IMAGE``: start one Pod, as kubectl run does.

    pykubectl run web --image=nginx:1.25 --port=80
    pykubectl run once --image=busybox --restart=Never -- echo hello
    pykubectl run shell --image=busybox --command -- sh -c 'sleep 3600'
    pykubectl run web --image=nginx --labels=app=web,tier=front --env=MODE=demo

The Pod is kubectl's: one container named NAME, label ``run=NAME`` (unless --labels),
restartPolicy from --restart. Arguments after ``--`` are the container's args, or its
command with --command. Prints ``pod/NAME created``. (Attaching with -i/-t is exec's.)
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.verbs.create import add_output_flags, create_and_report
from protos import core_pb2, meta_pb2

RESTART_POLICIES = ("Always", "OnFailure", "Never")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run", parents=[common], help="Run a particular image on the cluster",
        description="Create a Pod running one container of IMAGE.",
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--image", default="", help="the container image to run")
    parser.add_argument("--restart", default="Always", metavar="POLICY",
                        help="the Pod's restartPolicy: Always (default), OnFailure or Never")
    parser.add_argument("-l", "--labels", default="", metavar="KEY=VALUE,...",
                        help="labels for the Pod (default run=NAME)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable for the container; may be repeated")
    parser.add_argument("--port", type=int, default=-1, help="the port the container exposes")
    parser.add_argument("--command", dest="as_command", action="store_true",
                        help="the words after -- are the container's command, not its args")
    add_output_flags(parser)
    # main.parse_command_line puts the words after -- in args.command
    parser.set_defaults(run=run, takes_command=True, command=[])


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not key or not equals:
            raise CliError(f"invalid {what}: {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def pod_object(args: argparse.Namespace) -> core_pb2.Pod:
    if not args.image:
        raise CliError('required flag(s) "image" not set')
    if args.restart not in RESTART_POLICIES:
        raise CliError(f"invalid restart policy: {args.restart}")
    if args.as_command and not args.command:
        raise CliError("--command requires arguments after --")
    labels = _pairs(args.labels.split(","), "label") if args.labels else {"run": args.name}
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=args.name, labels=labels))
    pod.spec.restart_policy = args.restart
    container = pod.spec.containers.add(name=args.name, image=args.image)
    (container.command if args.as_command else container.args).extend(args.command)
    for key, value in _pairs(args.env, "env").items():
        container.env.add(name=key, value=value)
    if args.port >= 0:
        container.ports.add(container_port=args.port)
    return pod


def run(args: argparse.Namespace, ctx: Context) -> int:
    return create_and_report(ctx, args, pod_object(args))
