"""The plugin registry: the names a profile may use, and how to build each plugin.

One module per plugin, each with the pure predicate or score function inside and a
small class that adapts it to the framework's hooks (scheduler.interface); the
predicates several plugins share are in scheduler.plugins.helpers. This module is
the only one that names every plugin: the Scheduler hands REGISTRY to the framework.
"""

from __future__ import annotations

from scheduler.interface import Registry
from scheduler.plugins import (
    least_allocated,
    node_ready,
    node_selector,
    pod_spread,
    resources_fit,
    taint_toleration,
    volume_binding,
)

REGISTRY = Registry({
    "NodeReady": node_ready.NodeReady,
    "TaintToleration": taint_toleration.TaintToleration,
    "NodeSelector": node_selector.NodeSelector,
    "ResourcesFit": resources_fit.ResourcesFit,
    "PodSpread": pod_spread.PodSpread,
    "LeastAllocated": least_allocated.LeastAllocated,
    "VolumeBinding": volume_binding.VolumeBinding,
})
