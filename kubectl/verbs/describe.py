"""``pykubectl describe TYPE [NAME_PREFIX]``: one object in words, with its Events.

    pykubectl describe pod web-7d4b9c-x7k2p
    pykubectl describe deploy/web
    pykubectl describe pods web        # every pod whose name starts with "web", like kubectl
    pykubectl describe nodes           # all of them

The layout is kubectl's describers (k8s.io/kubectl/pkg/describe): the same sections,
labels and column alignment (a Go tabwriter, reproduced by printers.tabbed), so what a
reader knows from Kubernetes reads the same here. Each object ends with the Events
whose involvedObject is that object, found with a field selector on the server.
"""

from __future__ import annotations

import argparse
import datetime
import re
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo, info_of, kind_info
from apimachinery.quantity import QuantityError, parse_quantity
from apimachinery.selectors import LabelSelector
from client.api import is_not_found
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.printers import (
    NONE,
    PrefixWriter,
    age,
    event_interval,
    format_selector,
    node_roles,
    rfc1123z,
)
from kubectl.resources import parse_resource_args
from kubectl.verbs.rollout.deployments import (
    desired_replicas,
    is_controlled_by,
    new_replica_set,
    old_replica_sets,
    replica_sets_of,
)
from kubectl.verbs.updating import get_object
from kubectl.watching import Query, list_objects
from protos import apps_pb2, coordination_pb2, core_pb2, meta_pb2

LEVEL_0, LEVEL_1, LEVEL_2, LEVEL_3 = 0, 1, 2, 3
MAX_ANNOTATION_LEN = 140
SKIP_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
NODE_LEASE_NAMESPACE = "kube-node-lease"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "describe", parents=[common], help="Show details of a specific resource or group of resources",
        description="Describe pods, deployments, replicasets, nodes (and other kinds generically), "
                    "with their events. A NAME that matches no object is taken as a name prefix.",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="pods, deploy/web, rs, nodes")
    parser.add_argument("names", nargs="*", metavar="NAME_PREFIX", help="names (or name prefixes)")
    parser.add_argument("-l", "--selector", default="", help="label selector, e.g. app=web")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="describe across all namespaces")
    parser.add_argument("--show-events", type=_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="end with the object's events (default true)")
    parser.set_defaults(run=run)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "t", "1"):
        return True
    if text.lower() in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{text}"')


# -------------------------------------------------------------------- verb


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.resource:
        raise CliError("You must specify the type of resource to describe. Use \"pykubectl api-resources\" "
                       "for a complete list of supported resources.")
    info, names = parse_resource_args(args.resource, args.names)
    namespace = "" if (args.all_namespaces or not info.namespaced) else ctx.namespace
    if names and (args.selector or args.all_namespaces):
        raise CliError("name cannot be provided when a selector is specified" if args.selector
                       else "a resource cannot be retrieved by name across all namespaces")
    if not names:
        objects, _ = list_objects(ctx.api, Query(info, namespace, args.selector))
        if not objects:
            ctx.warn(f"No resources found in {namespace} namespace." if namespace else "No resources found")
            return 0
        ctx.out.write("\n\n".join(describe(ctx, obj, args.show_events) for obj in objects))
        ctx.out.flush()
        return 0
    first = True
    for name in names:
        try:
            obj = get_object(ctx.api, info, namespace, name)
        except grpc.RpcError as err:
            if not is_not_found(err):
                raise
            _describe_matching(ctx, info, namespace, name, args.show_events, err)
            continue
        ctx.out.write(("" if first else "\n\n") + describe(ctx, obj, args.show_events))
        ctx.out.flush()
        first = False
    return 0


def _describe_matching(ctx: Context, info: KindInfo, namespace: str, prefix: str, show_events: bool,
                       not_found: grpc.RpcError) -> None:
    """kubectl describe's fallback: a name that is not an object is a prefix of names."""
    objects, _ = list_objects(ctx.api, Query(info, namespace))
    matching = [obj for obj in objects if obj.metadata.name.startswith(prefix)]
    if not matching:
        raise not_found
    for obj in matching:
        ctx.out.write(describe(ctx, obj, show_events) + "\n")
        ctx.out.flush()


