"""``pykubectl rollout SUBCOMMAND``: manage the rollout of a Deployment, DaemonSet or StatefulSet.

    pykubectl rollout status deployment/web          # also ds/NAME, sts/NAME
    pykubectl rollout history deployment/web [--revision 2]
    pykubectl rollout undo deployment/web [--to-revision 1]
    pykubectl rollout restart deployment/web         # also ds/NAME, sts/NAME

history and undo are the Deployment's only: a DaemonSet's or StatefulSet's revisions would
be ControllerRevision objects, which pykube does not keep (their controllers compare
template hashes), so kubectl's "no history viewer / rollbacker" answers them.

One module per subcommand; deployments.py holds what they share (a Deployment's
ReplicaSets, revisions, the template comparison kubectl uses).
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.context import Context


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    # Imported here, not at the top: describe imports rollout.deployments, and history
    # imports describe; importing the package must not pull the subcommands in.
    from kubectl.verbs.rollout import history, restart, status, undo

    parser = subparsers.add_parser(
        "rollout", parents=[common], help="Manage the rollout of a resource",
        description="Manage the rollout of a deployment (status, history, undo, restart), a daemonset or a "
                    "statefulset (status, restart).",
    )
    commands = parser.add_subparsers(dest="rollout_command", metavar="SUBCOMMAND")
    for subcommand in (history, restart, status, undo):
        subcommand.register(commands, common)

    def show_help(args: argparse.Namespace, ctx: Context) -> int:
        parser.print_help(ctx.out)
        return 0

    parser.set_defaults(run=show_help)
