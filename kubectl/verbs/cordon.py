"""``pykubectl cordon NODE`` / ``pykubectl uncordon NODE``: stop (or resume) scheduling
new Pods onto a node. Pods already there keep running; ``drain`` is what moves them.

A cordoned node has spec.unschedulable=true and the taint
``node.kubernetes.io/unschedulable:NoSchedule`` (which Kubernetes' node lifecycle
controller would add; pykubectl sets both so the scheduler's taint filter and its
unschedulable check agree from the first moment).
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.message import Message

from apimachinery.kinds import kind_info
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.verbs.updating import update_with_retry
from kubectl.watching import Query, list_objects
from protos import core_pb2

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"
NO_SCHEDULE = "NoSchedule"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    for verb, summary in (("cordon", "Mark node as unschedulable"), ("uncordon", "Mark node as schedulable")):
        parser = subparsers.add_parser(verb, parents=[common], help=summary, description=f"{summary}.")
        parser.add_argument("nodes", nargs="*", metavar="NODE", help="node names")
        parser.add_argument("-l", "--selector", default="", help="all nodes matching this label selector")
        parser.set_defaults(run=run_cordon if verb == "cordon" else run_uncordon)


def has_unschedulable_taint(node: core_pb2.Node) -> bool:
    return any(t.key == UNSCHEDULABLE_TAINT_KEY and t.effect == NO_SCHEDULE for t in node.spec.taints)


def set_unschedulable(node: core_pb2.Node, desired: bool) -> bool:
    """Make spec.unschedulable and the taint say ``desired``; True if anything changed."""
    changed = node.spec.unschedulable != desired
    node.spec.unschedulable = desired
    if desired and not has_unschedulable_taint(node):
        node.spec.taints.add(key=UNSCHEDULABLE_TAINT_KEY, effect=NO_SCHEDULE)
        changed = True
    elif not desired and has_unschedulable_taint(node):
        kept = [t for t in node.spec.taints if not (t.key == UNSCHEDULABLE_TAINT_KEY and t.effect == NO_SCHEDULE)]
        del node.spec.taints[:]
        node.spec.taints.extend(kept)
        changed = True
    return changed


def cordon(ctx: Context, name: str, desired: bool = True) -> str:
    """Cordon (or uncordon) one node; returns kubectl's line, e.g. ``node/n1 cordoned``."""
    was = {}

    def change(obj: Message) -> bool:
        node: core_pb2.Node = obj  # type: ignore[assignment]
        was["unschedulable"] = node.spec.unschedulable
        return set_unschedulable(node, desired)

    update_with_retry(ctx.api, kind_info("Node"), "", name, change)
    verb = "cordoned" if desired else "uncordoned"
    already = "already " if was["unschedulable"] == desired else ""
    return f"node/{name} {already}{verb}"


def node_names(ctx: Context, names: list[str], selector: str, verb: str = "cordon") -> list[str]:
    if names and selector:
        raise CliError("cannot specify both a node name and a --selector option")
    if selector:
        nodes, _ = list_objects(ctx.api, Query(kind_info("Node"), label_selector=selector))
        return [node.metadata.name for node in nodes]
    if not names:
        raise CliError(f"USAGE: {verb} NODE [flags]")
    return names


def _run(args: argparse.Namespace, ctx: Context, desired: bool) -> int:
    for name in node_names(ctx, args.nodes, args.selector, "cordon" if desired else "uncordon"):
        ctx.print(cordon(ctx, name, desired))
    return 0


def run_cordon(args: argparse.Namespace, ctx: Context) -> int:
    return _run(args, ctx, True)


def run_uncordon(args: argparse.Namespace, ctx: Context) -> int:
    return _run(args, ctx, False)
