"""Kubernetes' discovery documents: how kubectl and client libraries learn which groups,
versions, resources, verbs, short names and categories the server has.

    GET /api              APIVersions      the core group's versions: ["v1"]
    GET /apis             APIGroupList     every other group, with its versions
    GET /apis/apps        APIGroup         one group
    GET /api/v1           APIResourceList  a group version's resources and subresources
    GET /apis/apps/v1     APIResourceList

kubectl (1.26+) first asks ``/api`` and ``/apis`` for the aggregated form
(``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``): one
APIGroupDiscoveryList per prefix holding every group, version and resource at once, which
saves it a round trip per group version (``aggregated``).

Everything is derived from apimachinery/kinds.py (the kinds and their names) and
apiserver/served.py (verbs and subresources), as pure functions. Only groups with a served
kind are listed: the Pod's eviction subresource (``pods/eviction``, a ``policy/v1`` Eviction)
lives in /api/v1, which is where kubectl drain looks for it, and an empty ``policy/v1``
(Kubernetes lists its PodDisruptionBudgets there) would break discovery: kubectl refuses a
group version whose resource list is empty ("received empty response for: policy/v1").
"""

from __future__ import annotations

from typing import Any

from apimachinery.kinds import KINDS, KindInfo
from apiserver import served

# The media type of the aggregated discovery documents (apidiscovery.k8s.io/v2).
AGGREGATED_GROUP, AGGREGATED_VERSION, AGGREGATED_KIND = "apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList"
AGGREGATED_CONTENT_TYPE = f"application/json;g={AGGREGATED_GROUP};v={AGGREGATED_VERSION};as={AGGREGATED_KIND}"

# The order Kubernetes lists its groups in (by group priority); others follow by name.
GROUP_ORDER = ("apps", "batch", "rbac.authorization.k8s.io", "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io")


def _group_versions() -> dict[str, list[str]]:
    """Every named group → its versions (the core group "" is /api's)."""
    found: dict[str, list[str]] = {}
    for api_version in (info.api_version for info in KINDS):
        group, _, version = api_version.rpartition("/")
        if group and version not in found.setdefault(group, []):
            found[group].append(version)
    order = {name: i for i, name in enumerate(GROUP_ORDER)}
    return dict(sorted(found.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def _kinds_of(group_version: str) -> list[KindInfo]:
    return sorted((info for info in KINDS if info.api_version == group_version), key=lambda info: info.plural)


def _served_group_versions() -> set[str]:
    return {"v1"} | {f"{group}/{version}" for group, versions in _group_versions().items() for version in versions}


# ------------------------------------------------------------------ the classic documents


def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``: the core group's versions, and the address clients reach the server at."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _api_group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> dict[str, Any]:
    """``/apis``: every named group the server serves."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_api_group(name, versions) for name, versions in _group_versions().items()]}


def api_group(name: str) -> dict[str, Any] | None:
    """``/apis/<group>``, or None for a group not served."""
    versions = _group_versions().get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(name, versions)}


def _resource(info: KindInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                             "kind": info.kind, "verbs": list(served.verbs(info))}
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def _subresource(info: KindInfo, sub: served.Subresource) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f"{info.plural}/{sub.name}", "singularName": "", "namespaced": info.namespaced}
    if sub.group is not None:
        entry["group"], entry["version"] = sub.group, sub.version
    entry["kind"] = sub.kind
    entry["verbs"] = list(sub.verbs)
    return entry


def resource_list(group_version: str) -> dict[str, Any] | None:
    """``/api/v1``, ``/apis/apps/v1``...: the resources of a group version and their
    subresources (sorted by name, as Kubernetes lists them); None if not served."""
    if group_version not in _served_group_versions():
        return None
    resources = []
    for info in _kinds_of(group_version):
        resources.append(_resource(info))
        resources.extend(_subresource(info, sub) for sub in served.subresources(info))
    resources.sort(key=lambda entry: entry["name"])
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


# ------------------------------------------------------------------ aggregated discovery (apidiscovery.k8s.io/v2)


def _response_kind(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _discovery_resource(info: KindInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": _response_kind(info.group, info.version, info.kind),
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(served.verbs(info)),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subresources = [{"subresource": sub.name,
                     "responseKind": _response_kind(info.group if sub.group is None else sub.group,
                                                    info.version if sub.version is None else sub.version, sub.kind),
                     "verbs": list(sub.verbs)}
                    for sub in served.subresources(info)]
    if subresources:
        entry["subresources"] = subresources
    return entry


def _group_discovery(group: str, versions: list[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": group} if group else {"creationTimestamp": None}
    return {"metadata": metadata, "versions": [
        {"version": version,
         "resources": [_discovery_resource(info) for info in _kinds_of(f"{group}/{version}" if group else version)],
         "freshness": "Current"}
        for version in versions]}


def aggregated(prefix: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList of ``/api`` (prefix "api": the core group) or ``/apis``
    (prefix "apis": every named group), served with AGGREGATED_CONTENT_TYPE."""
    if prefix == "api":
        items = [_group_discovery("", ["v1"])]
    elif prefix == "apis":
        items = [_group_discovery(group, versions) for group, versions in _group_versions().items()]
    else:
        raise ValueError(f'aggregated discovery is served for "api" and "apis", not "{prefix}"')
    return {"kind": AGGREGATED_KIND, "apiVersion": f"{AGGREGATED_GROUP}/{AGGREGATED_VERSION}", "metadata": {},
            "items": items}


def wants_aggregated(accept: str) -> bool:
    """Whether an Accept header asks for the aggregated form (v2) before anything else it
    accepts: kubectl's ``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
    ...,application/json``. A client that prefers plain JSON gets the classic document."""
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        if kind not in ("application/json", "application/*", "*/*"):
            continue
        values = dict(param.partition("=")[::2] for param in params)
        if (values.get("g"), values.get("v"), values.get("as")) == (AGGREGATED_GROUP, AGGREGATED_VERSION,
                                                                    AGGREGATED_KIND):
            return True
        if "as" not in values and "g" not in values:  # plain JSON comes first
            return False
    return False
