"""``pykubectl label`` and ``pykubectl annotate``: set or remove metadata keys.

    pykubectl label pod/web tier=frontend            # pod/web labeled
    pykubectl label pods web tier=backend --overwrite
    pykubectl label pods -l app=web tier-             # remove the key
    pykubectl annotate deploy/web note='rolled by hand'

An argument with ``=`` sets a key, one ending in ``-`` removes it; the others name the
objects. Changing a key that already has a value needs ``--overwrite``, as in kubectl,
whose refusal is reproduced: ``error: 'tier' already has a value (frontend), and
--overwrite is false``. Each object is read, changed and written back with its
resourceVersion, retried on conflict, so nobody else's change is lost.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Sequence

from google.protobuf.message import Message

from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.resources import object_ref, parse_resource_args
from kubectl.verbs.options import (
    add_dry_run_flag,
    add_selection_flags,
    dry_run_suffix,
    no_resources_found,
    selected_names,
)
from kubectl.verbs.updating import get_object, update_with_retry


@dataclass(frozen=True)
class Field:
    """What differs between label and annotate: the metadata map and the words kubectl uses."""

    verb: str  # "label"
    attribute: str  # "labels": the metadata map
    done: str  # "labeled"
    removed: str  # "unlabeled" (label only: annotate always says "annotated")
    unchanged: str  # "not labeled"


LABELS = Field("label", "labels", "labeled", "unlabeled", "not labeled")
ANNOTATIONS = Field("annotate", "annotations", "annotated", "annotated", "annotated")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    for field, help_text in ((LABELS, "Update the labels on a resource"),
                             (ANNOTATIONS, "Update the annotations on a resource")):
        parser = subparsers.add_parser(
            field.verb, parents=[common], help=help_text,
            description=f"Set (KEY=VALUE) or remove (KEY-) {field.attribute} of objects.",
        )
        parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="pod/web, pods, deploy")
        parser.add_argument("arguments", nargs="*", metavar="NAME|KEY=VALUE|KEY-",
                            help=f"names of the objects, then the {field.attribute} to set or remove")
        parser.add_argument("--overwrite", action="store_true", help="allow changing a key that has a value")
        add_selection_flags(parser, "change")
        add_dry_run_flag(parser)
        parser.set_defaults(run=run, field=field, extra_words="arguments")


@dataclass(frozen=True)
class Changes:
    set: dict[str, str]
    remove: list[str]


def parse_changes(arguments: Sequence[str], field: Field) -> tuple[list[str], Changes]:
    """Split ``web api tier=db old-`` into names and changes; kubectl's errors for bad ones."""
    names: list[str] = []
    to_set: dict[str, str] = {}
    to_remove: list[str] = []
    for argument in arguments:
        if "=" in argument:
            key, _, value = argument.partition("=")
            if not key:
                raise CliError(f"invalid {field.verb} spec: {argument}")
            to_set[key] = value
        elif argument.endswith("-") and len(argument) > 1:
            to_remove.append(argument[:-1])
        elif to_set or to_remove:
            raise CliError(f"all resources must be specified before {field.verb} changes: {argument}")
        else:
            names.append(argument)
    if not to_set and not to_remove:
        raise CliError(f"at least one {field.verb} update is required")
    both = sorted(set(to_set) & set(to_remove))
    if both:
        raise CliError(f"can not both modify and remove {field.verb}s in the same command: {', '.join(both)}")
    return names, Changes(to_set, to_remove)


def run(args: argparse.Namespace, ctx: Context) -> int:
    field: Field = args.field
    if not args.resource:
        raise CliError("one or more resources must be specified as <resource> <name> or <resource>/<name>")
    names, changes = parse_changes(args.arguments, field)
    info, names = parse_resource_args(args.resource, names)
    namespace = ctx.namespace if info.namespaced else ""
    names = selected_names(ctx, info, namespace, names, args)
    if not names:
        ctx.warn(no_resources_found(namespace))
        return 0
    for name in names:
        if args.dry_run == "client":
            obj = get_object(ctx.api, info, namespace, name)
            _, message = _apply(obj, changes, field, args.overwrite, ctx)
        else:
            message = ""

            def change(obj: Message) -> bool:
                nonlocal message
                changed, message = _apply(obj, changes, field, args.overwrite, ctx)
                return changed

            obj, _ = update_with_retry(ctx.api, info, namespace, name, change, dry_run=args.dry_run == "server")
        ctx.print(f"{object_ref(obj)} {message}{dry_run_suffix(args.dry_run)}")
    return 0


def _apply(obj: Message, changes: Changes, field: Field, overwrite: bool, ctx: Context) -> tuple[bool, str]:
    """Change ``obj``'s map in place: whether anything changed, and the word kubectl prints."""
    values = getattr(obj.metadata, field.attribute)
    before = dict(values)
    for key, value in changes.set.items():
        if not overwrite and key in values and values[key] != value:
            raise CliError(f"'{key}' already has a value ({values[key]}), and --overwrite is false")
        values[key] = value
    for key in changes.remove:
        if key in values:
            del values[key]
        elif field is LABELS:
            ctx.print(f'label "{key}" not found.')
    if dict(values) == before:
        return False, field.unchanged
    return True, field.removed if len(values) < len(before) and not overwrite else field.done
