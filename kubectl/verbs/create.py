"""``pykubectl create``: make objects from flags, as kubectl's generators do, or from files.

    pykubectl create deployment web --image=nginx:1.25 --replicas=3 --port=80
    pykubectl create namespace team-a
    pykubectl create configmap app --from-literal=mode=fast    # and secret generic: create_config.py
    pykubectl create deployment web --image=nginx --dry-run=client -o yaml   # a manifest to edit
    pykubectl create -f deploy.yaml          # like apply, but an existing object is an error

The Deployment is kubectl's: labels, selector and template labels ``app=NAME``, one
container per ``--image`` named after the image (``nginx`` for ``docker.io/nginx:1.25``).
The object goes to the server in one Create call; the line printed is kubectl's
``deployment.apps/web created``. ``run`` shares the printing of what was created.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import unwrap, wrap
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.manifest import load_objects
from kubectl.printers import to_json, to_yaml, without_managed_fields
from kubectl.resources import object_ref, set_default_namespace
from kubectl.verbs import create_config
from kubectl.verbs import create_batch
from kubectl.verbs.options import add_dry_run_flag, add_filename_flags, dry_run_suffix
from protos import api_pb2, apps_pb2, core_pb2, meta_pb2

OUTPUT_CHOICES = ("yaml", "json", "name")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "create", parents=[common], help="Create a resource from flags",
        description="Create a deployment, a namespace, a configmap or a generic secret from command-line flags.",
    )
    add_filename_flags(parser, "create")
    add_output_flags(parser)
    kinds = parser.add_subparsers(dest="what", metavar="KIND")
    deployment = kinds.add_parser("deployment", aliases=["deploy"], parents=[common],
                                  help="Create a deployment with the specified name")
    deployment.add_argument("name", metavar="NAME")
    deployment.add_argument("--image", action="append", default=[], help="container image; may be repeated")
    deployment.add_argument("--replicas", type=int, default=1, help="number of replicas (default 1)")
    deployment.add_argument("--port", type=int, default=-1, help="the port the container exposes")
    add_output_flags(deployment)
    deployment.set_defaults(run=run_deployment)
    namespace = kinds.add_parser("namespace", aliases=["ns"], parents=[common],
                                 help="Create a namespace with the specified name")
    namespace.add_argument("name", metavar="NAME")
    add_output_flags(namespace)
    namespace.set_defaults(run=run_namespace)
    create_config.register(kinds, common, add_output_flags, lambda args, ctx, obj: create_and_report(ctx, args, obj))
    create_batch.register(kinds, common, add_output_flags, create_and_report)
    parser.set_defaults(run=run_files)


def run_files(args: argparse.Namespace, ctx: Context) -> int:
    """``create -f``: one Create per object, in order; the first that exists stops the command."""
    if not args.filename:
        raise CliError("must specify one of -f and -k, or what to create: deployment NAME --image=IMAGE, "
                       "or namespace NAME")
    objects = load_objects(args.filename, args.recursive, ctx.stdin)
    if not objects:
        raise CliError("no objects passed to create")
    set_default_namespace(objects, ctx.namespace, enforce=ctx.settings.namespace_from_flag)
    for obj in objects:
        create_and_report(ctx, args, obj)
    return 0


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    add_dry_run_flag(parser)
    parser.add_argument("-o", "--output", choices=OUTPUT_CHOICES,
                        help="print the object (yaml, json) or its name instead of the usual line")
    parser.add_argument("--show-managed-fields", action="store_true",
                        help="keep metadata.managedFields in -o yaml and -o json")


def container_name(image: str) -> str:
    """kubectl's: the image's last path part without tag or digest, ``_`` made ``-``."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return re.sub(r"_", "-", name).lower()


def deployment_object(name: str, images: list[str], replicas: int, port: int) -> apps_pb2.Deployment:
    if not images:
        raise CliError('required flag(s) "image" not set')
    if port >= 0 and len(images) > 1:
        raise CliError("cannot use --port with multiple --image")
    if replicas < 0:
        raise CliError("--replicas must be 0 or more")
    labels = {"app": name}
    deployment = apps_pb2.Deployment(metadata=meta_pb2.ObjectMeta(name=name, labels=labels))
    deployment.spec.replicas = replicas
    deployment.spec.selector.match_labels.update(labels)
    deployment.spec.template.metadata.labels.update(labels)
    names: set[str] = set()
    for image in images:
        container = deployment.spec.template.spec.containers.add(name=_unique(container_name(image), names),
                                                                 image=image)
        if port >= 0:
            container.ports.add(container_port=port)
    return deployment


def _unique(name: str, taken: set[str]) -> str:
    """Two images with one base name get ``nginx`` and ``nginx-2``."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    taken.add(candidate)
    return candidate


def run_deployment(args: argparse.Namespace, ctx: Context) -> int:
    return create_and_report(ctx, args, deployment_object(args.name, args.image, args.replicas, args.port))


def run_namespace(args: argparse.Namespace, ctx: Context) -> int:
    return create_and_report(ctx, args, core_pb2.Namespace(metadata=meta_pb2.ObjectMeta(name=args.name)))


def create_and_report(ctx: Context, args: argparse.Namespace, obj: Message) -> int:
    """Send one Create (unless --dry-run=client) and print kubectl's line or the -o form."""
    set_default_namespace([obj], ctx.namespace, enforce=False)
    if args.dry_run != "client":
        obj = unwrap(ctx.api.Create(api_pb2.CreateRequest(object=wrap(obj), dry_run=args.dry_run == "server")))
    shown = to_dict(obj) if args.show_managed_fields else without_managed_fields(to_dict(obj))
    if args.output == "yaml":
        ctx.print(to_yaml(shown))
    elif args.output == "json":
        ctx.print(to_json(shown))
    elif args.output == "name":
        ctx.print(object_ref(obj))
    else:
        ctx.print(f"{object_ref(obj)} created{dry_run_suffix(args.dry_run)}")
    return 0
