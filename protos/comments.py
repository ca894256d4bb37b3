"""The comments of the ``.proto`` files, by the full name of what they document.

The API's OpenAPI documents (apiserver/rest/openapi.py) describe each kind and field with
the comment written above it in the ``.proto`` source, as Kubernetes' documents carry the
Go comments of its types (``kubectl explain`` prints them). The generated ``_pb2`` modules
hold no comments, so they are read from the sources themselves: protoc parses them once
more, with ``--include_source_info``, into a descriptor set whose ``source_code_info``
pins every comment to the element it stands above. That is protoc's own parser (no
hand-written one to drift from the grammar), reads the ``.proto`` files that ship with the
package (no generated artifact to go stale), and runs once per process (~50 ms).

``comments()`` maps ``"pykube.v1.Container"`` to the message's comment and
``"pykube.v1.Container.image_pull_policy"`` to a field's, each comment's lines joined
into one paragraph per blank-line-separated block."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

# Paths inside a FileDescriptorProto (descriptor.proto's field numbers), as
# SourceCodeInfo.Location.path spells them.
_MESSAGE_TYPE = 4  # FileDescriptorProto.message_type
_FIELD = 2  # DescriptorProto.field
_NESTED_TYPE = 3  # DescriptorProto.nested_type


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """The contracts parsed by protoc, with source info (comments and their places)."""
    # Imported here: only the first call pays for protoc (the apiserver may never serve /openapi).
    from grpc_tools import protoc

    from protos.generate import REPO_ROOT, proto_files

    include_wkt = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "protos.binpb"
        args = [
            "grpc_tools.protoc",
            f"-I{REPO_ROOT}",
            f"-I{include_wkt}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *(str(p.relative_to(REPO_ROOT)) for p in proto_files()),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc could not parse the .proto files")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def clean(comment: str) -> str:
    """A comment block as one text: its lines joined, paragraphs kept apart by a blank line."""
    paragraphs, current = [], []
    for line in comment.splitlines():
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _names(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Each message's and field's location path in the file → its full name."""
    names: dict[tuple[int, ...], str] = {}

    def walk(message: descriptor_pb2.DescriptorProto, path: tuple[int, ...], prefix: str) -> None:
        full = f"{prefix}.{message.name}"
        names[path] = full
        for i, field in enumerate(message.field):
            names[(*path, _FIELD, i)] = f"{full}.{field.name}"
        for i, nested in enumerate(message.nested_type):
            walk(nested, (*path, _NESTED_TYPE, i), full)

    for i, message in enumerate(file.message_type):
        walk(message, (_MESSAGE_TYPE, i), file.package)
    return names


@functools.cache
def comments() -> dict[str, str]:
    """Full name of a message or field → its comment (leading, else trailing)."""
    found: dict[str, str] = {}
    for file in descriptor_set().file:
        names = _names(file)
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            text = clean(location.leading_comments or location.trailing_comments)
            if name is not None and text:
                found[name] = text
    return found
