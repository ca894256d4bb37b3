"""VolumeBinding: claims and their volumes' node affinity decide where a Pod may go, and
pre-bind marks a WaitForFirstConsumer claim with the chosen node."""

from __future__ import annotations

import asyncio

from scheduler_testlib import cache_with, node, pod
from test_scheduler_plugins import run_filter

from apimachinery.convert import from_dict
from scheduler.framework import Framework, Profile, SchedulerConfig
from scheduler.nodeinfo import PodInfo
from scheduler.plugins import REGISTRY
from scheduler.plugins.volume_binding import SELECTED_NODE, VolumeBinding, selector_matches


class Listed:
    def __init__(self, objects, namespaced=True):
        self.objects = {(f"{o.metadata.namespace}/{o.metadata.name}" if namespaced else o.metadata.name): o
                        for o in objects}

    def get(self, key):
        return self.objects.get(key)

    def items(self):
        return list(self.objects.values())


def claim(name="data", volume="", klass=None, deleting=False):
    spec = {"volumeName": volume, "accessModes": ["ReadWriteOnce"]}
    if klass is not None:
        spec["storageClassName"] = klass
    meta = {"name": name, "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec})


def volume(name, on_node=None):
    spec = {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}
    if on_node:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [on_node]}]}]}}
    return from_dict({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec})


def klass(name, mode, default=False):
    meta = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return from_dict({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
                      "provisioner": "pykube.io/local-path", "volumeBindingMode": mode})


def plugin(claims=(), volumes=(), classes=(), api=None):
    p = VolumeBinding()
    listers = {"PersistentVolumeClaim": Listed(claims), "PersistentVolume": Listed(volumes, False),
               "StorageClass": Listed(classes, False)}
    p.attach(api, listers.__getitem__)
    return p


def using(name="data"):
    p = pod("db")
    p.spec.volumes.add(name="d").persistent_volume_claim.claim_name = name
    return p


CACHE = cache_with(node("n1"), node("n2"))


def test_bound_volume_with_node_affinity_fits_only_its_node():
    vb = plugin([claim(volume="pv1")], [volume("pv1", "n1")])
    assert run_filter(vb, using(), CACHE, "n1") == ()
    assert run_filter(vb, using(), CACHE, "n2") == ("node(s) had volume node affinity conflict",)


def test_missing_deleting_unbound_immediate_claims_fit_nowhere():
    assert run_filter(plugin(), using(), CACHE, "n1") == ('persistentvolumeclaim "data" not found',)
    assert run_filter(plugin([claim(deleting=True)]), using(), CACHE, "n1") == (
        'persistentvolumeclaim "data" is being deleted',)
    immediate = plugin([claim(klass="fast")], classes=[klass("fast", "Immediate")])
    assert run_filter(immediate, using(), CACHE, "n1") == ("pod has unbound immediate PersistentVolumeClaims",)
    assert run_filter(plugin([claim(volume="gone")]), using(), CACHE, "n1") == ("pvc(s) bound to non-existent pv(s)",)


def test_unbound_wait_for_first_consumer_claim_fits_any_node():
    vb = plugin([claim()], classes=[klass("local-path", "WaitForFirstConsumer", default=True)])
    assert run_filter(vb, using(), CACHE, "n1") == () and run_filter(vb, using(), CACHE, "n2") == ()


def test_the_fit_error_counts_the_reason_per_node():
    profile = Profile.from_config(SchedulerConfig(), REGISTRY)
    vb = next(p for p in profile.filters if p.name == "VolumeBinding")
    vb.attach(None, {"PersistentVolumeClaim": Listed([claim(volume="pv1")]),
                     "PersistentVolume": Listed([volume("pv1", "gone-node")], False),
                     "StorageClass": Listed([], False)}.__getitem__)
    result = Framework(profile).schedule(PodInfo.of(using()), CACHE)
    assert result.node is None
    assert result.message == "0/2 nodes are available: 2 node(s) had volume node affinity conflict."


def test_node_selector_operators():
    sel = volume("v", "n1").spec.node_affinity.required
    assert selector_matches(sel, {"kubernetes.io/hostname": "n1"})
    assert not selector_matches(sel, {})
    term = sel.node_selector_terms.add()
    term.match_expressions.add(key="disk", operator="Exists")
    term.match_expressions.add(key="gen", operator="Gt", values=["3"])
    assert selector_matches(sel, {"disk": "ssd", "gen": "4"}) and not selector_matches(sel, {"disk": "ssd", "gen": "2"})


class FakeAPI:
    def __init__(self, obj):
        self.obj = obj
        self.updates = 0

    async def get(self, kind, name, namespace):
        copy = type(self.obj)()
        copy.CopyFrom(self.obj)
        return copy

    async def update(self, obj):
        self.updates += 1
        self.obj = obj
        return obj


def test_pre_bind_sets_selected_node_on_wait_for_first_consumer_claims_only():
    api = FakeAPI(claim())
    vb = plugin([claim()], classes=[klass("local-path", "WaitForFirstConsumer", default=True)], api=api)
    asyncio.run(vb.pre_bind(using(), "n2"))
    assert api.obj.metadata.annotations[SELECTED_NODE] == "n2"
    bound = FakeAPI(claim(volume="pv1"))
    vb = plugin([claim(volume="pv1")], [volume("pv1", "n1")], api=bound)
    asyncio.run(vb.pre_bind(using(), "n1"))
    assert bound.updates == 0
