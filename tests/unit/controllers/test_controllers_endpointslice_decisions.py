"""The EndpointSlice controller's pure plan: which Pods are endpoints, on which ports,
with which conditions, and how few writes bring the slices there."""

from __future__ import annotations

from test_controllers_manager_support import make_pod, ts

from controllers.endpointslice.endpoints import (
    CONTROLLER_NAME,
    HEADLESS_LABEL,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
)
from controllers.endpointslice.reconciler import plan_endpoint_slices
from controllers.endpointslice.trigger_time import (
    TRIGGER_TIME_ANNOTATION,
    TriggerTimeTracker,
    annotate,
    format_trigger_time,
)
from protos import core_pb2, discovery_pb2, meta_pb2


def service(name: str = "web", ports: list[dict] | None = None, selector: dict | None = None,
            **spec) -> core_pb2.Service:
    svc = core_pb2.Service(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", uid=f"uid-svc-{name}",
                                                        labels={"tier": "front"}))
    svc.spec.selector.update({"app": "web"} if selector is None else selector)
    for p in ports if ports is not None else [{"port": 80, "target_port": 8080}]:
        port = svc.spec.ports.add(name=p.get("name", ""), port=p["port"], protocol=p.get("protocol", ""))
        target = p.get("target_port")
        if isinstance(target, int):
            port.target_port.int_val = target
        elif isinstance(target, str):
            port.target_port.str_val = target
    for key, value in spec.items():
        setattr(svc.spec, key, value)
    return svc


def pod(name: str, ip: str = "", *, ready: bool = True, ports: dict[str, int] | None = None,
        protocol: str = "", labels: dict | None = None, **kw) -> core_pb2.Pod:
    p = make_pod(name, labels if labels is not None else {"app": "web"}, node="n1", phase="Running",
                 ready=ready, **kw)
    p.status.pod_ip = ip or f"10.88.0.{sum(map(ord, name)) % 250 + 2}"
    for port_name, number in (ports or {}).items():
        p.spec.containers[0].ports.add(name=port_name, container_port=number, protocol=protocol)
    return p


def endpoints_of(plan_slices) -> dict[str, tuple[bool, bool, bool]]:
    out = {}
    for s in plan_slices:
        for e in s.endpoints:
            out[e.target_ref.name] = (e.conditions.ready, e.conditions.serving, e.conditions.terminating)
    return out


def as_stored(slices: list[discovery_pb2.EndpointSlice]) -> list[discovery_pb2.EndpointSlice]:
    """The slices as the apiserver would hold them after the plan's creates."""
    out = []
    for i, s in enumerate(slices):
        stored = discovery_pb2.EndpointSlice()
        stored.CopyFrom(s)
        stored.metadata.name = f"{s.metadata.generate_name}{i:05d}"
        stored.metadata.uid = f"uid-slice-{i}"
        out.append(stored)
    return out


def test_one_slice_with_the_kubernetes_shape():
    svc = service(ports=[{"name": "http", "port": 80, "target_port": 8080}])
    plan = plan_endpoint_slices(svc, [pod("a", "10.88.0.5"), pod("b", "10.88.1.7", ready=False)], [])
    assert not plan.update and not plan.delete
    [s] = plan.create
    assert s.metadata.generate_name == "web-" and s.metadata.namespace == "default"
    assert dict(s.metadata.labels) == {"tier": "front", SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: CONTROLLER_NAME}
    [ref] = s.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "v1", "Service", "web", "uid-svc-web", True, True)
    assert s.address_type == "IPv4"
    assert [(p.name, p.protocol, p.port) for p in s.ports] == [("http", "TCP", 8080)]
    a, b = s.endpoints
    assert list(a.addresses) == ["10.88.0.5"] and a.node_name == "n1"
    assert (a.target_ref.kind, a.target_ref.namespace, a.target_ref.name, a.target_ref.uid) == (
        "Pod", "default", "a", "uid-a")
    assert endpoints_of(plan.create) == {"a": (True, True, False), "b": (False, False, False)}
    assert not a.HasField("hostname")


def test_unset_target_port_and_protocol_default_to_the_service_port_and_tcp():
    [s] = plan_endpoint_slices(service(ports=[{"port": 53, "protocol": "UDP"}, {"port": 80}]),
                               [pod("a")], []).create
    assert sorted((p.protocol, p.port) for p in s.ports) == [("TCP", 80), ("UDP", 53)]


