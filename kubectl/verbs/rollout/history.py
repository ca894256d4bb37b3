"""``pykubectl rollout history deployment/NAME [--revision N]``: the revisions a Deployment
has rolled out, read from its ReplicaSets' ``deployment.kubernetes.io/revision``.

    deployment.apps/web
    REVISION  CHANGE-CAUSE
    1         <none>
    2         kubectl set image deployment/web web=nginx:1.27

With ``--revision N`` it prints that revision's pod template instead (as kubectl does,
with its tabs left unaligned).
"""

from __future__ import annotations

import argparse
from typing import Any

from apimachinery.tables.cells import NONE
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter, tabbed
from kubectl.errors import CliError
from kubectl.resources import object_ref, parse_resource_args
from kubectl.verbs.describe.pods import describe_pod_template
from kubectl.verbs.rollout.deployments import CHANGE_CAUSE_ANNOTATION, replica_sets_of, revision_of
from kubectl.verbs.updating import get_object
from protos import apps_pb2, core_pb2


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "history", parents=[common], help="View rollout history",
        description="List a deployment's revisions, or show one revision's pod template.",
    )
    parser.add_argument("resource", metavar="TYPE[/NAME]", help="deployment/web or deployment")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--revision", type=int, default=0, help="show the pod template of this revision")
    parser.set_defaults(run=run)


def history(replica_sets: list[apps_pb2.ReplicaSet]) -> dict[int, core_pb2.PodTemplateSpec]:
    """revision → pod template, with the ReplicaSet's change-cause copied into the template's
    annotations (kubectl's DeploymentHistoryViewer does the same)."""
    revisions: dict[int, core_pb2.PodTemplateSpec] = {}
    for rs in replica_sets:
        revision = revision_of(rs)
        if revision is None:
            continue
        template = core_pb2.PodTemplateSpec()
        template.CopyFrom(rs.spec.template)
        cause = rs.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION, "")
        if cause:
            template.metadata.annotations[CHANGE_CAUSE_ANNOTATION] = cause
        revisions[revision] = template
    return revisions


def history_table(revisions: dict[int, core_pb2.PodTemplateSpec]) -> str:
    if not revisions:
        return "No rollout history found."
    lines = ["REVISION\tCHANGE-CAUSE"]
    for revision in sorted(revisions):
        cause = revisions[revision].metadata.annotations.get(CHANGE_CAUSE_ANNOTATION, "") or NONE
        lines.append(f"{revision}\t{cause}")
    return tabbed("\n".join(lines) + "\n")


def template_text(template: core_pb2.PodTemplateSpec) -> str:
    w = PrefixWriter()
    describe_pod_template(template, w)
    return w.raw()


def run(args: argparse.Namespace, ctx: Context) -> int:
    info, names = parse_resource_args(args.resource, args.names)
    if info.kind != "Deployment":
        raise CliError(f'no history viewer has been implemented for "{info.kind}"')
    if not names:
        raise CliError("required resource not specified")
    for name in names:
        deployment = get_object(ctx.api, info, ctx.namespace, name)
        revisions = history(replica_sets_of(ctx.api, deployment))  # type: ignore[arg-type]
        if args.revision > 0:
            template = revisions.get(args.revision)
            if template is None:
                raise CliError("unable to find the specified revision")
            body, heading = template_text(template), f"with revision #{args.revision}"
        else:
            body, heading = history_table(revisions), ""
        # kubectl's name printer: "<ref> <operation>\n" with the heading and body as the operation.
        ctx.print(f"{object_ref(deployment)} {heading}\n{body}\n")
    return 0
