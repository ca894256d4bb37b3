"""The watch cache indexes Pod watchers that select one node (spec.nodeName=X, as
every kubelet watches): a change reaches exactly the watchers whose filter it passes,
indexed or not, and a stopped watcher leaves the index."""

from __future__ import annotations

from apimachinery.selectors import FieldSelector, LabelSelector
from apiserver.watchcache import ADDED, DELETED, MODIFIED, Change, WatchCache
from protos import core_pb2, meta_pb2


def pod(name: str, node: str = "", rv: int = 1) -> core_pb2.Pod:
    return core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", resource_version=str(rv)),
                        spec=core_pb2.PodSpec(node_name=node))


def watch(cache: WatchCache, field_selector: str = ""):
    return cache.watch("Pod", "", LabelSelector.parse(""), FieldSelector.parse(field_selector, "Pod"), 0)


def seen(watcher) -> list[tuple[str, str, str]]:
    return [(e.type, e.obj.metadata.name, e.obj.spec.node_name) for e in watcher.drain()]


def test_pod_changes_reach_the_watchers_of_their_node_and_the_unindexed_ones():
    cache = WatchCache()
    on_a, on_b, unbound, everything = (watch(cache, "spec.nodeName=a"), watch(cache, "spec.nodeName=b"),
                                       watch(cache, "spec.nodeName="), watch(cache))
    not_on_a = watch(cache, "spec.nodeName!=a")  # not an equality: not indexed
    p0, p1 = pod("p", rv=1), pod("p", "a", rv=2)
    cache.apply(Change(ADDED, "Pod", "default/p", 1, p0, None))
    cache.apply(Change(MODIFIED, "Pod", "default/p", 2, p1, p0))  # bound to a
    p2 = pod("p", "a", rv=3)
    cache.apply(Change(DELETED, "Pod", "default/p", 3, p2, p1))
    assert seen(unbound) == [(ADDED, "p", ""), (DELETED, "p", "a")]  # it stopped matching when bound
    assert seen(on_a) == [(ADDED, "p", "a"), (DELETED, "p", "a")]
    assert seen(on_b) == []
    assert seen(everything) == [(ADDED, "p", ""), (MODIFIED, "p", "a"), (DELETED, "p", "a")]
    assert seen(not_on_a) == [(ADDED, "p", ""), (DELETED, "p", "a")]


def test_a_stopped_watcher_leaves_the_index():
    cache = WatchCache()
    on_a = watch(cache, "spec.nodeName=a,metadata.namespace=default")
    other = watch(cache, "spec.nodeName=a")
    cache.stop(on_a)
    cache.apply(Change(ADDED, "Pod", "default/p", 1, pod("p", "a"), None))
    assert seen(on_a) == [] and seen(other) == [(ADDED, "p", "a")]
    cache.stop(other)
    assert cache.watchers["Pod"] == set()
    cache.apply(Change(ADDED, "Pod", "default/q", 2, pod("q", "a", rv=2), None))  # no watcher left: fine


def node(name: str, rv: int = 1) -> core_pb2.Node:
    return core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name, resource_version=str(rv)))


def test_node_watchers_of_one_name_are_indexed_too():
    """Each kubelet watches its own Node (metadata.name=<node>): a Node change reaches that
    watcher and the unindexed ones (the controllers'), not every kubelet's."""
    cache = WatchCache()

    def node_watch(field_selector: str = ""):
        return cache.watch("Node", "", LabelSelector.parse(""), FieldSelector.parse(field_selector, "Node"), 0)
    own_a, own_b, everything = node_watch("metadata.name=a"), node_watch("metadata.name=b"), node_watch()
    cache.apply(Change(ADDED, "Node", "a", 1, node("a"), None))
    cache.apply(Change(MODIFIED, "Node", "a", 2, node("a", 2), node("a")))
    cache.apply(Change(DELETED, "Node", "a", 3, node("a", 3), node("a", 2)))
    assert [(e.type, e.obj.metadata.name) for e in own_a.drain()] == [(ADDED, "a"), (MODIFIED, "a"), (DELETED, "a")]
    assert own_b.drain() == [] and len(everything.drain()) == 3
    cache.stop(own_a)
    cache.apply(Change(ADDED, "Node", "a", 4, node("a", 4), None))
    assert own_a.drain() == [] and len(everything.drain()) == 1
    assert cache._indexed["Node"].keys() == {"b"}
