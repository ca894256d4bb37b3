"""``pykubectl version``: the client's and the server's version, as kubectl prints them.

    Client Version: v0.1.0
    Server Version: v0.1.0

``--client`` asks no server; ``-o json|yaml`` prints Kubernetes' version.Info objects.
When the server cannot be reached, the client's line is printed first, then the error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from google.protobuf import json_format

from apimachinery.version import version_info
from kubectl.context import Context
from kubectl.printers import to_yaml
from protos import api_pb2


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "version", parents=[common], help="Print the client and server version information",
        description="Print the version of pykubectl and of the apiserver it talks to.",
    )
    parser.add_argument("--client", action="store_true", help="only the client's version (no server needed)")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), help="print the versions as YAML or JSON")
    parser.set_defaults(run=run)


def _as_dict(info: api_pb2.VersionInfo) -> dict[str, Any]:
    return json_format.MessageToDict(info)


def run(args: argparse.Namespace, ctx: Context) -> int:
    client = version_info()
    if args.output:
        document: dict[str, Any] = {"clientVersion": _as_dict(client)}
        if not args.client:
            document["serverVersion"] = _as_dict(ctx.api.Version(api_pb2.VersionRequest()))
        ctx.print(json.dumps(document, indent=2) if args.output == "json" else to_yaml(document))
        return 0
    ctx.print(f"Client Version: {client.git_version}")
    if not args.client:
        server = ctx.api.Version(api_pb2.VersionRequest())
        ctx.print(f"Server Version: {server.git_version}")
    return 0
