"""Where a client finds the apiserver, and how it proves who it is (client-go's
clientcmd): flags, then the config file, then defaults. pykubectl reads it; ``pykube up``
writes it.

The config file is ``$PYKUBECONFIG`` or ``~/.pykube/config``, in one of two forms:

* a kubeconfig (``kind: Config``, see ``client.kubeconfig``): the current context's
  server, namespace, CA and client certificate; ``Settings.tls`` then holds the
  credentials for mutual TLS;
* pykube's older two-line form, still read (plaintext; ``Settings.tls`` is None)::

      server: 127.0.0.1:6443
      namespace: default      # optional

The server may be written as a URL (``https://127.0.0.1:6443``, as kubeconfigs do) or as
``HOST:PORT``; gRPC is given ``HOST:PORT``. An ``https://`` server without the
credentials to reach it is an error naming what is missing.

A missing file is not an error (like kubectl with no kubeconfig): the defaults apply.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from client.connection import DEFAULT_ADDRESS, TLSConfig
from client.files import write_atomic
from client.kubeconfig import ConfigError, ContextConfig, is_kubeconfig, resolve_context, set_server

__all__ = ["ENV_VAR", "DEFAULT_PATH", "DEFAULT_NAMESPACE", "ConfigError", "Settings", "config_path",
           "read_config", "validate_server", "split_server", "load_settings", "credentials_hint", "write_server",
           "add_connection_flags", "component_settings"]

ENV_VAR = "PYKUBECONFIG"
DEFAULT_PATH = Path("~/.pykube/config")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Settings:
    server: str  # HOST:PORT (or unix:PATH), what gRPC dials
    namespace: str
    # True when -n/--namespace was given: kubectl then refuses manifests of another namespace.
    namespace_from_flag: bool = False
    tls: TLSConfig | None = None  # mutual TLS credentials; None: plaintext
    config_file: Path | None = None  # the config file consulted (it may not exist)


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


def split_server(server: str) -> tuple[str, str]:
    """``https://host:port`` / ``http://host:port`` / ``host:port`` → (scheme, HOST:PORT);
    scheme is "" when none was written. A URL without a port gets its scheme's (443, 80)."""
    scheme, sep, rest = server.partition("://")
    if not sep:
        return "", validate_server(server)
    scheme = scheme.lower()
    if scheme not in ("https", "http"):
        raise ConfigError(f'invalid server address "{server}": the scheme must be https:// or http://')
    hostport = rest.split("/", 1)[0]
    if not hostport.rpartition(":")[2].isdigit() or hostport.endswith("]"):
        hostport = f"{hostport}:{443 if scheme == 'https' else 80}"
    return scheme, validate_server(hostport)


