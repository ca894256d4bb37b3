"""``pykubectl wait``: block until objects reach a condition, are deleted, or a field has a value.

    pykubectl wait --for=condition=Ready pod/web --timeout=60s
    pykubectl wait --for=condition=Available=true deploy -l app=web
    pykubectl wait --for=delete pod/web
    pykubectl wait --for=jsonpath='{.status.phase}'=Running pod/web

Each object is read once, then WATCHED (by name, from the resourceVersion read) until
the condition holds: no polling. Like kubectl, the timeout (default 30s; 0 checks once;
negative waits a week) is per object, and the lines are kubectl's::

    pod/web condition met
    error: timed out waiting for the condition on pods/web      (exit 1)

A condition matches case-insensitively (``ready`` is ``Ready``) and, like kubectl's, only
once the object's controller has seen its latest spec (status.observedGeneration).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any, Callable

import grpc
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.duration import parse_duration
from apimachinery.kinds import KindInfo
from client.api import is_not_found
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.jsonpath import JsonPathError, parse, relaxed, to_text
from kubectl.resources import kind_ref, parse_resource_args, resource_ref
from kubectl.verbs.updating import get_object
from kubectl.verbs.options import add_selection_flags, selected_names
from kubectl.watching import DELETED, Query, follow

DEFAULT_TIMEOUT = 30.0
WEEK = 7 * 24 * 3600.0


def _timeout(text: str) -> float:
    negative = text.startswith("-")
    try:
        seconds = parse_duration(text[1:] if negative else text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return WEEK if negative else seconds


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "wait", parents=[common], help="Experimental: Wait for a specific condition on one or many resources",
        description="Wait until objects have a condition, are deleted, or a field has a value.",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="pod/web, deploy, pods")
    parser.add_argument("names", nargs="*", metavar="NAME", help="names of the objects to wait for")
    parser.add_argument("--for", dest="for_", metavar="CONDITION", default="",
                        help="delete, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE]")
    parser.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="DURATION",
                        help="give up on each object after this long (default 30s; 0: check once)")
    add_selection_flags(parser, "wait for")
    parser.set_defaults(run=run)


# A check says whether an object (its Kubernetes JSON form) is where we wait for it to be.
Check = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Wanted:
    """What --for asks: deletion, or a check on the object."""

    delete: bool = False
    check: Check | None = None


def parse_for(text: str) -> Wanted:
    if not text:
        raise CliError("--for must be specified: delete, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE]")
    if text.lower() == "delete":
        return Wanted(delete=True)
    kind, _, argument = text.partition("=")
    if kind.lower() == "condition" and argument:
        name, _, value = argument.partition("=")
        return Wanted(check=lambda data: condition_met(data, name, value or "True"))
    if kind.lower() == "jsonpath" and argument:
        return Wanted(check=_jsonpath_check(argument))
    raise CliError(f'unrecognized condition: "{text}"')


def condition_met(data: dict[str, Any], name: str, value: str) -> bool:
    """status.conditions has ``name`` with status ``value`` (both case-insensitive), observed
    at the object's current generation."""
    status = data.get("status") or {}
    generation = int((data.get("metadata") or {}).get("generation", 0))
    if int(status.get("observedGeneration", generation)) < generation:
        return False
    for condition in status.get("conditions") or []:
        if str(condition.get("type", "")).lower() == name.lower():
            if int(condition.get("observedGeneration", generation)) < generation:
                return False
            return str(condition.get("status", "")).lower() == value.lower()
    return False


def _jsonpath_check(argument: str) -> Check:
    """``{.status.phase}=Running`` (or ``.status.phase=Running``; without ``=VALUE``: the field exists)."""
    if argument.startswith("{"):
        end = argument.find("}")
        expression, rest = argument[:end + 1], argument[end + 1:] if end >= 0 else ""
    else:
        expression, _, value = argument.partition("=")
        rest = f"={value}" if value else ""
    if rest and not rest.startswith("="):
        raise CliError(f"jsonpath wait format must be --for=jsonpath='{{PATH}}'=VALUE, got {argument}")
    try:
        path = parse(relaxed(expression))
    except JsonPathError as err:
        raise CliError(str(err)) from None
    wanted = rest[1:] if rest else None

    def check(data: dict[str, Any]) -> bool:
        values = path.values(data)
        if len(values) > 1:
            raise CliError("given jsonpath expression matches more than one value")
        if wanted is None:
            return bool(values)
        return bool(values) and to_text(values[0]) == wanted

    return check


def run(args: argparse.Namespace, ctx: Context) -> int:
    wanted = parse_for(args.for_)
    if not args.resource:
        raise CliError("resource(s) were provided, but no name was specified" if args.names
                       else "You must provide one or more resources by argument or filename.")
    info, names = parse_resource_args(args.resource, args.names)
    namespace = ctx.namespace if info.namespaced else ""
    names = selected_names(ctx, info, namespace, names, args)
    if not names:
        raise CliError("no matching resources found")
    for name in names:
        if not wait_for(ctx, info, namespace, name, wanted, args.timeout):
            raise CliError(f"timed out waiting for the condition on {resource_ref(info)}/{name}")
        ctx.print(f"{kind_ref(info)}/{name} condition met")
    return 0


def wait_for(ctx: Context, info: KindInfo, namespace: str, name: str, wanted: Wanted, timeout: float) -> bool:
    """True once the object is deleted or passes the check; False when ``timeout`` passes first."""
    try:
        obj = get_object(ctx.api, info, namespace, name)
    except grpc.RpcError as err:
        if wanted.delete and is_not_found(err):
            return True
        raise
    if _done(wanted, obj):
        return True
    if timeout <= 0:
        return False
    query = Query(info, namespace, field_selector=f"metadata.name={name}")
    deadline = time.monotonic() + timeout
    try:
        for event_type, changed in follow(ctx.api, query, [obj], obj.metadata.resource_version, deadline):
            if (event_type == DELETED and wanted.delete) or (event_type != DELETED and _done(wanted, changed)):
                return True
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    return False


def _done(wanted: Wanted, obj: Message) -> bool:
    return wanted.check is not None and wanted.check(to_dict(obj))
