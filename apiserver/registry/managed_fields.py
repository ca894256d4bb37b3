"""Which manager owns which fields (metadata.managedFields), as Kubernetes' field manager
tracks them for server-side apply.

``MANAGER`` is the field manager of the request being served: the HTTP face sets it from
the ``fieldManager`` query parameter (else the client's user agent, as Kubernetes does);
"" when the request named none."""

from __future__ import annotations

from contextvars import ContextVar

MANAGER: ContextVar[str] = ContextVar("field_manager", default="")