def _string_setting(data: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config file {path}: {key} must be a non-empty string")
    return value


def _missing_credentials(path: Path, what: str) -> ConfigError:
    return ConfigError(f"config file {path} has no credentials ({what}); "
                       f'run "pykube up" again or "pykube user add NAME"')


def _tls(ctx: ContextConfig, scheme: str, path: Path) -> TLSConfig | None:
    """Mutual TLS when the context has a CA or an https:// server, except for an explicit
    http:// server; every piece must then be there."""
    if scheme == "http" or (scheme != "https" and ctx.ca_pem is None):
        return None
    if ctx.ca_pem is None:
        raise ConfigError(f'config file {path}: cluster "{ctx.cluster}" has no certificate-authority-data '
                          f'to verify the server with; run "pykube up" again or "pykube user add NAME"')
    if ctx.cert_pem is None or ctx.key_pem is None:
        raise _missing_credentials(path, "client-certificate-data/client-key-data")
    return TLSConfig(ca_pem=ctx.ca_pem, cert_pem=ctx.cert_pem, key_pem=ctx.key_pem,
                     server_name=ctx.tls_server_name)


def load_settings(
    server_flag: str | None,
    namespace_flag: str | None,
    env: Mapping[str, str] = os.environ,
    kubeconfig: str | os.PathLike | None = None,
) -> Settings:
    """Combine flags (highest), the config file (``--kubeconfig``, else ``$PYKUBECONFIG``,
    else ``~/.pykube/config``), and defaults. A file named by ``--kubeconfig`` must exist."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise ConfigError(f"kubeconfig {path}: no such file")
        return _settings(path, server_flag, namespace_flag)
    return _settings(config_path(env), server_flag, namespace_flag)


def _settings(path: Path, server_flag: str | None, namespace_flag: str | None) -> Settings:
    data = read_config(path)
    if is_kubeconfig(data):
        ctx = resolve_context(data, path)
        file_server, file_namespace = ctx.server, ctx.namespace
    else:
        ctx = None
        file_server, file_namespace = _string_setting(data, "server", path), _string_setting(data, "namespace", path)
    scheme, server = split_server(server_flag or file_server or DEFAULT_ADDRESS)
    if ctx is not None:
        tls = _tls(ctx, scheme, path)
    elif scheme == "https":
        raise _missing_credentials(path, "certificate-authority-data, client-certificate-data/client-key-data")
    else:
        tls = None
    return Settings(
        server=server,
        namespace=namespace_flag or file_namespace or DEFAULT_NAMESPACE,
        namespace_from_flag=bool(namespace_flag),
        tls=tls,
        config_file=path,
    )


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig FILE`` and ``--server HOST:PORT``, the flags every component dials the
    apiserver by (kube-scheduler's, the kubelet's ``--kubeconfig``). Read them back with
    :func:`component_settings`."""
    parser.add_argument("--kubeconfig", default=None, metavar="FILE",
                        help="kubeconfig with the apiserver, the CA and this component's client certificate "
                             "(mutual TLS); without it the connection is plaintext")
    parser.add_argument("--server", default=None, metavar="HOST:PORT",
                        help=f"the apiserver (default: the kubeconfig's server, else {DEFAULT_ADDRESS})")


def component_settings(server_flag: str | None, kubeconfig: str | os.PathLike | None) -> Settings:
    """Where a component dials and with which credentials: ``--kubeconfig``'s current context
    (its server unless ``--server`` overrides it); without ``--kubeconfig``, plaintext to
    ``--server`` (default 127.0.0.1:6443). Unlike pykubectl, a component never reads
    ``$PYKUBECONFIG`` or ``~/.pykube/config``: its identity is given, not found.
    Raises ConfigError (a missing or unusable kubeconfig)."""
    if not kubeconfig:
        scheme, server = split_server(server_flag or DEFAULT_ADDRESS)
        if scheme == "https":
            raise ConfigError(f"--server {server_flag}: https:// needs credentials: give --kubeconfig")
        return Settings(server=server, namespace=DEFAULT_NAMESPACE)
    path = Path(kubeconfig).expanduser()
    if not path.is_file():
        raise ConfigError(f"kubeconfig {path}: no such file")
    return _settings(path, server_flag, None)


def credentials_hint(settings: Settings) -> str | None:
    """For a plaintext client that a server refused at the TLS handshake: which file lacks
    the credentials and how to get them (None when the settings have credentials)."""
    if settings.tls is not None:
        return None
    path = settings.config_file
    if path is None or not path.exists():
        return (f"no config file at {path or DEFAULT_PATH}: set ${ENV_VAR} to the config "
                f'"pykube up" wrote, or run "pykube user add NAME"')
    return str(_missing_credentials(path, "client-certificate-data/client-key-data"))


def write_server(path: Path, server: str) -> None:
    """Set the server in a config file, keeping the rest: ``server:`` in the two-line form
    (beside ``namespace``), the current context's cluster in a kubeconfig. The file is
    replaced whole, so a reader never sees half of it; a kubeconfig stays 0600."""
    data: dict = {}
    with contextlib.suppress(OSError, ValueError, yaml.YAMLError):
        loaded = yaml.safe_load(path.read_text())
        if isinstance(loaded, dict):
            data = loaded
    if is_kubeconfig(data):
        set_server(data, server, path)
        mode = 0o600
    else:
        data["server"] = server
        mode = 0o644
    write_atomic(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=False).encode(), mode)
