"""Who made a request: Kubernetes' user.Info, the parts pykube uses.

(Owned by the tls branch of issue 12; this is the shared contract's shape, copied
verbatim so the request filters can rely on it before the branches meet.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserInfo:
    name: str                      # "system:node:n1", "alice", "system:anonymous"
    groups: tuple[str, ...] = ()   # ("system:nodes", "system:authenticated")


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
