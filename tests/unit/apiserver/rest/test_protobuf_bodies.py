"""protobuf.decode: the Kubernetes protobuf envelope and the few kinds kubectl's typed clients send."""

from __future__ import annotations

import pytest

from apiserver import errors
from apiserver.rest import protobuf


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return protobuf.MAGIC + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


def test_an_eviction_with_delete_options() -> None:
    options = field(1, 30) + field(2, field(1, "uid-1")) + field(4, "Foreground") + field(5, "All")
    raw = field(1, field(1, "web") + field(3, "default")) + field(2, options)
    kind, obj = protobuf.decode(envelope("policy/v1", "Eviction", raw))
    assert kind == "Eviction"
    assert obj == {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web", "namespace": "default"},
                   "deleteOptions": {"gracePeriodSeconds": 30, "preconditions": {"uid": "uid-1"},
                                     "propagationPolicy": "Foreground", "dryRun": ["All"]}}


def test_a_self_subject_access_review_and_negative_numbers() -> None:
    attrs = field(1, "dev") + field(2, "list") + field(5, "pods")
    _, review = protobuf.decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                         field(2, field(1, attrs))))
    assert review["spec"] == {"resourceAttributes": {"namespace": "dev", "verb": "list", "resource": "pods"}}
    _, options = protobuf.decode(envelope("v1", "DeleteOptions", field(1, -1)))
    assert options["gracePeriodSeconds"] == -1


def test_other_kinds_and_garbage() -> None:
    with pytest.raises(protobuf.KindNotReadable):
        protobuf.decode(envelope("v1", "Pod", b""))
    with pytest.raises(errors.BadRequest):
        protobuf.decode(b"{}")
    with pytest.raises(errors.BadRequest):
        protobuf.decode(protobuf.MAGIC + b"\x0a\xff")
