"""Toleration matching, as Kubernetes' Toleration.ToleratesTaint: one rule for the
scheduler's filter and the node lifecycle controller's evictions."""

from __future__ import annotations

import pytest

from apimachinery.taints import taint_of, tolerates, toleration_of
from controllers.node_lifecycle import toleration_for
from protos import core_pb2


@pytest.mark.parametrize("toleration, taint, expected", [
    (("k", "Equal", "v", "NoSchedule"), ("k", "v", "NoSchedule"), True),
    (("k", "", "v", "NoSchedule"), ("k", "v", "NoSchedule"), True),  # empty operator: Equal
    (("k", "Equal", "other", "NoSchedule"), ("k", "v", "NoSchedule"), False),
    (("k", "Exists", "", "NoSchedule"), ("k", "v", "NoSchedule"), True),
    (("k", "Exists", "", "NoExecute"), ("k", "v", "NoSchedule"), False),  # wrong effect
    (("", "Exists", "", ""), ("anything", "x", "NoExecute"), True),  # tolerates everything
    # An empty key matches every key, whatever the operator: Equal then compares values.
    (("", "Equal", "v", ""), ("any-key", "v", "NoSchedule"), True),
    (("", "Equal", "v", ""), ("any-key", "w", "NoSchedule"), False),
    (("k", "Lt", "v", ""), ("k", "v", "NoSchedule"), False),  # an unknown operator matches nothing
])
def test_tolerates_follows_kubernetes(toleration, taint, expected):
    assert tolerates(toleration, taint) is expected


def test_scheduler_and_node_lifecycle_agree_on_an_empty_key_with_equal():
    """They used to differ: the node lifecycle controller required the keys to be equal."""
    pod = core_pb2.Pod()
    toleration = pod.spec.tolerations.add(key="", operator="Equal", value="v", effect="NoExecute")
    taint = core_pb2.Taint(key="example.com/dedicated", value="v", effect="NoExecute")
    assert tolerates(toleration_of(toleration), taint_of(taint))
    assert toleration_for(pod, taint) == toleration
    assert toleration_for(pod, core_pb2.Taint(key="example.com/dedicated", value="w", effect="NoExecute")) is None