def describe(ctx: Context, obj: Message, show_events: bool = True) -> str:
    """The describe text of one object (ends with a newline)."""
    describer = DESCRIBERS.get(info_of(obj).kind, describe_generic)
    events = find_events(ctx, obj) if show_events else None
    return describer(ctx, obj, events)


# ------------------------------------------------------------------ events


def find_events(ctx: Context, obj: Message) -> list[core_pb2.Event]:
    """Events about this very object: kubectl's Events(namespace).Search, a field selector
    on involvedObject name, namespace, kind and uid."""
    info = info_of(obj)
    meta = obj.metadata  # type: ignore[attr-defined]
    terms = [f"involvedObject.name={meta.name}", f"involvedObject.namespace={meta.namespace}",
             f"involvedObject.kind={info.kind}"]
    if meta.uid:
        terms.append(f"involvedObject.uid={meta.uid}")
    events, _ = list_objects(ctx.api, Query(kind_info("Event"), meta.namespace, field_selector=",".join(terms)))
    mine = [e for e in events if isinstance(e, core_pb2.Event) and _about(e, info.kind, meta)]
    return sorted(mine, key=_event_time)


def _about(event: core_pb2.Event, kind: str, meta: meta_pb2.ObjectMeta) -> bool:
    ref = event.involved_object
    return (ref.name == meta.name and ref.kind == kind and ref.namespace == meta.namespace
            and (not meta.uid or ref.uid == meta.uid))


def _event_time(event: core_pb2.Event) -> tuple[int, int]:
    stamp = event.last_timestamp if event.HasField("last_timestamp") else event.first_timestamp
    return stamp.seconds, stamp.nanos


