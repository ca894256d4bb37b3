"""Where a client finds the apiserver (client-go's clientcmd): flags, then the config
file, then defaults. pykubectl reads it; ``pykube up`` writes it.

The config file is ``$PYKUBECONFIG`` or ``~/.pykube/config``, a small YAML mapping::

    server: 127.0.0.1:6443
    namespace: default      # optional

A missing file is not an error (like kubectl with no kubeconfig): the defaults apply.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from client.connection import DEFAULT_ADDRESS

ENV_VAR = "PYKUBECONFIG"
DEFAULT_PATH = Path("~/.pykube/config")
DEFAULT_NAMESPACE = "default"


class ConfigError(Exception):
    """The config file or a flag is unusable; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    server: str
    namespace: str
    # True when -n/--namespace was given: kubectl then refuses manifests of another namespace.
    namespace_from_flag: bool = False


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(ENV_VAR) or DEFAULT_PATH).expanduser()


def read_config(path: Path) -> dict[str, Any]:
    """The config file's mapping; {} when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping (server: HOST:PORT)")
    return data


def validate_server(address: str) -> str:
    """Accept HOST:PORT (and unix:PATH, which gRPC also dials)."""
    if address.startswith("unix:"):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f'invalid server address "{address}": expected HOST:PORT')
    return address


def _string_setting(data: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config file {path}: {key} must be a non-empty string")
    return value


def load_settings(
    server_flag: str | None,
    namespace_flag: str | None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """Combine flags (highest), the config file, and defaults."""
    path = config_path(env)
    data = read_config(path)
    server = server_flag or _string_setting(data, "server", path) or DEFAULT_ADDRESS
    namespace = namespace_flag or _string_setting(data, "namespace", path) or DEFAULT_NAMESPACE
    return Settings(
        server=validate_server(server),
        namespace=namespace,
        namespace_from_flag=bool(namespace_flag),
    )


def write_server(path: Path, server: str) -> None:
    """Set ``server:`` in a config file, keeping its other keys (``namespace``); the file
    is replaced whole, so a reader never sees half of it."""
    data: dict = {}
    with contextlib.suppress(OSError, ValueError, yaml.YAMLError):
        loaded = yaml.safe_load(path.read_text())
        if isinstance(loaded, dict):
            data = loaded
    data["server"] = server
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))
    tmp.replace(path)
