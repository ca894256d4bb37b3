"""Flags several verbs share, declared once."""

from __future__ import annotations

import argparse
from typing import Sequence

from apimachinery.kinds import KindInfo
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.watching import Query, list_objects

DRY_RUN_CHOICES = ("none", "client", "server")


def add_filename_flags(parser: argparse.ArgumentParser, action: str, required: bool = False) -> None:
    parser.add_argument(
        "-f", "--filename", action="append", default=[], required=required, metavar="FILE|DIR|-",
        help=f"file, directory or - (stdin) with the manifests to {action}; may be repeated",
    )
    parser.add_argument(
        "-R", "--recursive", action="store_true",
        help="with -f DIR, also read the manifests of its subdirectories",
    )


def add_dry_run_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", nargs="?", const="client", default="none", choices=DRY_RUN_CHOICES,
        help="client: only show what would be sent; server: let the server validate without writing",
    )


def dry_run_suffix(mode: str) -> str:
    """What kubectl appends to its lines under --dry-run."""
    return {"client": " (dry run)", "server": " (server dry run)"}.get(mode, "")


def add_selection_flags(parser: argparse.ArgumentParser, action: str) -> None:
    """``-l SELECTOR`` and ``--all``: the objects to act on when no names are given."""
    parser.add_argument("-l", "--selector", default="", help=f"{action} the objects matching this label selector")
    parser.add_argument("--all", action="store_true", help=f"{action} every object of the type in the namespace")


def selected_names(ctx: Context, info: KindInfo, namespace: str, names: Sequence[str],
                   args: argparse.Namespace) -> list[str]:
    """The names given, or those of the objects -l/--all select (possibly none), with
    kubectl's errors for names and a selector together, or neither."""
    if names and (args.selector or args.all):
        raise CliError("name cannot be provided when a selector is specified")
    if names:
        return list(names)
    if not (args.selector or args.all):
        raise CliError("resource(s) were provided, but no name was specified")
    objects, _ = list_objects(ctx.api, Query(info, namespace, args.selector))
    return [obj.metadata.name for obj in objects]


def no_resources_found(namespace: str) -> str:
    return f"No resources found in {namespace} namespace." if namespace else "No resources found"
