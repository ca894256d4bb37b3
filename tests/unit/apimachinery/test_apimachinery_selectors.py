"""Label and field selectors: kubectl's syntax, Kubernetes' matching, clear errors."""

from __future__ import annotations

import pytest

from apimachinery.selectors import FieldSelector, LabelSelector, SelectorError
from protos import core_pb2, meta_pb2

LABELS = {"app": "web", "env": "prod", "canary": ""}


@pytest.mark.parametrize("text, matches", [
    ("", True), ("app=web", True), ("app==web", True), ("app!=web", False), ("tier!=db", True),
    ("env in (prod,qa)", True), ("env notin (prod)", False), ("env notin (dev)", True),
    ("canary", True), ("!canary", False), ("!legacy", True), ("app=web,env in (qa)", False),
    ("app=web, env in (prod, qa), canary", True),
])
def test_label_selector_matches(text: str, matches: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize("text", ["app=web=x", "!env in (a)", "(app)", "app in (a"])
def test_malformed_label_selectors_name_the_requirement(text: str) -> None:
    with pytest.raises(SelectorError, match="unable to parse requirement"):
        LabelSelector.parse(text)


def test_label_selector_prints_back_in_kubectl_syntax() -> None:
    assert str(LabelSelector.parse("app=web,env in (qa,prod),!legacy,canary")) == \
        "app=web,env in (prod,qa),!legacy,canary"


def test_label_selector_from_a_workload_selector() -> None:
    proto = meta_pb2.LabelSelector(match_labels={"app": "web"})
    proto.match_expressions.add(key="env", operator="NotIn", values=["dev"])
    selector = LabelSelector.from_proto(proto)
    assert selector.matches(LABELS) and not selector.matches({"app": "web", "env": "dev"})
    proto.match_expressions.add(key="x", operator="Near")
    with pytest.raises(SelectorError, match='"Near" is not a valid label selector operator'):
        LabelSelector.from_proto(proto)


def test_field_selector_matches_json_paths() -> None:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name="web", namespace="default"),
                       spec=core_pb2.PodSpec(node_name="n1"), status=core_pb2.PodStatus(phase="Running"))
    assert FieldSelector.parse("spec.nodeName=n1,status.phase!=Failed", "Pod").matches(pod)
    assert not FieldSelector.parse("metadata.name==db", "Pod").matches(pod)
    assert FieldSelector.parse("spec.nodeName=n1", "Pod").required_value("spec.nodeName") == "n1"
    node = core_pb2.Node(spec=core_pb2.NodeSpec(unschedulable=True))
    assert FieldSelector.parse("spec.unschedulable=true", "Node").matches(node)


def test_field_selector_refuses_fields_the_kind_does_not_support() -> None:
    with pytest.raises(SelectorError, match='field label not supported: "spec.nodeName" \\(for Node: '):
        FieldSelector.parse("spec.nodeName=n1", "Node")
    with pytest.raises(SelectorError, match="invalid field selector"):
        FieldSelector.parse("spec.nodeName", "Pod")
