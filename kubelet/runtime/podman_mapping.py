"""Podman's words → the runtime's words: pure functions, no service needed (unit-tested).

What a Podman inspect, list entry or event line means for the CRI-shaped types of
``kubelet.runtime``: container states and their reasons (OOMKilled, Completed, Error,
StartError), RFC 3339 timestamps with nanoseconds, event lines worth passing on, Podman's own
error words out of an API error, and the other way: the ``containers.create`` arguments for a
Pod's container (Kubernetes' command/args semantics, resources as the kubelet sets them, the
labels a restarted kubelet re-adopts by). ``podman.py`` (the adapter) only moves these over HTTP.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import platform
import re
import resource
import socket
import time
from datetime import datetime, timezone
from typing import Any

from podman.errors import APIError

from kubelet.runtime import (
    CREATED,
    EXITED,
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    RUNNING,
    UNKNOWN,
    ContainerEvent,
    ContainerSpec,
    ContainerStatus,
    DNSConfig,
    Mount,
    RuntimeInfo,
    Sandbox,
    SandboxSpec,
)

# Podman's container event actions passed on, the ones where a container's CRI state changes
# (the fake runtime sends the same). Others ("create", "init", "kill", "cleanup", "exec",
# "exec_died", "attach", ...) say nothing the kubelet does not know already, and exec probes
# would otherwise wake the PLEG every few seconds per container.
LIFECYCLE_ACTIONS = frozenset({"start", "died", "remove", "oom"})

# Podman's container states (libpod's define.ContainerStatus) as the CRI names them.
STATES = {
    "configured": CREATED,  # created in the database, not yet in the OCI runtime
    "created": CREATED,
    "initialized": CREATED,
    "running": RUNNING,
    "paused": RUNNING,  # the CRI has no paused; the process is still there
    "stopping": RUNNING,  # SIGTERM sent, not dead yet
    "stopped": EXITED,
    "exited": EXITED,
}

_CAP_SYS_RESOURCE = 24


def default_ulimits(nofile_cap: int = 1 << 20, nproc_cap: int = 32768) -> list[dict[str, Any]] | None:
    """Explicit nofile/nproc limits for every container, or None where Podman's own are fine.

    Without limits from the caller (or ``default_ulimits`` in containers.conf) rootful Podman
    raises RLIMIT_NOFILE/NPROC of each container to high defaults. Raising a hard limit above
    the one the OCI runtime inherits needs CAP_SYS_RESOURCE, which unprivileged containers and
    some CI sandboxes lack: there runc fails with "error setting rlimit type 6/7: operation not
    permitted". Then we ask for no more than our own hard limits, and for nproc no more than
    32768: Podman 4.3's service process runs with RLIMIT_NPROC 32768 whatever it inherited, so
    its containers cannot get more (seen on a host whose own nproc limit was 96365).

    API ulimits *replace* Podman's defaults, so both are always given. The sandbox's infra
    container cannot get limits through the API (Podman 4.3's pod create has no field for it):
    on such hosts containers.conf must carry ``default_ulimits`` as well.
    """
    if _has_capability(_CAP_SYS_RESOURCE):
        return None
    out = []
    for name, which, cap in (("nofile", resource.RLIMIT_NOFILE, nofile_cap),
                             ("nproc", resource.RLIMIT_NPROC, nproc_cap)):
        hard = resource.getrlimit(which)[1]
        value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        out.append({"Name": name, "Soft": value, "Hard": value})
    return out


def _has_capability(bit: int) -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except OSError:
        pass
    return True  # unknown (not Linux): assume Podman's defaults work


# --------------------------------------------------------------------------- parsing helpers

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def parse_time(value: str | None) -> float | None:
    """Podman's RFC 3339 timestamps (nanoseconds, any offset) as epoch seconds.

    Go's zero time (``0001-01-01T00:00:00Z``) means "never" and becomes None. Python's
    ``fromisoformat`` only takes microseconds, so the fraction is handled apart.
    """
    if not value or value.startswith("0001-01-01"):
        return None
    m = _TIMESTAMP.match(value.strip())
    if m is None:
        return None
    offset = m[3] or "Z"
    if offset == "Z":
        offset = "+00:00"
    elif ":" not in offset:
        offset = offset[:3] + ":" + offset[3:]
    base = datetime.fromisoformat(m[1] + offset)
    if base.tzinfo is None:  # pragma: no cover - the regex always gives an offset
        base = base.replace(tzinfo=timezone.utc)
    return base.timestamp() + (float("0." + m[2]) if m[2] else 0.0)


def full_image_id(raw: str | None) -> str:
    if not raw:
        return ""
    return raw if raw.startswith("sha256:") else f"sha256:{raw}"


def ip_of(network_settings: dict[str, Any] | None) -> str:
    """The infra container's address: the default network's, else the first network's."""
    settings = network_settings or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for net in (settings.get("Networks") or {}).values():
        if net and net.get("IPAddress"):
            return net["IPAddress"]
    for net in (settings.get("Networks") or {}).values():
        if net and net.get("GlobalIPv6Address"):
            return net["GlobalIPv6Address"]
    return ""


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def status_from_inspect(attrs: dict[str, Any]) -> ContainerStatus:
    """A ContainerStatus from ``GET /containers/{id}/json`` (podman inspect), labels included.

    Reason follows the kubelet's words for a terminated container: OOMKilled when the kernel
    killed it for memory, Completed for exit 0, Error otherwise; StartError when the OCI runtime
    could not even start the process (bad command, missing binary): then Podman records the
    runtime's error and the container never ran.
    """
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    cri_state = STATES.get(str(state.get("Status", "")).lower(), UNKNOWN)
    exit_code = as_int(state.get("ExitCode"))
    started_at = parse_time(state.get("StartedAt"))
    finished_at = parse_time(state.get("FinishedAt"))
    error = state.get("Error") or ""
    reason = ""
    if cri_state == EXITED:
        if state.get("OOMKilled"):
            reason = "OOMKilled"
        elif error and started_at is None:
            reason = "StartError"
        elif exit_code == 0:
            reason = "Completed"
        else:
            reason = "Error"
    elif cri_state == CREATED and error:
        reason = "StartError"
    return ContainerStatus(
        id=attrs.get("Id", ""),
        pod_uid=labels.get(LABEL_POD_UID, ""),
        pod_name=labels.get(LABEL_POD_NAME, ""),
        pod_namespace=labels.get(LABEL_POD_NAMESPACE, ""),
        name=labels.get(LABEL_CONTAINER_NAME, ""),
        attempt=as_int(labels.get(LABEL_ATTEMPT)),
        image=attrs.get("ImageName") or config.get("Image") or "",
        image_id=full_image_id(attrs.get("Image")),
        state=cri_state,
        exit_code=exit_code if cri_state == EXITED else 0,
        started_at=started_at,
        finished_at=finished_at if cri_state == EXITED else None,
        reason=reason,
        message=error,
    )


def sandbox_from(pod_id: str, pod: dict[str, Any], infra: dict[str, Any] | None) -> Sandbox:
    """A Sandbox from a Podman pod (inspect or list entry) and its infra container's inspect:
    ready while the infra container runs, and then its address is the Pod IP."""
    labels = pod.get("Labels") or {}
    ready = infra is not None and bool((infra.get("State") or {}).get("Running"))
    return Sandbox(
        id=pod.get("Id") or pod_id,
        pod_uid=labels.get(LABEL_POD_UID, ""),
        pod_name=labels.get(LABEL_POD_NAME, ""),
        pod_namespace=labels.get(LABEL_POD_NAMESPACE, ""),
        ip=ip_of(infra.get("NetworkSettings")) if infra is not None and ready else "",
        ready=ready,
    )


def event_from_podman(raw: dict[str, Any]) -> ContainerEvent | None:
    """A ContainerEvent from one line of ``GET /events``, or None when it is not ours/not news.

    Podman copies a container's labels into the event's ``Actor.Attributes``, which is how we
    learn the Pod uid and container name without asking. Infra containers carry the pod's labels
    but no container name: they are the sandbox, not a container, and are skipped.
    """
    if raw.get("Type", raw.get("type")) != "container":
        return None
    action = raw.get("Action") or raw.get("status") or raw.get("Status") or ""
    if action not in LIFECYCLE_ACTIONS:
        return None
    actor = raw.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    name = attrs.get(LABEL_CONTAINER_NAME)
    if not name:
        return None
    nanos = raw.get("timeNano")
    when = nanos / 1e9 if isinstance(nanos, (int, float)) else float(raw.get("time") or time.time())
    return ContainerEvent(
        container_id=actor.get("ID") or raw.get("id") or "",
        pod_uid=attrs.get(LABEL_POD_UID, ""),
        container_name=name,
        type=action,
        time=when,
    )


def error_message(err: BaseException) -> str:
    """Podman's own words for an API error (its ``message``), not requests' status line.

    Pod operations answer ``{"Errs": [...], "Id": ...}`` instead of ``{"message": ...}``;
    podman-py then passes the whole body along, so the list is unpacked here.
    """
    if isinstance(err, APIError):
        explanation = getattr(err, "explanation", None)
        if explanation:
            text = str(explanation).strip()
            if text.startswith("{"):
                try:
                    body = json.loads(text)
                except ValueError:
                    return text
                errs = [str(e) for e in (body.get("Errs") or []) if e]
                if errs:
                    return "; ".join(errs)
                return str(body.get("message") or body.get("cause") or text)
            return text
    return str(err).strip() or type(err).__name__


def is_state_error(err: APIError) -> bool:
    text = error_message(err)
    return "state improper" in text or "not running" in text or "is not running" in text

def runtime_info(version: dict[str, Any], host: dict[str, Any]) -> RuntimeInfo:
    """The node's RuntimeInfo from ``GET /version`` and ``GET /info``'s ``host``; the machine's
    own words (os-release, /proc/meminfo) where Podman says nothing."""
    dist = host.get("distribution") or {}
    os_name = os_release_pretty() or " ".join(
        filter(None, (dist.get("distribution"), dist.get("version")))) or platform.system()
    arch = host.get("arch") or {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return RuntimeInfo(
        name="podman",
        version=str(version.get("Version") or (version.get("Components") or [{}])[0].get("Version", "")),
        os=os_name,
        kernel=host.get("kernel") or platform.release(),
        architecture=arch,
        cpus=as_int(host.get("cpus")) or os.cpu_count() or 1,
        memory_bytes=as_int(host.get("memTotal")) or meminfo_total(),
        hostname=host.get("hostname") or socket.gethostname(),
    )


def pull_outcome(progress: str) -> tuple[str | None, str | None]:
    """(image id, error) from ``POST /images/pull``'s progress lines: the last one carries ``id``
    on success or ``error`` with the registry's (or network's) words on failure."""
    image_id, error = None, None
    for line in progress.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if item.get("error"):
            error = str(item["error"]).strip()
        if item.get("id"):
            image_id = item["id"]
        elif item.get("images"):
            image_id = item["images"][0]
    return image_id, error


# --------------------------------------------------------------------------- runtime → Podman


def owned_by(labels: dict[str, str] | None, node_name: str) -> bool:
    """Made by pykube for this node: managed, and no other node's name on it.

    Podman filters on ``managed`` only: a pykube container without a node label (an orphan
    from an older kubelet, or made by hand) is this node's to adopt or clean up, as in
    Kubernetes, where everything the node's runtime holds with kubelet labels is the
    kubelet's. Only another node's label (two kubelets sharing one Podman) excludes it.
    """
    labels = labels or {}
    return labels.get(LABEL_MANAGED) == "true" and labels.get(LABEL_NODE, node_name) in ("", node_name)


def start_failed(status: ContainerStatus, message: str, when: float) -> ContainerStatus:
    """A container the OCI runtime refused to start, as the CRI reports it: exited with 128,
    StartError. (Podman 4.3 leaves it "created" with no error recorded.)"""
    return dataclasses.replace(status, state=EXITED, exit_code=128, reason="StartError", message=message,
                               finished_at=when)


def sandbox_labels(spec: SandboxSpec, node_name: str) -> dict[str, str]:
    """The labels of a Pod's sandbox: the Pod's own, and what a restarted kubelet re-adopts by."""
    return {
        **spec.labels,
        LABEL_MANAGED: "true",
        LABEL_NODE: node_name,
        LABEL_POD_UID: spec.pod_uid,
        LABEL_POD_NAME: spec.pod_name,
        LABEL_POD_NAMESPACE: spec.pod_namespace,
    }


# The Podman network every sandbox joins: a bridge whose subnet is the node's podCIDR.
POD_NETWORK = "pykube"


def pod_network_body(pod_cidr: str) -> dict[str, Any]:
    """``POST /libpod/networks/create`` for the node's Pod network: a bridge on ``pod_cidr``
    with the gateway on its first address (``10.88.1.1`` for ``10.88.1.0/24``), as a CNI bridge
    plugin with host-local IPAM on the podCIDR gives it. Raises ValueError for a bad CIDR."""
    network = ipaddress.ip_network(pod_cidr)
    if network.version != 4 or network.num_addresses < 4:
        raise ValueError(f"podCIDR {pod_cidr} is not an IPv4 subnet with room for Pods")
    return {"name": POD_NETWORK, "driver": "bridge",
            "subnets": [{"subnet": str(network), "gateway": str(network.network_address + 1)}]}


def network_subnets(inspect: dict[str, Any]) -> list[str]:
    """The subnets of a ``GET /libpod/networks/{name}/json`` answer."""
    return [str(ipaddress.ip_network(s["subnet"])) for s in inspect.get("subnets") or [] if s.get("subnet")]


def sandbox_network_fields(network: str, dns: DNSConfig) -> dict[str, Any]:
    """The pod-create fields that put a sandbox on the Pod network (``network``; "" leaves
    Podman's default network) with the Pod's resolv.conf.

    An all-empty DNSConfig (dnsPolicy None without dnsConfig) asks Podman to write no
    resolv.conf of its own (``no_manage_resolv_conf``): the Pod has none but its image's."""
    fields: dict[str, Any] = {"netns": {"nsmode": "bridge"}, "Networks": {network: {}}} if network else {}
    if not (dns.servers or dns.searches or dns.options):
        fields["no_manage_resolv_conf"] = True
        return fields
    if dns.servers:
        fields["dns_server"] = list(dns.servers)
    if dns.searches:
        fields["dns_search"] = list(dns.searches)
    if dns.options:
        fields["dns_option"] = list(dns.options)
    return fields


def container_name(spec: ContainerSpec) -> str:
    """``pk_<container>_<pod>_<namespace>_<uid8>_<attempt>``, like the kubelet's ``k8s_...`` names."""
    return f"pk_{spec.name}_{spec.pod_name}_{spec.pod_namespace}_{spec.pod_uid[:8]}_{spec.attempt}"


def create_kwargs(node_name: str, ulimits: list[dict[str, Any]] | None, sandbox_id: str,
              spec: ContainerSpec) -> dict[str, Any]:
    """podman-py ``containers.create`` arguments for a container spec on ``node_name``.

    Kubernetes' rule: ``command`` replaces the image's ENTRYPOINT and ``args`` its CMD;
    with only ``command`` the image's CMD is dropped too. Podman does exactly that when an
    entrypoint is given (its CMD is then only what we pass), so the mapping is one to one.
    """
    kwargs: dict[str, Any] = {
        "name": container_name(spec),
        "pod": sandbox_id,
        "labels": {
            LABEL_MANAGED: "true",
            LABEL_NODE: node_name,
            LABEL_POD_UID: spec.pod_uid,
            LABEL_POD_NAME: spec.pod_name,
            LABEL_POD_NAMESPACE: spec.pod_namespace,
            LABEL_CONTAINER_NAME: spec.name,
            LABEL_ATTEMPT: str(spec.attempt),
        },
    }
    if spec.command:
        kwargs["entrypoint"] = list(spec.command)
    if spec.args:
        kwargs["command"] = list(spec.args)
    if spec.env:
        kwargs["environment"] = dict(spec.env)
    if spec.working_dir:
        kwargs["working_dir"] = spec.working_dir
    if spec.memory_limit_bytes:
        kwargs["mem_limit"] = int(spec.memory_limit_bytes)
    if spec.cpu_limit_millis:
        # CFS bandwidth as the kubelet sets it: 100 ms period, quota = millicores * 100 µs.
        kwargs["cpu_period"] = 100_000
        kwargs["cpu_quota"] = max(1_000, int(spec.cpu_limit_millis) * 100)
    if spec.cpu_request_millis:
        kwargs["cpu_shares"] = max(2, int(spec.cpu_request_millis) * 1024 // 1000)
    if ulimits:
        kwargs["ulimits"] = [dict(u) for u in ulimits]
    if spec.mounts:
        kwargs["mounts"] = mounts(spec.mounts)
    return kwargs


def mounts(specs: list[Mount]) -> list[dict[str, Any]]:
    """The Pod's volumes as podman-py ``mounts``: bind mounts, ``ro`` where read-only (podman-py
    turns ``read_only`` into the option), ``rprivate`` like the kubelet's default propagation."""
    out = []
    for m in specs:
        item: dict[str, Any] = {"type": "bind", "source": m.host_path, "target": m.container_path,
                                "propagation": "rprivate"}
        if m.read_only:
            item["read_only"] = True
        out.append(item)
    return out


# --------------------------------------------------------------------------- the host


def os_release_pretty(path: str = "/etc/os-release") -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def meminfo_total(path: str = "/proc/meminfo") -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
