"""A kubelet reads a ConfigMap or Secret only when a Pod bound to its node refers to it."""

from __future__ import annotations

from apimachinery.convert import from_dict
from apimachinery.identity import UserInfo
from apiserver.auth.attributes import Attributes, attributes_for
from apiserver.auth.authorizer import config_graph
from apiserver.auth.node import NodeAuthorizer
from apiserver.auth.node_graph import ConfigGraph
from apiserver.watchcache import Change, WatchCache
from protos import api_pb2

N1 = UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))


def pod(name, node, **spec):
    return from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                      "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x", **spec.pop("c", {})}],
                               **spec}})


USES = pod("web", "n1", c={"envFrom": [{"configMapRef": {"name": "env-cm"}}],
                           "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]},
           volumes=[{"name": "v", "configMap": {"name": "files"}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "tls"}}]}}])


def get(resource, name, namespace="default", verb="get"):
    return Attributes(N1, verb, "", resource, "", namespace, name)


def test_graph_edges_follow_pods():
    graph = ConfigGraph()
    graph.set(USES)
    for kind, name in [("ConfigMap", "env-cm"), ("Secret", "db"), ("ConfigMap", "files"), ("Secret", "tls")]:
        assert graph.allows("n1", kind, "default", name)
    assert not graph.allows("n2", "Secret", "default", "db")
    assert not graph.allows("n1", "Secret", "other", "db")
    graph.set(pod("web", "n1"))  # the update dropped the references
    assert not graph.allows("n1", "Secret", "default", "db")
    graph.set(USES)
    graph.set(pod("other", "n1", volumes=[{"name": "s", "secret": {"secretName": "db"}}]))
    graph.remove(USES)
    assert graph.allows("n1", "Secret", "default", "db") and not graph.allows("n1", "ConfigMap", "default", "files")


def test_node_authorizer_decisions():
    graph = ConfigGraph()
    graph.set(USES)
    authz = NodeAuthorizer(lambda ns, name: None, graph.allows)
    assert authz.authorize(get("secrets", "db")).allowed
    assert authz.authorize(get("configmaps", "files")).allowed
    denied = authz.authorize(get("secrets", "not-mine"))
    assert not denied.allowed and denied.reason == "no relationship found between node 'n1' and this object"
    listed = authz.authorize(get("secrets", "", verb="list"))
    assert not listed.allowed and listed.reason == "No Object name found"
    written = authz.authorize(get("secrets", "db", verb="update"))
    assert not written.allowed and written.reason == "can only read resources of this type"


def test_node_may_list_and_watch_one_referenced_object_by_name_selector():
    """The kubelet's watch-based cache: list/watch with fieldSelector metadata.name=<name> in
    the Pod's namespace, as Kubernetes' node authorizer allows; nothing broader."""
    graph = ConfigGraph()
    graph.set(USES)
    authz = NodeAuthorizer(lambda ns, name: None, graph.allows)

    def call(method, kind, namespace, selector):
        request = api_pb2.WatchRequest(kind=kind, namespace=namespace, field_selector=selector) \
            if method != "List" else api_pb2.ListRequest(kind=kind, namespace=namespace, field_selector=selector)
        return [authz.authorize(a) for a in attributes_for(method, request, N1)]

    for method in ("List", "Watch", "WatchBatches"):
        assert all(d.allowed for d in call(method, "ConfigMap", "default", "metadata.name=files"))
        assert all(d.allowed for d in call(method, "Secret", "default", "metadata.name=db"))
        # not referenced, the whole collection, another namespace, every namespace: refused
        assert not any(d.allowed for d in call(method, "Secret", "default", "metadata.name=not-mine"))
        assert not any(d.allowed for d in call(method, "Secret", "default", ""))
        assert not any(d.allowed for d in call(method, "Secret", "default", "metadata.name!=db"))
        assert not any(d.allowed for d in call(method, "Secret", "other", "metadata.name=db"))
        everywhere = call(method, "Secret", "", "metadata.name=db")
        assert not any(d.allowed for d in everywhere)
        assert everywhere[0].reason == "can only read namespaced object of this type"


def test_graph_follows_the_watch_cache():
    cache = WatchCache()
    graph = config_graph(cache)
    cache.apply(Change("ADDED", "Pod", "default/web", 2, USES, None))
    assert graph.allows("n1", "Secret", "default", "db")
    cache.apply(Change("DELETED", "Pod", "default/web", 3, USES, USES))
    assert not graph.allows("n1", "Secret", "default", "db")


def claim(name, volume=""):
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": name, "namespace": "default"},
                      "spec": {"volumeName": volume, "accessModes": ["ReadWriteOnce"]}})


def test_kubelet_gets_the_claims_of_its_pods_and_the_volumes_bound_to_them_only():
    graph = ConfigGraph()
    graph.set(pod("db", "n1", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]))
    graph.set(pod("other", "n2", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "theirs"}}]))
    graph.set_claim(claim("data", "pv-1"))
    graph.set_claim(claim("theirs", "pv-2"))
    authz = NodeAuthorizer(lambda ns, name: None, graph.allows)
    assert authz.authorize(get("persistentvolumeclaims", "data")).allowed
    assert authz.authorize(get("persistentvolumes", "pv-1", namespace="")).allowed
    assert not authz.authorize(get("persistentvolumeclaims", "theirs")).allowed
    assert not authz.authorize(get("persistentvolumes", "pv-2", namespace="")).allowed
    assert not authz.authorize(get("persistentvolumes", "", namespace="", verb="list")).allowed
    assert not authz.authorize(get("persistentvolumeclaims", "data", verb="update")).allowed
    graph.remove_claim(claim("data", "pv-1"))  # the claim gone: its volume too
    assert not authz.authorize(get("persistentvolumes", "pv-1", namespace="")).allowed
    graph.set_claim(claim("data", "pv-1"))
    graph.remove(pod("db", "n1"))  # the Pod gone
    assert not authz.authorize(get("persistentvolumes", "pv-1", namespace="")).allowed
