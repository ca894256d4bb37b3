"""Taints and tolerations: whether a Pod's toleration tolerates a node's taint.

One definition, used by the scheduler (which keeps taints and tolerations as plain
tuples, parsed once per object, because it matches them in its inner loop) and by
the node lifecycle controller (which reads them off the protobuf messages and
converts with ``taint_of``/``toleration_of``).

The rule is Kubernetes' ``Toleration.ToleratesTaint`` (k8s.io/api core/v1):

1. an empty effect matches every effect, otherwise the effects must be equal;
2. an empty key matches every key, otherwise the keys must be equal;
3. operator Exists matches every value; Equal (or empty: Equal is the default)
   compares the values; any other operator matches nothing.

So an empty key with operator Equal tolerates every taint whose value equals the
toleration's (Kubernetes' validation forbids that combination, but the matcher,
like Kubernetes', does not rely on it).
"""

from __future__ import annotations

from collections.abc import Iterable

from protos import core_pb2

# (key, value, effect), as on a Node's spec.taints.
Taint = tuple[str, str, str]
# (key, operator, value, effect), as on a Pod's spec.tolerations.
Toleration = tuple[str, str, str, str]


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    t_key, t_operator, t_value, t_effect = toleration
    key, value, effect = taint
    if t_effect and t_effect != effect:
        return False
    if t_key and t_key != key:
        return False
    if t_operator == "Exists":
        return True
    if t_operator in ("", "Equal"):
        return t_value == value
    return False


HARD_EFFECTS = ("NoSchedule", "NoExecute")


def untolerated_taint(tolerations: tuple[Toleration, ...] | list[Toleration], taints: Iterable[Taint],
                      effects: tuple[str, ...] = HARD_EFFECTS) -> Taint | None:
    """The first taint with one of `effects` that no toleration tolerates."""
    for taint in taints:
        if taint[2] in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def taint_of(taint: core_pb2.Taint) -> Taint:
    return (taint.key, taint.value, taint.effect)


def toleration_of(toleration: core_pb2.Toleration) -> Toleration:
    return (toleration.key, toleration.operator, toleration.value, toleration.effect)
