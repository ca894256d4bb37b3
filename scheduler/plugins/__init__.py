"""The plugin registry: names a profile may use, and how to build each plugin.

One module per plugin, each with the pure predicate or score function inside and a
small class that adapts it to the framework's hooks. Names are kube-scheduler style
("TaintToleration"); the module name ("taint_toleration") is accepted too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scheduler.framework import ConfigError
from scheduler.plugins import (
    least_allocated,
    node_ready,
    node_selector,
    pod_spread,
    resources_fit,
    taint_toleration,
)

REGISTRY: dict[str, Callable[..., Any]] = {
    "NodeReady": node_ready.NodeReady,
    "TaintToleration": taint_toleration.TaintToleration,
    "NodeSelector": node_selector.NodeSelector,
    "ResourcesFit": resources_fit.ResourcesFit,
    "PodSpread": pod_spread.PodSpread,
    "LeastAllocated": least_allocated.LeastAllocated,
}
_ALIASES = {name.lower(): name for name in REGISTRY}


def canonical_name(name: Any, role: str = "") -> str:
    """"taint_toleration", "TaintToleration" -> "TaintToleration"; checks the plugin can play `role`."""
    key = str(name).replace("_", "").replace("-", "").lower()
    if key not in _ALIASES:
        raise ConfigError(f"unknown plugin {name!r} (known: {', '.join(REGISTRY)})")
    canonical = _ALIASES[key]
    if role and not callable(getattr(REGISTRY[canonical], role, None)):  # role: "filter" or "score"
        raise ConfigError(f"plugin {canonical} is not a {role} plugin")
    return canonical


def make_plugin(name: str, args: dict[str, Any] | None = None) -> Any:
    canonical = canonical_name(name)
    try:
        return REGISTRY[canonical](**(args or {}))
    except TypeError as err:
        raise ConfigError(f"pluginConfig for {canonical}: {err}") from None
