"""The pod-template-hash: how a Deployment names the ReplicaSet of one template.

Kubernetes (pkg/controller/controller_utils.go ComputeHash) hashes the Pod template
with 32-bit FNV-1a, mixes in the Deployment's status.collisionCount when it is set,
and renders the decimal number with SafeEncodeString, which maps every character
onto an alphabet without vowels (so no accidental words) and without the
look-alikes 0/1/3 (so names read back unambiguously). The same template always
gives the same name, which makes ReplicaSet creation idempotent: a controller that
crashes after creating `web-5d8f7c9b6` finds it again instead of making a twin.

Kubernetes hashes Go's spew dump of the struct; we hash the protobuf message's
deterministic serialization (map entries sorted by key, unset proto3 fields
omitted), which has the property that matters: equal templates give equal bytes.
The pod-template-hash label is removed first, so hashing a ReplicaSet's template
(which carries the label) gives the same value as the Deployment's (which does not).
"""

from __future__ import annotations

from protos import core_pb2

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"

# k8s.io/apimachinery/pkg/util/rand: consonants and digits that cannot be misread.
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv1a_32(data: bytes, state: int = _FNV32_OFFSET) -> int:
    """32-bit FNV-1a; pass the previous result as state to hash in pieces (as Go's
    hash.Hash32 Write does)."""
    h = state
    for byte in data:
        h ^= byte
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(text: str) -> str:
    """Kubernetes' rand.SafeEncodeString: each character mapped into ALPHANUMS.

    Applied to a decimal number, the digits 0-9 become "456789bcdf", so a hash
    reads like "5d8f7c9b6"."""
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def template_bytes(template: core_pb2.PodTemplateSpec) -> bytes:
    """The bytes hashed: the template without the pod-template-hash label."""
    clean = core_pb2.PodTemplateSpec()
    clean.CopyFrom(template)
    clean.metadata.labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return clean.SerializeToString(deterministic=True)


def template_hash(template: core_pb2.PodTemplateSpec, collision_count: int | None = None) -> str:
    """The pod-template-hash of a template (≤ 10 characters of ALPHANUMS).

    collision_count is the Deployment's status.collisionCount: when the name this
    template hashes to is already taken by a ReplicaSet with another template, the
    controller bumps it and the next hash differs. As in Kubernetes it is mixed in
    as 8 bytes (a little-endian uint32 followed by four zero bytes)."""
    h = fnv1a_32(template_bytes(template))
    if collision_count is not None:
        h = fnv1a_32((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4), h)
    return safe_encode_string(str(h))
