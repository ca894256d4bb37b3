"""Who is asking: the user a request is authenticated as (Kubernetes' user.Info).

Owned by the tls branch (the identity comes from the client certificate: CN is the
name, each O a group); this copy is the shared contract, verbatim, so authorization
can be built against it before the branches meet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserInfo:
    name: str                      # "system:node:n1", "alice", "system:anonymous"
    groups: tuple[str, ...] = ()   # ("system:nodes", "system:authenticated")


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
