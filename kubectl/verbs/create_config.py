"""``pykubectl create configmap`` and ``create secret generic``, as kubectl's generators:

    pykubectl create configmap app --from-literal=mode=fast --from-file=app.properties
    pykubectl create secret generic db --from-literal=password=s3cr3t --from-file=key=./id_rsa

``--from-literal KEY=VALUE`` (split at the first ``=``), ``--from-file [KEY=]PATH`` (the key
is the file's name; a directory gives one key per regular file in it). A ConfigMap takes a
file that is not UTF-8 into ``binaryData``. A key given twice is kubectl's error; the keys
themselves are the apiserver's to judge.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubectl.errors import CliError
from protos import core_pb2, meta_pb2


def register(kinds: Any, common: argparse.ArgumentParser, add_output_flags: Any, run_object: Any) -> None:
    """``create configmap|cm`` and ``create secret generic`` under create's KIND subparsers;
    run_object(args, ctx, obj) creates and reports."""
    configmap = kinds.add_parser("configmap", aliases=["cm"], parents=[common],
                                 help="Create a config map from literals or files")
    _source_flags(configmap)
    add_output_flags(configmap)
    configmap.set_defaults(run=lambda args, ctx: run_object(args, ctx, config_map_object(
        args.name, args.from_literal, args.from_file)))
    secret = kinds.add_parser("secret", parents=[common], help="Create a secret (generic)")
    secret_kinds = secret.add_subparsers(dest="secret_kind", metavar="TYPE", required=True)
    generic = secret_kinds.add_parser("generic", parents=[common],
                                      help="Create a secret from literals or files")
    _source_flags(generic)
    generic.add_argument("--type", default="", help="the secret's type (default Opaque)")
    add_output_flags(generic)
    generic.set_defaults(run=lambda args, ctx: run_object(args, ctx, secret_object(
        args.name, args.from_literal, args.from_file, args.type)))


def _source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--from-literal", action="append", default=[], metavar="KEY=VALUE",
                        help="a key and its value; may be repeated")
    parser.add_argument("--from-file", action="append", default=[], metavar="[KEY=]PATH",
                        help="a file (key: its name) or a directory (a key per file); may be repeated")


def sources(literals: list[str], files: list[str]) -> list[tuple[str, bytes]]:
    """(key, value) pairs in the order given: literals first, then files, as kubectl."""
    out: list[tuple[str, bytes]] = []
    for literal in literals:
        key, sep, value = literal.partition("=")
        if not sep or not key:
            raise CliError(f"invalid literal source {literal}, expected key=value")
        out.append((key, value.encode()))
    for spec in files:
        key, sep, path_text = spec.partition("=")
        if not sep:
            key, path_text = "", spec
        elif not key or not path_text:
            raise CliError(f"key names or file paths cannot be empty: {spec!r}")
        path = Path(path_text)
        if path.is_dir():
            if key:
                raise CliError("cannot give a key name for a directory path")
            out += [(child.name, child.read_bytes()) for child in sorted(path.iterdir()) if child.is_file()]
            continue
        try:
            out.append((key or path.name, path.read_bytes()))
        except OSError as err:
            raise CliError(f"error reading {path_text}: {err.strerror}") from None
    return out


def _checked(pairs: list[tuple[str, bytes]], kind: str, name: str) -> list[tuple[str, bytes]]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise CliError(f'cannot add key "{key}", another key by that name already exists in Data for '
                           f'{kind} "{name}"')
        seen.add(key)
    return pairs


def config_map_object(name: str, literals: list[str], files: list[str]) -> core_pb2.ConfigMap:
    cm = core_pb2.ConfigMap(metadata=meta_pb2.ObjectMeta(name=name))
    for key, value in _checked(sources(literals, files), "ConfigMap", name):
        try:
            cm.data[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            cm.binary_data[key] = value
    return cm


def secret_object(name: str, literals: list[str], files: list[str], secret_type: str = "") -> core_pb2.Secret:
    secret = core_pb2.Secret(metadata=meta_pb2.ObjectMeta(name=name), type=secret_type)
    for key, value in _checked(sources(literals, files), "Secret", name):
        secret.data[key] = value
    return secret
