"""``pykubectl auth can-i``: may I (or, with ``--as``, someone else) do this? As kubectl.

    pykubectl auth can-i create pods                 yes
    pykubectl auth can-i delete nodes --as alice     no
    pykubectl auth can-i get pods/web -n dev         (or: get pods web)
    pykubectl auth can-i get pods --subresource=log
    pykubectl auth can-i get /version                a non-resource URL

Prints ``yes`` (exit 0) or ``no`` (exit 1) on stdout; a "no" the server gave a reason for
reads ``no - <reason>``, as kubectl's. ``-q`` prints nothing. Warnings (a resource the
server does not have, a namespace given for a cluster-scoped resource, an unknown verb)
go to stderr. The question is the server's SelfSubjectAccessReview call; ``--as`` and
``--as-group`` ask it to impersonate, which the caller must be allowed to (Kubernetes'
``impersonate`` verb on users and groups), else the server's Forbidden is the answer.

kubectl takes ``TYPE/NAME``; pykubectl also takes the name as a third word. For a
cluster-scoped resource the review is sent without a namespace (what the real request
would be authorized as), after kubectl's warning.
"""

from __future__ import annotations

import argparse
from typing import Any

from apimachinery.kinds import UnknownKindError, resolve_resource
from kubectl.context import Context
from kubectl.errors import UsageError
from kubectl.resources import group_of
from protos import api_pb2

# kubectl's known verbs (cani.go): others get a warning, not an error.
RESOURCE_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "use",
                            "bind", "impersonate", "*", "approve", "sign", "escalate", "attest"})
NON_RESOURCE_VERBS = frozenset({"get", "put", "post", "head", "options", "delete", "patch", "*"})
USAGE = "you must specify two arguments: verb resource or verb resource/resourceName."


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    auth = subparsers.add_parser("auth", help="Inspect authorization",
                                 description="Inspect authorization: whether an action is allowed.")
    commands = auth.add_subparsers(dest="auth_command", metavar="COMMAND", parser_class=type(auth))
    auth.set_defaults(run=lambda args, ctx: _help(auth, ctx))
    parser = commands.add_parser(
        "can-i", parents=[common], help="Check whether an action is allowed",
        description="Check whether an action is allowed. VERB is an API verb (get, list, watch, delete, ...); "
                    "TYPE a resource (shortcuts and groups resolved); NONRESOURCEURL a path starting with /.")
    parser.add_argument("action", metavar="VERB")
    parser.add_argument("target", nargs="?", metavar="TYPE|TYPE/NAME|NONRESOURCEURL")
    parser.add_argument("resource_name", nargs="?", metavar="NAME", help="the object's name (or TYPE/NAME)")
    parser.add_argument("-A", "--all-namespaces", action="store_true",
                        help="check the action in all namespaces")
    parser.add_argument("--subresource", default="", help="a subresource, such as pods/log or deployments/scale")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing; only the exit code answers")
    parser.add_argument("--as", dest="as_user", default="", metavar="USER",
                        help="ask for this user (needs permission to impersonate it)")
    parser.add_argument("--as-group", dest="as_groups", action="append", default=[], metavar="GROUP",
                        help="ask for this group too (repeatable; needs permission to impersonate it)")
    parser.set_defaults(run=run)


def _help(parser: argparse.ArgumentParser, ctx: Context) -> int:
    """``pykubectl auth`` alone: its help, as kubectl prints it."""
    ctx.print(parser.format_help())
    return 0


def build_request(args: argparse.Namespace, namespace: str, warn: Any) -> api_pb2.SelfSubjectAccessReviewRequest:
    """The review of ``can-i VERB TARGET [NAME]``; warnings through warn(text)."""
    verb, target = args.action, args.target
    if target is None:
        raise UsageError(USAGE, verb="pykubectl auth can-i")
    request = api_pb2.SelfSubjectAccessReviewRequest(impersonate_user=args.as_user,
                                                     impersonate_groups=args.as_groups)
    if target.startswith("/"):
        if args.subresource:
            raise UsageError("--subresource can not be used with NonResourceURL", verb="pykubectl auth can-i")
        if verb not in NON_RESOURCE_VERBS:
            warn(f"Warning: verb '{verb}' is not a known verb")
        request.non_resource_attributes.CopyFrom(api_pb2.NonResourceAttributes(path=target, verb=verb))
        return request
    kind, _, name = target.partition("/")
    if name and args.resource_name:
        raise UsageError(USAGE, verb="pykubectl auth can-i")
    name = name or args.resource_name or ""
    if verb not in RESOURCE_VERBS:
        warn(f"Warning: verb '{verb}' is not a known verb")
    group, resource, namespaced = "", kind.lower(), True
    if kind != "*":
        try:
            info = resolve_resource(kind)
            group, resource, namespaced = group_of(info), info.plural, info.namespaced
        except UnknownKindError:
            plain, _, wanted_group = kind.lower().partition(".")
            warn(f"Warning: the server doesn't have a resource type '{plain}'"
                 + (f" in group '{wanted_group}'" if wanted_group else ""))
            resource = kind
    if not namespaced and namespace:
        warn(f"Warning: resource '{resource}' is not namespace scoped" + (f" in group '{group}'" if group else ""))
        namespace = ""
    request.resource_attributes.CopyFrom(api_pb2.ResourceAttributes(
        namespace=namespace, verb=verb, group=group, resource=resource, subresource=args.subresource, name=name))
    return request


def run(args: argparse.Namespace, ctx: Context) -> int:
    namespace = "" if args.all_namespaces else ctx.namespace
    request = build_request(args, namespace, ctx.warn)
    status = ctx.api.SelfSubjectAccessReview(request)
    if not args.quiet:
        if status.allowed:
            ctx.print("yes")
        else:
            ctx.print("no" + "".join(f" - {why}" for why in (status.reason, status.evaluation_error) if why))
    return 0 if status.allowed else 1
