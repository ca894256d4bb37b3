"""The EndpointSlice controller (Kubernetes' pkg/controller/endpointslice).

- ``endpoints``: what a Pod is to a Service (its endpoint, its resolved ports, the labels);
- ``reconciler``: the pure plan for one Service's slices;
- ``controller``: handlers, the stale-cache guard and the executor.
"""

from controllers.endpointslice.controller import EndpointSliceConfig, EndpointSliceController
from controllers.endpointslice.reconciler import MAX_ENDPOINTS_PER_SLICE, SlicePlan, plan_endpoint_slices

__all__ = ["MAX_ENDPOINTS_PER_SLICE", "EndpointSliceConfig", "EndpointSliceController", "SlicePlan",
           "plan_endpoint_slices"]
