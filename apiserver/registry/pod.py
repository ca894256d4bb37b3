"""Pods: defaults (restartPolicy Always, imagePullPolicy by tag, grace 30 s), the
rules a PodSpec must follow (also used for Deployment and ReplicaSet templates),
and which parts of a Pod may change after creation."""

from __future__ import annotations

from apiserver.registry import validation as v
from apiserver.registry.pod_volumes import (default_volumes, validate_env_sources, validate_volume_mounts,
                                            validate_volumes)
from apiserver.registry.base import Strategy
from apimachinery.quantity import parse_quantity
from protos import core_pb2

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Where a Pod's resolv.conf comes from; ClusterFirst (the cluster DNS) is the default.
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
DEFAULT_GRACE_SECONDS = 30


def image_tag(image: str) -> str:
    """The tag of an image reference ("" when there is none or it is pinned by digest)."""
    if "@" in image:
        return "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def default_pull_policy(image: str) -> str:
    """Always for ":latest" or no tag, IfNotPresent otherwise (as Kubernetes does)."""
    return "Always" if image_tag(image) in ("", "latest") else "IfNotPresent"


def _default_probe(probe: core_pb2.Probe) -> None:
    probe.timeout_seconds = probe.timeout_seconds or 1
    probe.period_seconds = probe.period_seconds or 10
    probe.success_threshold = probe.success_threshold or 1
    probe.failure_threshold = probe.failure_threshold or 3
    if probe.HasField("http_get"):
        probe.http_get.path = probe.http_get.path or "/"
        probe.http_get.scheme = probe.http_get.scheme or "HTTP"


def default_pod_spec(spec: core_pb2.PodSpec) -> None:
    spec.restart_policy = spec.restart_policy or "Always"
    spec.scheduler_name = spec.scheduler_name or "default-scheduler"
    spec.dns_policy = spec.dns_policy or "ClusterFirst"
    if not spec.HasField("termination_grace_period_seconds"):
        spec.termination_grace_period_seconds = DEFAULT_GRACE_SECONDS
    for container in spec.containers:
        container.image_pull_policy = container.image_pull_policy or default_pull_policy(container.image)
        for port in container.ports:
            port.protocol = port.protocol or "TCP"
        for probe_name in ("liveness_probe", "readiness_probe"):
            if container.HasField(probe_name):
                _default_probe(getattr(container, probe_name))
    for toleration in spec.tolerations:
        toleration.operator = toleration.operator or "Equal"
    default_volumes(spec)


