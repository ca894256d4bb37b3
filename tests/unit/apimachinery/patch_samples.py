"""Shorthands the patch tests write their objects with: a container, a Pod spec of containers,
and the descriptors of the kinds they patch."""

from __future__ import annotations

from apimachinery.kinds import BY_KIND

POD = BY_KIND["Pod"].message.DESCRIPTOR
DEPLOYMENT = BY_KIND["Deployment"].message.DESCRIPTOR


def c(name: str, **fields) -> dict:
    return {"name": name, **fields}


def spec(*containers: dict, **fields) -> dict:
    return {"spec": {"containers": list(containers), **fields}}
