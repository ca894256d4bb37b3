"""``pykubectl rollout undo deployment/NAME [--to-revision N]``: roll back to an earlier
pod template.

A revision is a ReplicaSet, so undo copies that ReplicaSet's template (without its
pod-template-hash label) back into the Deployment. The Deployment controller then
finds the old ReplicaSet matching again, scales it up, and gives it the next revision
number, exactly as in Kubernetes. Without --to-revision, the previous revision is the
second highest one.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.message import Message

from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.resources import object_ref, parse_resource_args
from kubectl.verbs.rollout.deployments import (
    REVISION_ANNOTATION,
    equal_ignore_hash,
    replica_sets_of,
    revision_of,
    without_hash,
)
from kubectl.verbs.updating import update_with_retry
from protos import apps_pb2

# Annotations that belong to the Deployment itself, never copied back from a ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})
PAUSED_ERROR = ("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' "
                "and try again")


class Skipped(Exception):
    """The Deployment already runs the requested template; nothing to write."""

    def __init__(self, revision: int) -> None:
        super().__init__(revision)
        self.revision = revision


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "undo", parents=[common], help="Undo a previous rollout",
        description="Roll a deployment back to its previous revision, or to --to-revision.",
    )
    parser.add_argument("resource", metavar="TYPE[/NAME]", help="deployment/web or deployment")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--to-revision", type=int, default=0, help="the revision to roll back to (default: previous)")
    parser.set_defaults(run=run)


def revision_not_found(revision: int) -> CliError:
    return CliError(f"unable to find specified revision {revision} in history")


def find_revision(deployment: apps_pb2.Deployment, replica_sets: list[apps_pb2.ReplicaSet],
                  to_revision: int) -> tuple[apps_pb2.ReplicaSet, int]:
    """The ReplicaSet of ``to_revision`` (0: the second-highest revision) and its number."""
    if to_revision < 0:
        raise revision_not_found(to_revision)
    numbered = [(revision, rs) for rs in replica_sets if (revision := revision_of(rs)) is not None]
    if to_revision > 0:
        for revision, rs in numbered:
            if revision == to_revision:
                return rs, revision
        raise revision_not_found(to_revision)
    ordered = sorted(numbered, key=lambda pair: pair[0], reverse=True)
    if len(ordered) < 2:
        raise CliError(f'no rollout history found for deployment "{deployment.metadata.name}"')
    revision, rs = ordered[1]
    return rs, revision


def roll_back(deployment: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet, revision: int) -> None:
    """Point the Deployment at the ReplicaSet's template, in place (kubectl's patch)."""
    if deployment.spec.paused:
        raise CliError(PAUSED_ERROR)
    if equal_ignore_hash(rs.spec.template, deployment.spec.template):
        raise Skipped(revision)
    deployment.spec.template.CopyFrom(without_hash(rs.spec.template))
    annotations = {key: value for key, value in deployment.metadata.annotations.items() if key in ANNOTATIONS_TO_SKIP}
    annotations.update({key: value for key, value in rs.metadata.annotations.items()
                        if key not in ANNOTATIONS_TO_SKIP})
    deployment.metadata.annotations.clear()
    deployment.metadata.annotations.update(annotations)


def run(args: argparse.Namespace, ctx: Context) -> int:
    info, names = parse_resource_args(args.resource, args.names)
    if info.kind != "Deployment":
        raise CliError(f'no rollbacker has been implemented for "{info.kind}"')
    if not names:
        raise CliError("required resource not specified")
    for name in names:

        def change(obj: Message) -> bool:
            deployment: apps_pb2.Deployment = obj  # type: ignore[assignment]
            rs, revision = find_revision(deployment, replica_sets_of(ctx.api, deployment), args.to_revision)
            roll_back(deployment, rs, revision)
            return True

        try:
            deployment, _ = update_with_retry(ctx.api, info, ctx.namespace, name, change)
        except Skipped as skipped:
            ctx.print(f"deployment.apps/{name} skipped rollback (current template already matches revision "
                      f"{skipped.revision})")
            continue
        ctx.print(f"{object_ref(deployment)} rolled back")
    return 0
