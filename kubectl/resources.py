"""How kubectl names resources on the command line and in its output.

* ``deployment.apps/web``      an object reference (apply, -o name)
* ``deployments.apps "web"``   a resource and a name (delete, errors)
* ``deploy web`` or ``deploy/web``  what the user types
"""

from __future__ import annotations

from typing import Sequence

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, info_of, resolve_resource
from kubectl.errors import CliError


def group_of(info: KindInfo) -> str:
    """"apps" for apps/v1, "" for the core group (v1)."""
    group, _, _ = info.api_version.rpartition("/")
    return group


def _with_group(word: str, info: KindInfo) -> str:
    group = group_of(info)
    return f"{word}.{group}" if group else word


def kind_ref(info: KindInfo) -> str:
    """``deployment.apps``, ``pod``, ``lease.coordination.k8s.io``"""
    return _with_group(info.singular, info)


def resource_ref(info: KindInfo) -> str:
    """``deployments.apps``, ``pods``"""
    return _with_group(info.plural, info)


def object_ref(obj: Message) -> str:
    """``deployment.apps/web``"""
    return f"{kind_ref(info_of(obj))}/{obj.metadata.name}"


def parse_resource_args(resource: str, names: Sequence[str]) -> tuple[KindInfo, list[str]]:
    """``get deploy a b`` or ``get deploy/a deploy/b`` → (Deployment, ["a", "b"])."""
    if "/" not in resource:
        if any("/" in name for name in names):
            raise CliError(
                "there is no need to specify a resource type as a separate argument when passing "
                "arguments in resource/name form (e.g. 'pykubectl get resource/<resource_name>' "
                "instead of 'pykubectl get resource resource/<resource_name>')"
            )
        return resolve_resource(resource), list(names)
    pairs = [_split_type_name(arg) for arg in (resource, *names)]
    kinds = {resolve_resource(kind) for kind, _ in pairs}
    if len(kinds) > 1:
        raise CliError("arguments in resource/name form must all be of the same resource type")
    return kinds.pop(), [name for _, name in pairs]


def _split_type_name(arg: str) -> tuple[str, str]:
    kind, _, name = arg.partition("/")
    if not kind or not name or "/" in name:
        raise CliError(f'arguments in resource/name form must have a single resource and name: "{arg}"')
    return kind, name


def set_default_namespace(objects: Sequence[Message], namespace: str, enforce: bool) -> None:
    """Give namespaced objects without one the command's namespace, as kubectl does.

    With ``-n`` given (``enforce``), an object of another namespace is an error rather than
    a silent write somewhere the user did not ask for.
    """
    for obj in objects:
        if not info_of(obj).namespaced:
            continue
        own = obj.metadata.namespace
        if not own:
            obj.metadata.namespace = namespace
        elif enforce and own != namespace:
            raise CliError(
                f'the namespace from the provided object "{own}" does not match the namespace '
                f'"{namespace}". You must pass \'--namespace={own}\' to perform this operation.'
            )