def describe_events(events: Sequence[core_pb2.Event], w: PrefixWriter, now: datetime.datetime) -> None:
    """kubectl's DescribeEvents: ``Events:  <none>`` or a Type/Reason/Age/From/Message table."""
    if not events:
        w.write(LEVEL_0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(LEVEL_0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(LEVEL_1, "----\t------\t----\t----\t-------\n")
    for event in events:
        source = event.source.component or event.reporting_component
        w.write(LEVEL_1, f"{event.type}\t{event.reason}\t{event_interval(event, now)}\t{source}\t"
                         f"{event.message.strip()}\n")


# ------------------------------------------------------------- shared bits


def labels_multiline(w: PrefixWriter, title: str, labels: Mapping[str, str], initial_indent: str = "",
                     inner_indent: str = "\t") -> None:
    w.write(LEVEL_0, f"{initial_indent}{title}:{inner_indent}")
    if not labels:
        w.line(NONE)
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(LEVEL_0, initial_indent + inner_indent)
        w.write(LEVEL_0, f"{key}={labels[key]}\n")


def annotations_multiline(w: PrefixWriter, title: str, annotations: Mapping[str, str]) -> None:
    w.write(LEVEL_0, f"{title}:\t")
    keys = sorted(key for key in annotations if key not in SKIP_ANNOTATIONS)
    if not keys:
        w.line(NONE)
        return
    indent = "\t"
    for i, key in enumerate(keys):
        if i:
            w.write(LEVEL_0, indent)
        value = annotations[key].removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(LEVEL_0, f"{key}:\n")
            for part in value.split("\n"):
                w.write(LEVEL_0, f"{indent}  {_shorten(part, MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(LEVEL_0, f"{key}: {value}\n")


def _shorten(text: str, limit: int) -> str:
    return text[:limit] + "..." if len(text) > limit else text


def tolerations_multiline(w: PrefixWriter, title: str, tolerations: Iterable[core_pb2.Toleration],
                          initial_indent: str = "", inner_indent: str = "\t") -> None:
    w.write(LEVEL_0, f"{initial_indent}{title}:{inner_indent}")
    ordered = sorted(tolerations, key=lambda t: t.key)
    if not ordered:
        w.line(NONE)
        return
    for i, toleration in enumerate(ordered):
        if i:
            w.write(LEVEL_0, initial_indent + inner_indent)
        text = toleration.key
        if toleration.value:
            text += f"={toleration.value}"
        if toleration.effect:
            text += f":{toleration.effect}"
        if toleration.operator == "Exists" and not toleration.value:
            text += " op=Exists" if (toleration.key or toleration.effect) else "op=Exists"
        if toleration.HasField("toleration_seconds"):
            text += f" for {toleration.toleration_seconds}s"
        w.write(LEVEL_0, text + "\n")


def taint_text(taint: core_pb2.Taint) -> str:
    """``key=value:Effect`` or ``key:Effect`` (Taint.ToString)."""
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


def taints_multiline(w: PrefixWriter, title: str, taints: Iterable[core_pb2.Taint]) -> None:
    w.write(LEVEL_0, f"{title}:\t")
    ordered = sorted(taints, key=lambda t: f"{t.effect},{t.key}")
    if not ordered:
        w.line(NONE)
        return
    for i, taint in enumerate(ordered):
        if i:
            w.write(LEVEL_0, "\t")
        w.write(LEVEL_0, taint_text(taint) + "\n")


def controlled_by(obj: Any) -> str:
    """``ReplicaSet/web-7d4b9c``: the controller owner, as kubectl's printController."""
    for ref in obj.metadata.owner_references:
        if ref.controller:
            return f"{ref.kind}/{ref.name}"
    return ""


def int_or_string(value: meta_pb2.IntOrString) -> str:
    return str(value.int_val) if value.WhichOneof("value") == "int_val" else value.str_val


def _bool_text(value: bool) -> str:
    return "True" if value else "False"


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


# -------------------------------------------------------------- containers


def describe_containers(label: str, containers: Sequence[core_pb2.Container],
                        statuses: Sequence[core_pb2.ContainerStatus] | None, w: PrefixWriter,
                        space: str) -> None:
    by_name = {status.name: status for status in statuses or ()}
    w.write(LEVEL_0, f"{space}{label}:{'' if containers else ' <none>'}\n")
    for container in containers:
        status = by_name.get(container.name)
        _container_basics(container, status, w, space)
        _container_command(container, w)
        if status is not None:
            _container_state(status, w)
        _resources(container.resources, w, LEVEL_2)
        _probes(container, w)
        _env(container, w)
        w.write(LEVEL_2, "Mounts:\t<none>\n")


def _container_basics(container: core_pb2.Container, status: core_pb2.ContainerStatus | None, w: PrefixWriter,
                      space: str) -> None:
    w.write(LEVEL_1, f"{' ' if space else ''}{container.name}:\n")
    if status is not None:
        w.write(LEVEL_2, f"Container ID:\t{status.container_id}\n")
    w.write(LEVEL_2, f"Image:\t{container.image}\n")
    if status is not None:
        w.write(LEVEL_2, f"Image ID:\t{status.image_id}\n")
    ports = ", ".join(f"{p.container_port}/{p.protocol}" for p in container.ports)
    host_ports = ", ".join(f"{p.host_port}/{p.protocol}" for p in container.ports)
    w.write(LEVEL_2, f"Ports:\t{ports}\n" if "," in ports else f"Port:\t{ports or NONE}\n")
    w.write(LEVEL_2, f"Host Ports:\t{host_ports}\n" if "," in host_ports else f"Host Port:\t{host_ports or NONE}\n")


def _container_command(container: core_pb2.Container, w: PrefixWriter) -> None:
    for title, words in (("Command", container.command), ("Args", container.args)):
        if words:
            w.write(LEVEL_2, f"{title}:\n")
            for word in words:
                for part in word.split("\n"):
                    w.write(LEVEL_3, f"{part}\n")


def _container_state(status: core_pb2.ContainerStatus, w: PrefixWriter) -> None:
    _state("State", status.state, w)
    if status.last_state.HasField("terminated"):
        _state("Last State", status.last_state, w)
    w.write(LEVEL_2, f"Ready:\t{_bool_text(status.ready)}\n")
    w.write(LEVEL_2, f"Restart Count:\t{status.restart_count}\n")


def _state(title: str, state: core_pb2.ContainerState, w: PrefixWriter) -> None:
    if state.HasField("running"):
        w.write(LEVEL_2, f"{title}:\tRunning\n")
        w.write(LEVEL_3, f"Started:\t{rfc1123z(state.running.started_at)}\n")
    elif state.HasField("waiting"):
        w.write(LEVEL_2, f"{title}:\tWaiting\n")
        if state.waiting.reason:
            w.write(LEVEL_3, f"Reason:\t{state.waiting.reason}\n")
    elif state.HasField("terminated"):
        done = state.terminated
        w.write(LEVEL_2, f"{title}:\tTerminated\n")
        if done.reason:
            w.write(LEVEL_3, f"Reason:\t{done.reason}\n")
        if done.message:
            w.write(LEVEL_3, f"Message:\t{done.message}\n")
        w.write(LEVEL_3, f"Exit Code:\t{done.exit_code}\n")
        if done.signal > 0:
            w.write(LEVEL_3, f"Signal:\t{done.signal}\n")
        w.write(LEVEL_3, f"Started:\t{rfc1123z(done.started_at)}\n")
        w.write(LEVEL_3, f"Finished:\t{rfc1123z(done.finished_at)}\n")
    else:
        w.write(LEVEL_2, f"{title}:\tWaiting\n")


def _resources(resources: core_pb2.ResourceRequirements, w: PrefixWriter, level: int) -> None:
    for title, amounts in (("Limits", resources.limits), ("Requests", resources.requests)):
        if amounts:
            w.write(level, f"{title}:\n")
            for name in sorted(amounts):
                w.write(level + 1, f"{name}:\t{amounts[name]}\n")


def describe_probe(probe: core_pb2.Probe) -> str:
    """kubectl's DescribeProbe: ``http-get http://:8080/healthz delay=0s timeout=1s ...``."""
    attrs = (f"delay={probe.initial_delay_seconds}s timeout={probe.timeout_seconds}s "
             f"period={probe.period_seconds}s #success={probe.success_threshold} "
             f"#failure={probe.failure_threshold}")
    if probe.HasField("exec"):
        return f"exec [{' '.join(probe.exec.command)}] {attrs}"
    if probe.HasField("http_get"):
        get = probe.http_get
        port = int_or_string(get.port)
        host = f"[{get.host}]" if ":" in get.host else get.host
        scheme = (get.scheme or "HTTP").lower()
        return f"http-get {scheme}://{host}{':' + port if port else ''}{get.path} {attrs}"
    if probe.HasField("tcp_socket"):
        return f"tcp-socket {probe.tcp_socket.host}:{int_or_string(probe.tcp_socket.port)} {attrs}"
    return f"unknown {attrs}"


def _probes(container: core_pb2.Container, w: PrefixWriter) -> None:
    if container.HasField("liveness_probe"):
        w.write(LEVEL_2, f"Liveness:\t{describe_probe(container.liveness_probe)}\n")
    if container.HasField("readiness_probe"):
        w.write(LEVEL_2, f"Readiness:\t{describe_probe(container.readiness_probe)}\n")


def _env(container: core_pb2.Container, w: PrefixWriter) -> None:
    w.write(LEVEL_2, "Environment:" + ("" if container.env else "\t<none>") + "\n")
    for env in container.env:
        if not env.HasField("value_from"):
            for i, part in enumerate(env.value.split("\n")):
                w.write(LEVEL_3, f"{env.name}:\t{part}\n" if i == 0 else f"\t{part}\n")
            continue
        source = env.value_from
        if source.HasField("field_ref"):
            ref = source.field_ref
            w.write(LEVEL_3, f"{env.name}:\t ({ref.api_version}:{ref.field_path})\n")
        elif source.HasField("config_map_key_ref"):
            ref = source.config_map_key_ref
            w.write(LEVEL_3, f"{env.name}:\t<set to the key '{ref.key}' of config map '{ref.name}'>\t"
                             f"Optional: {_go_bool(ref.optional)}\n")
        elif source.HasField("secret_key_ref"):
            ref = source.secret_key_ref
            w.write(LEVEL_3, f"{env.name}:\t<set to the key '{ref.key}' in secret '{ref.name}'>\t"
                             f"Optional: {_go_bool(ref.optional)}\n")


def describe_pod_template(template: core_pb2.PodTemplateSpec, w: PrefixWriter) -> None:
    """kubectl's DescribePodTemplate (Deployments, ReplicaSets, rollout history --revision)."""
    w.write(LEVEL_0, "Pod Template:\n")
    labels_multiline(w, "  Labels", template.metadata.labels)
    if template.metadata.annotations:
        annotations_multiline(w, "  Annotations", template.metadata.annotations)
    describe_containers("Containers", template.spec.containers, None, w, "  ")
    w.write(LEVEL_0, "  Volumes:\t<none>\n")
    labels_multiline(w, "  Node-Selectors", template.spec.node_selector)
    tolerations_multiline(w, "  Tolerations", template.spec.tolerations)


# -------------------------------------------------------------------- pods


def qos_class(pod: core_pb2.Pod) -> str:
    """Guaranteed, Burstable or BestEffort, from cpu/memory requests and limits (GetPodQOS).

    A request left out defaults to its limit, as the Kubernetes API defaults it.
    """
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in pod.spec.containers:
        found_limits = set()
        for name in ("cpu", "memory"):
            limit = _amount(container.resources.limits.get(name))
            request = _amount(container.resources.requests.get(name)) or limit
            if request:
                requests[name] = requests.get(name, Decimal(0)) + request
            if limit:
                limits[name] = limits.get(name, Decimal(0)) + limit
                found_limits.add(name)
        if found_limits != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _amount(text: str | None) -> Decimal:
    if not text:
        return Decimal(0)
    try:
        return parse_quantity(text)
    except QuantityError:
        return Decimal(0)


def describe_pod(ctx: Context, pod: core_pb2.Pod, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = pod.metadata, pod.spec, pod.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"Node:\t{spec.node_name}/{status.host_ip}\n" if spec.node_name else "Node:\t<none>\n")
    if status.HasField("start_time"):
        w.write(LEVEL_0, f"Start Time:\t{rfc1123z(status.start_time)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    if meta.HasField("deletion_timestamp") and status.phase not in ("Failed", "Succeeded"):
        w.write(LEVEL_0, f"Status:\tTerminating (lasts {age(meta.deletion_timestamp, ctx.now())})\n")
        w.write(LEVEL_0, f"Termination Grace Period:\t{meta.deletion_grace_period_seconds}s\n")
    else:
        w.write(LEVEL_0, f"Status:\t{status.phase}\n")
    if status.reason:
        w.write(LEVEL_0, f"Reason:\t{status.reason}\n")
    if status.message:
        w.write(LEVEL_0, f"Message:\t{status.message}\n")
    w.write(LEVEL_0, f"IP:\t{status.pod_ip}\n")
    if status.pod_ips:
        w.write(LEVEL_0, "IPs:\n")
        for ip in status.pod_ips:
            w.write(LEVEL_1, f"IP:\t{ip.ip}\n")
    else:
        w.write(LEVEL_0, "IPs:\t<none>\n")
    owner = controlled_by(pod)
    if owner:
        w.write(LEVEL_0, f"Controlled By:\t{owner}\n")
    describe_containers("Containers", spec.containers, status.container_statuses, w, "")
    if status.conditions:
        w.write(LEVEL_0, "Conditions:\n  Type\tStatus\n")
        for c in status.conditions:
            w.write(LEVEL_1, f"{c.type} \t{c.status} \n")
    w.write(LEVEL_0, "Volumes:\t<none>\n")
    w.write(LEVEL_0, f"QoS Class:\t{qos_class(pod)}\n")
    labels_multiline(w, "Node-Selectors", spec.node_selector)
    tolerations_multiline(w, "Tolerations", spec.tolerations)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


# --------------------------------------------------------------- workloads


def _conditions_table(conditions: Sequence[meta_pb2.Condition], w: PrefixWriter) -> None:
    if conditions:
        w.write(LEVEL_0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(LEVEL_1, "----\t------\t------\n")
        for c in conditions:
            w.write(LEVEL_1, f"{c.type} \t{c.status}\t{c.reason}\n")


def replica_sets_text(replica_sets: Sequence[apps_pb2.ReplicaSet]) -> str:
    """``web-7d4b9c (4/4 replicas created)``, comma-separated, or ``<none>``."""
    return ", ".join(f"{rs.metadata.name} ({rs.status.replicas}/{desired_replicas(rs)} replicas created)"
                     for rs in replica_sets) or NONE


def describe_deployment(ctx: Context, deployment: apps_pb2.Deployment,
                        events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"CreationTimestamp:\t{rfc1123z(meta.creation_timestamp)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    w.write(LEVEL_0, f"Replicas:\t{desired_replicas(deployment)} desired | {status.updated_replicas} updated | "
                     f"{status.replicas} total | {status.available_replicas} available | "
                     f"{status.unavailable_replicas} unavailable\n")
    w.write(LEVEL_0, f"StrategyType:\t{spec.strategy.type}\n")
    w.write(LEVEL_0, f"MinReadySeconds:\t{spec.min_ready_seconds}\n")
    if spec.strategy.HasField("rolling_update"):
        rolling = spec.strategy.rolling_update
        w.write(LEVEL_0, f"RollingUpdateStrategy:\t{int_or_string(rolling.max_unavailable)} max unavailable, "
                         f"{int_or_string(rolling.max_surge)} max surge\n")
    describe_pod_template(spec.template, w)
    _conditions_table(status.conditions, w)
    replica_sets = replica_sets_of(ctx.api, deployment)
    new = new_replica_set(deployment, replica_sets)
    w.write(LEVEL_0, f"OldReplicaSets:\t{replica_sets_text(old_replica_sets(deployment, replica_sets))}\n")
    w.write(LEVEL_0, f"NewReplicaSet:\t{replica_sets_text([new] if new else [])}\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def pods_status_counts(pods: Iterable[core_pb2.Pod]) -> tuple[int, int, int, int]:
    """(running, waiting, succeeded, failed) by phase; Pending counts as waiting."""
    phases = [pod.status.phase or "Pending" for pod in pods]
    return (phases.count("Running"), phases.count("Pending"), phases.count("Succeeded"), phases.count("Failed"))


def describe_replica_set(ctx: Context, rs: apps_pb2.ReplicaSet, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = rs.metadata, rs.spec, rs.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    owner = controlled_by(rs)
    if owner:
        w.write(LEVEL_0, f"Controlled By:\t{owner}\n")
    w.write(LEVEL_0, f"Replicas:\t{status.replicas} current / {desired_replicas(rs)} desired\n")
    running, waiting, succeeded, failed = pods_status_counts(_pods_of(ctx, rs))
    w.write(LEVEL_0, f"Pods Status:\t{running} Running / {waiting} Waiting / {succeeded} Succeeded / "
                     f"{failed} Failed\n")
    describe_pod_template(spec.template, w)
    _conditions_table(status.conditions, w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def _pods_of(ctx: Context, rs: apps_pb2.ReplicaSet) -> list[core_pb2.Pod]:
    selector = LabelSelector.from_proto(rs.spec.selector)
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), rs.metadata.namespace, str(selector)))
    return [pod for pod in pods if selector.matches(pod.metadata.labels) and is_controlled_by(pod, rs)]


# ------------------------------------------------------------------- nodes


def _millis_text(millis: int) -> str:
    """A cpu amount as Kubernetes canonicalises it: ``0``, ``250m``, ``2``."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _bytes_text(amount: int) -> str:
    """A memory amount: ``0``, ``64Mi``, ``100M``, ``1500``."""
    if amount == 0:
        return "0"
    for suffix, size in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if amount % size == 0:
            return f"{amount // size}{suffix}"
    for suffix, size in (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)


def pod_requests_and_limits(pod: core_pb2.Pod) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    for container in pod.spec.containers:
        for name, text in container.resources.requests.items():
            requests[name] = requests.get(name, Decimal(0)) + _amount(text)
        for name, text in container.resources.limits.items():
            limits[name] = limits.get(name, Decimal(0)) + _amount(text)
    return requests, limits


def _percent(part: Decimal, whole: Decimal) -> int:
    return int(part / whole * 100) if whole else 0


def _resource_cells(amounts: Mapping[str, Decimal], allocatable: Mapping[str, Decimal]) -> tuple[str, str]:
    cpu = amounts.get("cpu", Decimal(0))
    memory = amounts.get("memory", Decimal(0))
    cpu_millis = int((cpu * 1000).to_integral_value(rounding="ROUND_CEILING"))
    memory_bytes = int(memory.to_integral_value(rounding="ROUND_CEILING"))
    return (f"{_millis_text(cpu_millis)} ({_percent(cpu, allocatable.get('cpu', Decimal(0)))}%)",
            f"{_bytes_text(memory_bytes)} ({_percent(memory, allocatable.get('memory', Decimal(0)))}%)")


def describe_node_resources(pods: Sequence[core_pb2.Pod], node: core_pb2.Node, now: datetime.datetime,
                            w: PrefixWriter) -> None:
    """The Non-terminated Pods table and the Allocated resources summary."""
    source = node.status.allocatable or node.status.capacity
    allocatable = {name: _amount(text) for name, text in source.items()}
    w.write(LEVEL_0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(LEVEL_1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(LEVEL_1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    total_requests: dict[str, Decimal] = {}
    total_limits: dict[str, Decimal] = {}
    for pod in pods:
        requests, limits = pod_requests_and_limits(pod)
        for name, value in requests.items():
            total_requests[name] = total_requests.get(name, Decimal(0)) + value
        for name, value in limits.items():
            total_limits[name] = total_limits.get(name, Decimal(0)) + value
        cpu_request, memory_request = _resource_cells(requests, allocatable)
        cpu_limit, memory_limit = _resource_cells(limits, allocatable)
        w.write(LEVEL_1, f"{pod.metadata.namespace}\t{pod.metadata.name}\t\t{cpu_request}\t{cpu_limit}\t"
                         f"{memory_request}\t{memory_limit}\t{age(pod.metadata.creation_timestamp, now)}\n")
    w.write(LEVEL_0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    w.write(LEVEL_1, "Resource\tRequests\tLimits\n")
    w.write(LEVEL_1, "--------\t--------\t------\n")
    cpu_requests, memory_requests = _resource_cells(total_requests, allocatable)
    cpu_limits, memory_limits = _resource_cells(total_limits, allocatable)
    w.write(LEVEL_1, f"cpu\t{cpu_requests}\t{cpu_limits}\n")
    w.write(LEVEL_1, f"memory\t{memory_requests}\t{memory_limits}\n")


def _node_lease(ctx: Context, node: core_pb2.Node) -> coordination_pb2.Lease | None:
    try:
        lease = get_object(ctx.api, kind_info("Lease"), NODE_LEASE_NAMESPACE, node.metadata.name)
    except grpc.RpcError as err:
        if is_not_found(err):
            return None
        raise
    return lease if isinstance(lease, coordination_pb2.Lease) else None


def _stamp_or_unset(lease: coordination_pb2.Lease | None, field: str) -> str:
    if lease is None or not lease.spec.HasField(field):
        return "<unset>"
    return rfc1123z(getattr(lease.spec, field))


def describe_node(ctx: Context, node: core_pb2.Node, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = node.metadata, node.spec, node.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Roles:\t{node_roles(node)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"CreationTimestamp:\t{rfc1123z(meta.creation_timestamp)}\n")
    taints_multiline(w, "Taints", spec.taints)
    w.write(LEVEL_0, f"Unschedulable:\t{_go_bool(spec.unschedulable)}\n")
    lease = _node_lease(ctx, node)
    w.write(LEVEL_0, "Lease:\n")
    w.write(LEVEL_1, f"HolderIdentity:\t{lease.spec.holder_identity if lease and lease.spec.holder_identity else '<unset>'}\n")
    w.write(LEVEL_1, f"AcquireTime:\t{_stamp_or_unset(lease, 'acquire_time')}\n")
    w.write(LEVEL_1, f"RenewTime:\t{_stamp_or_unset(lease, 'renew_time')}\n")
    if status.conditions:
        w.write(LEVEL_0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(LEVEL_1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in status.conditions:
            w.write(LEVEL_1, f"{c.type} \t{c.status} \t{rfc1123z(c.last_heartbeat_time)} \t"
                             f"{rfc1123z(c.last_transition_time)} \t{c.reason} \t{c.message}\n")
    w.write(LEVEL_0, "Addresses:\n")
    for address in status.addresses:
        w.write(LEVEL_1, f"{address.type}:\t{address.address}\n")
    for title, amounts in (("Capacity", status.capacity), ("Allocatable", status.allocatable)):
        if amounts:
            w.write(LEVEL_0, f"{title}:\n")
            for name in sorted(amounts):
                w.write(LEVEL_0, f"  {name}:\t{amounts[name]}\n")
    info = status.node_info
    w.write(LEVEL_0, "System Info:\n")
    for title, value in (("Machine ID", info.machine_id), ("System UUID", info.system_uuid),
                         ("Boot ID", info.boot_id), ("Kernel Version", info.kernel_version),
                         ("OS Image", info.os_image), ("Operating System", info.operating_system),
                         ("Architecture", info.architecture),
                         ("Container Runtime Version", info.container_runtime_version),
                         ("Kubelet Version", info.kubelet_version)):
        w.write(LEVEL_0, f"  {title}:\t{value}\n")
    if spec.pod_cidr:
        w.write(LEVEL_0, f"PodCIDR:\t{spec.pod_cidr}\n")
    if spec.provider_id:
        w.write(LEVEL_0, f"ProviderID:\t{spec.provider_id}\n")
    describe_node_resources(_non_terminated_pods(ctx, node), node, ctx.now(), w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def _non_terminated_pods(ctx: Context, node: core_pb2.Node) -> list[core_pb2.Pod]:
    name = node.metadata.name
    selector = f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), "", field_selector=selector))
    return [pod for pod in pods
            if pod.spec.node_name == name and pod.status.phase not in ("Succeeded", "Failed")]


# --------------------------------------------------------- other kinds


def describe_namespace(ctx: Context, namespace: core_pb2.Namespace, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    w.write(LEVEL_0, f"Name:\t{namespace.metadata.name}\n")
    labels_multiline(w, "Labels", namespace.metadata.labels)
    annotations_multiline(w, "Annotations", namespace.metadata.annotations)
    w.write(LEVEL_0, f"Status:\t{namespace.status.phase}\n")
    w.write(LEVEL_0, "\nNo resource quota.\n")
    w.write(LEVEL_0, "\nNo LimitRange resource.\n")
    return w.text()


_ACRONYMS = {"api": "API", "id": "ID", "ip": "IP", "ips": "IPs", "uid": "UID", "url": "URL", "cidr": "CIDR",
             "uuid": "UUID", "tls": "TLS", "dns": "DNS", "http": "HTTP", "tcp": "TCP"}


def smart_label(field: str) -> str:
    """``holderIdentity`` → ``Holder Identity``, ``podIP`` → ``Pod IP`` (kubectl's smartLabelFor)."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", field) or [field]
    return " ".join(_ACRONYMS.get(word.lower(), word[:1].upper() + word[1:]) for word in words)


_GENERIC_SKIP = (".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations")


def _unstructured(w: PrefixWriter, level: int, content: Mapping[str, Any], prefix: str) -> None:
    for field in sorted(content):
        value = content[field]
        path = f"{prefix}.{field}"
        if path in _GENERIC_SKIP:
            continue
        if isinstance(value, dict):
            w.write(level, f"{smart_label(field)}:\n")
            _unstructured(w, level + 1, value, path)
        elif isinstance(value, list):
            w.write(level, f"{smart_label(field)}:\n")
            for child in value:
                if isinstance(child, dict):
                    _unstructured(w, level + 1, child, path)
                else:
                    w.write(level + 1, f"{child}\n")
        else:
            if isinstance(value, bool):
                value = _go_bool(value)
            w.write(level, f"{smart_label(field)}:\t{value}\n")


def describe_generic(ctx: Context, obj: Message, events: Sequence[core_pb2.Event] | None) -> str:
    """kubectl's generic describer: the fields of the object, nested, with readable labels."""
    w = PrefixWriter()
    meta = obj.metadata  # type: ignore[attr-defined]
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    _unstructured(w, LEVEL_0, to_dict(obj), "")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


Describer = Callable[[Context, Any, Sequence[core_pb2.Event] | None], str]
DESCRIBERS: dict[str, Describer] = {
    "Pod": describe_pod,
    "Deployment": describe_deployment,
    "ReplicaSet": describe_replica_set,
    "Node": describe_node,
    "Namespace": describe_namespace,
}
