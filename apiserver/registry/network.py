"""Services and EndpointSlices: how a Pod is reached by a stable name and address.

(Minimal registration; defaults, validation and the ClusterIP / NodePort allocators follow.)
"""

from __future__ import annotations

from apiserver.registry.base import Strategy


class ServiceStrategy(Strategy):
    kind = "Service"


class EndpointSliceStrategy(Strategy):
    kind = "EndpointSlice"
