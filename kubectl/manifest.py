"""Manifests for ``-f FILE|DIR|-``: read, parse and convert them all before anything is sent.

* a file may hold many YAML documents (``---``); empty documents are skipped;
* a ``kind: List`` document contributes its ``items``;
* a directory contributes its ``*.yaml``, ``*.yml`` and ``*.json`` files in name order
  (and those of its subdirectories with ``-R``);
* ``-`` reads standard input.

Hostile files are refused with one line, never a traceback: YAML and JSON are read with
apimachinery.yaml_reader's limits (nesting depth, alias expansion), as kubectl's reader
refuses them.

One bad document anywhere raises ManifestError and nothing is returned, so a command
never sends half of what the user gave it.
"""

from __future__ import annotations

import datetime
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

import yaml
from google.protobuf.message import Message

from apimachinery.convert import ConversionError, from_dict
from apimachinery.kinds import info_of, wrap
from apimachinery.limits import MAX_REQUEST_BYTES, request_too_large
from apimachinery.yaml_reader import DepthError, load_all, load_json
from kubectl.errors import CliError

STDIN = "-"
STDIN_NAME = "STDIN"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(CliError):
    """A manifest that cannot be read, parsed or converted; the message names file and place."""


@dataclass(frozen=True)
class Source:
    name: str  # as shown in messages: the path, or STDIN
    text: str
    is_json: bool = False


def load_objects(paths: Sequence[str], recursive: bool = False, stdin: TextIO | None = None) -> list[Message]:
    """Every API object in the given files, directories or stdin, in order."""
    objects: list[Message] = []
    for source in read_sources(paths, recursive, stdin or sys.stdin):
        objects.extend(objects_from_source(source))
    return objects


# ------------------------------------------------------------------- reading


def read_sources(paths: Sequence[str], recursive: bool, stdin: TextIO) -> list[Source]:
    sources: list[Source] = []
    for path in paths:
        if path == STDIN:
            sources.append(Source(STDIN_NAME, stdin.read()))
        else:
            sources.extend(_read_file(file) for file in manifest_files(Path(path), recursive))
    return sources


def manifest_files(path: Path, recursive: bool) -> list[Path]:
    """The file itself, or a directory's manifest files sorted by name."""
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES)
    if not path.exists():
        raise ManifestError(f'the path "{path}" does not exist')
    return [path]


def _read_file(path: Path) -> Source:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"error reading {path}: not a UTF-8 text file") from None
    except OSError as err:
        raise ManifestError(f"error reading {path}: {err.strerror}") from None
    return Source(str(path), text, is_json=path.suffix.lower() == ".json")


# ------------------------------------------------------------------- parsing


def parse_documents(source: Source) -> list[Any]:
    """The source's documents in order, empty ones included (as None) so numbering matches the file."""
    if source.is_json:
        return [_parse_json(source)]
    try:
        return load_all(source.text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ManifestError(f"error parsing {source.name}: {where}{err.problem or err.context}") from None
    except yaml.reader.ReaderError as err:  # a control character, invalid UTF-8
        line = source.text.count("\n", 0, err.position) + 1
        column = err.position - (source.text.rfind("\n", 0, err.position) + 1) + 1
        what = f"#x{err.character:04x}" if isinstance(err.character, int) else repr(err.character)
        raise ManifestError(f"error parsing {source.name}: line {line}, column {column}: "
                            f"unacceptable character {what}: {err.reason}") from None
    except yaml.YAMLError as err:
        raise ManifestError(f"error parsing {source.name}: {' '.join(str(err).split())}") from None


def _parse_json(source: Source) -> Any:
    if not source.text.strip():
        return None
    try:
        return load_json(source.text)
    except json.JSONDecodeError as err:
        raise ManifestError(f"error parsing {source.name}: line {err.lineno}, column {err.colno}: {err.msg}") from None
    except DepthError as err:
        raise ManifestError(f"error parsing {source.name}: {err}") from None


# ---------------------------------------------------------------- converting


def objects_from_source(source: Source) -> list[Message]:
    objects: list[Message] = []
    for number, document in enumerate(parse_documents(source), start=1):
        for place, manifest in _expand_list(document, f"document {number}", source):
            objects.append(_convert(manifest, place, source))
    return objects


def _expand_list(document: Any, place: str, source: Source) -> Iterator[tuple[str, Any]]:
    """A document, or the items of a ``kind: List``; nothing for an empty document."""
    if document is None:
        return
    if not (isinstance(document, dict) and document.get("kind") == "List"):
        yield place, document
        return
    items = document.get("items") or []
    if not isinstance(items, list):
        raise ManifestError(f'error validating "{source.name}" ({place}): items: expected a list')
    for index, item in enumerate(items, start=1):
        if item is not None:
            yield f"{place}, item {index}", item


def _convert(manifest: Any, place: str, source: Source) -> Message:
    try:
        obj = from_dict(_plain(manifest))
    except ConversionError as err:
        raise ManifestError(f'error validating "{source.name}" ({place}): {err}') from None
    size = wrap(obj).ByteSize()
    if size > MAX_REQUEST_BYTES:  # no request could carry it: refuse before sending anything
        raise ManifestError(f'error validating "{source.name}" ({place}): {request_too_large()} '
                            f'({info_of(obj).kind} "{obj.metadata.name}" is {size} bytes)')  # type: ignore[attr-defined]
    return obj


def _plain(value: Any) -> Any:
    """Undo YAML 1.1's implicit timestamps (``creationTimestamp: 2024-05-01T10:00:00Z``) into strings."""
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value