def _validate_probe(probe: core_pb2.Probe, path: str) -> list[v.FieldError]:
    handlers = [h for h in ("exec", "http_get", "tcp_socket") if probe.HasField(h)]
    errs: list[v.FieldError] = []
    if not handlers:
        errs.append(v.required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        errs.append(v.forbidden(path, "may not specify more than 1 handler type"))
    for name in ("initial_delay_seconds", "timeout_seconds", "period_seconds",
                 "success_threshold", "failure_threshold"):
        json_name = probe.DESCRIPTOR.fields_by_name[name].json_name
        errs += v.non_negative(f"{path}.{json_name}", getattr(probe, name))
    for handler, json_name in (("http_get", "httpGet"), ("tcp_socket", "tcpSocket")):
        if probe.HasField(handler):
            port = getattr(probe, handler).port
            if port.WhichOneof("value") is None:
                errs.append(v.required(f"{path}.{json_name}.port"))
            elif port.WhichOneof("value") == "int_val":
                errs += v.port_number(f"{path}.{json_name}.port", port.int_val)
    if probe.HasField("exec") and not probe.exec.command:
        errs.append(v.required(f"{path}.exec.command"))
    return errs


def _validate_container(c: core_pb2.Container, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if not c.name:
        errs.append(v.required(f"{path}.name"))
    else:
        errs += v.dns1123_label(f"{path}.name", c.name)
    if not c.image.strip():
        errs.append(v.required(f"{path}.image"))
    if c.image_pull_policy and c.image_pull_policy not in PULL_POLICIES:
        errs.append(v.unsupported(f"{path}.imagePullPolicy", c.image_pull_policy, PULL_POLICIES))
    for i, env in enumerate(c.env):
        errs += v.env_var_name(f"{path}.env[{i}].name", env.name)
    port_names: set[str] = set()
    for i, port in enumerate(c.ports):
        ppath = f"{path}.ports[{i}]"
        errs += v.port_number(f"{ppath}.containerPort", port.container_port)
        if port.host_port:
            errs += v.port_number(f"{ppath}.hostPort", port.host_port)
        if port.protocol and port.protocol not in PROTOCOLS:
            errs.append(v.unsupported(f"{ppath}.protocol", port.protocol, PROTOCOLS))
        if port.name:
            if port.name in port_names:
                errs.append(v.duplicate(f"{ppath}.name", port.name))
            port_names.add(port.name)
    for section in ("requests", "limits"):
        for resource, amount in getattr(c.resources, section).items():
            errs += v.quantity(f"{path}.resources.{section}[{resource}]", amount)
    if not errs:
        for resource, request in c.resources.requests.items():
            limit = c.resources.limits.get(resource)
            if limit is not None and parse_quantity(request) > parse_quantity(limit):
                errs.append(v.invalid(f"{path}.resources.requests", request,
                                      f"must be less than or equal to {resource} limit of {limit}"))
    for probe_name, json_name in (("liveness_probe", "livenessProbe"), ("readiness_probe", "readinessProbe")):
        if c.HasField(probe_name):
            errs += _validate_probe(getattr(c, probe_name), f"{path}.{json_name}")
    return errs


def validate_pod_spec(spec: core_pb2.PodSpec, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if not spec.containers:
        errs.append(v.required(f"{path}.containers"))
    names: set[str] = set()
    errs += validate_volumes(spec, f"{path}.volumes")
    volume_names = {volume.name for volume in spec.volumes}
    container_names = {container.name for container in spec.containers}
    for i, container in enumerate(spec.containers):
        errs += _validate_container(container, f"{path}.containers[{i}]")
        errs += validate_volume_mounts(container, f"{path}.containers[{i}].volumeMounts", volume_names)
        errs += validate_env_sources(container, f"{path}.containers[{i}]", container_names)
        if container.name in names:
            errs.append(v.duplicate(f"{path}.containers[{i}].name", container.name))
        names.add(container.name)
    if spec.restart_policy not in RESTART_POLICIES:
        errs.append(v.unsupported(f"{path}.restartPolicy", spec.restart_policy, RESTART_POLICIES))
    if spec.dns_policy not in DNS_POLICIES:
        errs.append(v.unsupported(f"{path}.dnsPolicy", spec.dns_policy, DNS_POLICIES))
    if spec.hostname:
        errs += v.dns1123_label(f"{path}.hostname", spec.hostname)
    if spec.subdomain:
        errs += v.dns1123_label(f"{path}.subdomain", spec.subdomain)
    if spec.node_name:
        errs += v.dns1123_subdomain(f"{path}.nodeName", spec.node_name)
    if spec.termination_grace_period_seconds < 0:
        errs += v.non_negative(f"{path}.terminationGracePeriodSeconds", spec.termination_grace_period_seconds)
    errs += v.labels(f"{path}.nodeSelector", spec.node_selector)
    for i, t in enumerate(spec.tolerations):
        tpath = f"{path}.tolerations[{i}]"
        if t.operator not in ("Equal", "Exists"):
            errs.append(v.unsupported(f"{tpath}.operator", t.operator, ("Equal", "Exists")))
        if t.operator == "Exists" and t.value:
            errs.append(v.invalid(f"{tpath}.operator", t.operator,
                                  "value must be empty when `operator` is 'Exists'"))
        if t.effect and t.effect not in TAINT_EFFECTS:
            errs.append(v.unsupported(f"{tpath}.effect", t.effect, TAINT_EFFECTS))
    return errs


def _spec_without_mutable_fields(spec: core_pb2.PodSpec) -> core_pb2.PodSpec:
    """The part of a PodSpec that may not change: all but container images and
    tolerations (which may only grow)."""
    frozen = core_pb2.PodSpec()
    frozen.CopyFrom(spec)
    for container in frozen.containers:
        container.image = ""
    del frozen.tolerations[:]
    return frozen


class PodStrategy(Strategy):
    kind = "Pod"

    def default(self, obj: core_pb2.Pod) -> None:
        default_pod_spec(obj.spec)

    def initial_status(self, obj: core_pb2.Pod) -> None:
        obj.status.phase = "Pending"

    def validate(self, obj: core_pb2.Pod) -> list[v.FieldError]:
        return validate_pod_spec(obj.spec, "spec")

    def validate_update(self, new: core_pb2.Pod, old: core_pb2.Pod) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        # nodeName is part of the frozen spec too: only Bind sets it.
        if _spec_without_mutable_fields(new.spec) != _spec_without_mutable_fields(old.spec):
            errs.append(v.forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`, "
                "`spec.tolerations` (only additions to existing tolerations)"))
        old_tolerations = list(old.spec.tolerations)
        if list(new.spec.tolerations)[: len(old_tolerations)] != old_tolerations:
            errs.append(v.forbidden("spec.tolerations", "existing toleration can not be modified"))
        return errs
