"""Flags several verbs share, declared once."""

from __future__ import annotations

import argparse

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
