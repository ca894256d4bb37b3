"""Who made the request being served: Kubernetes' request context user, as a contextvar.

The filter chain (apiserver/filters.py) authenticates a call and sets ``USER`` around its
handler, so the registry's admission (apiserver/registry/admission.py) and the access
reviews see the same user the authorizer saw. Each gRPC call runs in its own task, so the
value is the call's own. Unset (None): a call from inside the apiserver itself (bootstrap
policy, namespace cleanup), which admission does not check."""

from __future__ import annotations

from contextvars import ContextVar

from apimachinery.identity import ANONYMOUS, UserInfo

# Who a handler run outside the filter chain (unit tests) is taken to be.
UNKNOWN = ANONYMOUS
USER: ContextVar[UserInfo | None] = ContextVar("pykube_request_user", default=None)


def current() -> UserInfo | None:
    return USER.get()