def test_named_target_port_resolves_per_pod_and_pods_without_it_are_no_endpoints():
    svc = service(ports=[{"port": 80, "target_port": "http"}])
    pods = [pod("a", ports={"http": 8080}), pod("b", ports={"http": 9090}), pod("c", ports={"http": 8080}),
            pod("d", ports={"metrics": 8080}), pod("e", ports={"http": 8080}, protocol="UDP")]
    plan = plan_endpoint_slices(svc, pods, [])
    by_port = {s.ports[0].port: sorted(e.target_ref.name for e in s.endpoints) for s in plan.create}
    assert by_port == {8080: ["a", "c"], 9090: ["b"]}  # d lacks the port, e has it only for UDP


def test_pods_without_ip_finished_or_not_selected_are_left_out():
    done = pod("done")
    done.status.phase = "Succeeded"
    no_ip = pod("no-ip")
    no_ip.status.pod_ip = ""
    other = pod("other", labels={"app": "db"})
    elsewhere = pod("elsewhere", namespace="prod")
    [s] = plan_endpoint_slices(service(), [done, no_ip, other, elsewhere, pod("ok")], []).create
    assert [e.target_ref.name for e in s.endpoints] == ["ok"]


def test_terminating_pods_are_not_ready_but_may_still_serve():
    plan = plan_endpoint_slices(service(), [pod("going", deleting=True), pod("going-unready", ready=False,
                                                                                deleting=True)], [])
    assert endpoints_of(plan.create) == {"going": (False, True, True), "going-unready": (False, False, True)}


def test_publish_not_ready_addresses_makes_every_pod_ready():
    svc = service(publish_not_ready_addresses=True)
    plan = plan_endpoint_slices(svc, [pod("unready", ready=False), pod("going", deleting=True)], [])
    assert endpoints_of(plan.create) == {"unready": (True, False, False), "going": (True, True, True)}


def test_headless_service_label_and_hostname_for_the_pods_subdomain():
    svc = service(cluster_ip="None")
    named = pod("a")
    named.spec.hostname, named.spec.subdomain = "a-host", "web"
    other = pod("b")
    other.spec.hostname, other.spec.subdomain = "b-host", "other"
    [s] = plan_endpoint_slices(svc, [named, other], []).create
    assert s.metadata.labels[HEADLESS_LABEL] == ""
    assert {e.target_ref.name: e.hostname for e in s.endpoints} == {"a": "a-host", "b": ""}


def test_more_than_max_endpoints_are_split_into_slices():
    pods = [pod(f"p{i:03d}", f"10.88.{i // 200}.{i % 200 + 2}") for i in range(250)]
    plan = plan_endpoint_slices(service(), pods, [])
    assert [len(s.endpoints) for s in plan.create] == [100, 100, 50]
    assert len(endpoints_of(plan.create)) == 250
    assert [len(s.endpoints) for s in plan_endpoint_slices(service(), pods[:10], [], 4).create] == [4, 4, 2]


def test_unchanged_state_writes_nothing():
    svc = service()
    pods = [pod("a"), pod("b", ready=False)]
    stored = as_stored(plan_endpoint_slices(svc, pods, []).create)
    assert plan_endpoint_slices(svc, pods, stored).empty
    many = [pod(f"p{i:03d}", f"10.88.1.{i + 2}") for i in range(150)]
    stored = as_stored(plan_endpoint_slices(svc, many, []).create)
    assert plan_endpoint_slices(svc, list(reversed(many)), stored).empty


def test_a_readiness_change_updates_only_the_slice_holding_the_pod():
    svc = service()
    pods = [pod(f"p{i:03d}", f"10.88.1.{i + 2}") for i in range(150)]
    stored = as_stored(plan_endpoint_slices(svc, pods, []).create)
    pods[120] = pod("p120", "10.88.1.122", ready=False)
    plan = plan_endpoint_slices(svc, pods, stored)
    assert not plan.create and not plan.delete
    [updated] = plan.update
    assert updated.metadata.name == stored[1].metadata.name
    assert endpoints_of([updated])["p120"] == (False, False, False)
    assert [e.target_ref.name for e in updated.endpoints] == [e.target_ref.name for e in stored[1].endpoints]


def test_new_pods_fill_an_existing_slice_before_a_new_one_is_made():
    svc = service()
    stored = as_stored(plan_endpoint_slices(svc, [pod("a"), pod("b")], []).create)
    plan = plan_endpoint_slices(svc, [pod("a"), pod("b"), pod("c")], stored)
    assert not plan.create and not plan.delete
    [updated] = plan.update
    assert [e.target_ref.name for e in updated.endpoints] == ["a", "b", "c"]


