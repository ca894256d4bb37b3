"""The simple authorizers and the union of several, as Kubernetes' ``--authorization-mode``
list is evaluated: ask each in turn, the first allow wins, else every reason given."""

from __future__ import annotations

from typing import Sequence

from apiserver.auth.attributes import Attributes, Authorizer, Decision


class AlwaysAllow:
    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(True)


class AlwaysDeny:
    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(False)


class UnionAuthorizer:
    def __init__(self, *authorizers: Authorizer) -> None:
        self.authorizers: Sequence[Authorizer] = authorizers

    def authorize(self, attrs: Attributes) -> Decision:
        reasons = []
        for authorizer in self.authorizers:
            decision = authorizer.authorize(attrs)
            if decision.allowed:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision(False, "\n".join(reasons))
