"""describe pod: containers (state, probes, environment, resources), pod templates, QoS."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Sequence

from apimachinery.quantity import QuantityError, parse_quantity
from apimachinery.tables.cells import NONE, age
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter, rfc1123z
from kubectl.verbs.describe.common import (
    LEVEL_0,
    LEVEL_1,
    LEVEL_2,
    LEVEL_3,
    annotations_multiline,
    bool_text,
    controlled_by,
    describe_events,
    go_bool,
    int_or_string,
    labels_multiline,
    tolerations_multiline,
)
from kubectl.verbs.describe.pod_volumes import container_env_from, container_mounts, pod_volumes
from protos import core_pb2


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
        container_env_from(container, w)
        _env(container, w)
        container_mounts(container, w)


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
    w.write(LEVEL_2, f"Ready:\t{bool_text(status.ready)}\n")
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
                             f"Optional: {go_bool(ref.optional)}\n")
        elif source.HasField("secret_key_ref"):
            ref = source.secret_key_ref
            w.write(LEVEL_3, f"{env.name}:\t<set to the key '{ref.key}' in secret '{ref.name}'>\t"
                             f"Optional: {go_bool(ref.optional)}\n")
        elif source.HasField("resource_field_ref"):
            w.write(LEVEL_3, f"{env.name}:\t{_resource_value(container, source.resource_field_ref)} "
                             f"({source.resource_field_ref.resource})\n")


def _resource_value(container: core_pb2.Container, ref: core_pb2.ResourceFieldSelector) -> str:
    """resourcehelper.ExtractContainerResourceValue over the divisor; "node allocatable" for an
    unset cpu or memory limit."""
    kind, _, resource = ref.resource.partition(".")
    values = container.resources.limits if kind == "limits" else container.resources.requests
    try:
        value = parse_quantity(values.get(resource) or "0")
        divisor = parse_quantity(ref.divisor or "1")
    except QuantityError:
        return ""
    if divisor <= 0:
        return ""
    if resource == "cpu":
        text = str(math.ceil(math.ceil(value * 1000) / (divisor * 1000)))
    else:
        text = str(math.ceil(value / divisor))
    if text == "0" and ref.resource in ("limits.cpu", "limits.memory"):
        return "node allocatable"
    return text


def describe_pod_template(template: core_pb2.PodTemplateSpec, w: PrefixWriter) -> None:
    """kubectl's DescribePodTemplate (Deployments, ReplicaSets, rollout history --revision)."""
    w.write(LEVEL_0, "Pod Template:\n")
    labels_multiline(w, "  Labels", template.metadata.labels)
    if template.metadata.annotations:
        annotations_multiline(w, "  Annotations", template.metadata.annotations)
    describe_containers("Containers", template.spec.containers, None, w, "  ")
    pod_volumes(template.spec.volumes, w, "  ")
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
            limit = amount(container.resources.limits.get(name))
            request = amount(container.resources.requests.get(name)) or limit
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


def amount(text: str | None) -> Decimal:
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
    pod_volumes(spec.volumes, w)
    w.write(LEVEL_0, f"QoS Class:\t{qos_class(pod)}\n")
    labels_multiline(w, "Node-Selectors", spec.node_selector)
    tolerations_multiline(w, "Tolerations", spec.tolerations)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()