def test_deleted_pod_leaves_and_the_last_one_leaves_a_placeholder():
    svc = service()
    stored = as_stored(plan_endpoint_slices(svc, [pod("a"), pod("b")], []).create)
    [updated] = plan_endpoint_slices(svc, [pod("a")], stored).update
    assert [e.target_ref.name for e in updated.endpoints] == ["a"]
    plan = plan_endpoint_slices(svc, [], stored)
    # Kubernetes keeps a placeholder slice: the old slice is rewritten as one, not deleted.
    assert not plan.create and not plan.delete
    [placeholder] = plan.update
    assert placeholder.metadata.name == stored[0].metadata.name
    assert not placeholder.endpoints and not placeholder.ports
    assert plan_endpoint_slices(svc, [], [placeholder]).empty
    [first] = plan_endpoint_slices(svc, [], []).create  # a Service without Pods gets one at once
    assert not first.endpoints and not first.ports


def test_hand_edits_are_repaired_and_foreign_or_stale_slices_deleted():
    svc = service()
    [stored] = as_stored(plan_endpoint_slices(svc, [pod("a")], []).create)
    edited = discovery_pb2.EndpointSlice()
    edited.CopyFrom(stored)
    edited.endpoints.add(addresses=["1.2.3.4"]).target_ref.name = "intruder"
    edited.metadata.labels["tier"] = "changed"
    [repaired] = plan_endpoint_slices(svc, [pod("a")], [edited]).update
    assert [e.target_ref.name for e in repaired.endpoints] == ["a"] and repaired.metadata.labels["tier"] == "front"
    stale = discovery_pb2.EndpointSlice()
    stale.CopyFrom(stored)
    stale.metadata.owner_references[0].uid = "uid-of-an-older-web"
    plan = plan_endpoint_slices(svc, [pod("a")], [stale])
    # the old namesake's slice is recycled for the new Service (one write, not two)
    [recycled] = plan.update
    assert not plan.create and not plan.delete
    assert recycled.metadata.owner_references[0].uid == "uid-svc-web" and len(recycled.endpoints) == 1


def test_changed_ports_move_endpoints_and_no_selector_means_no_slices():
    svc = service()
    stored = as_stored(plan_endpoint_slices(svc, [pod("a")], []).create)
    moved = plan_endpoint_slices(service(ports=[{"port": 80, "target_port": 9000}]), [pod("a")], stored)
    [updated] = moved.update
    assert updated.metadata.name == stored[0].metadata.name and updated.ports[0].port == 9000
    plan = plan_endpoint_slices(service(selector={}), [pod("a")], stored)
    assert [s.metadata.name for s in plan.delete] == [stored[0].metadata.name] and not plan.create


def test_unchanged_slices_ignore_pod_timestamps_and_fields_the_controller_does_not_write():
    svc = service()
    a = pod("a")
    stored = as_stored(plan_endpoint_slices(svc, [a], []).create)
    a.status.conditions[0].last_transition_time.CopyFrom(ts(5))
    stored[0].endpoints[0].target_ref.resource_version = "7"
    stored[0].metadata.resource_version = "12"
    assert plan_endpoint_slices(svc, [a], stored).empty


def test_trigger_time_is_the_oldest_change_since_the_last_sync():
    svc = service()
    svc.metadata.creation_timestamp.CopyFrom(ts(100))
    tracker = TriggerTimeTracker()
    a, b = pod("a", ready_at=200), pod("b", ready_at=300)
    assert tracker.compute("default/web", svc, [a, b]) is None  # first sync: unknown
    assert tracker.compute("default/web", svc, [a, b]) is None  # nothing changed
    b2, c = pod("b", ready=False, ready_at=400.5), pod("c", ready_at=450)
    assert tracker.compute("default/web", svc, [a, b2, c]) == 400.5
    assert tracker.compute("default/web", svc, [a]) is None  # a deletion has no time of its own
    tracker.forget("default/web")
    assert tracker.compute("default/web", svc, [a]) is None


def test_trigger_time_annotation_format():
    s = discovery_pb2.EndpointSlice()
    annotate(s, 1_700_000_000.25)
    assert s.metadata.annotations[TRIGGER_TIME_ANNOTATION] == "2023-11-14T22:13:20.25Z"
    assert format_trigger_time(1_700_000_000) == "2023-11-14T22:13:20Z"
    annotate(s, None)
    assert TRIGGER_TIME_ANNOTATION not in s.metadata.annotations
