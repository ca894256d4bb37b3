"""The container runtime behind a small protocol, as Kubernetes' CRI.

The kubelet decides; the runtime only does. Two implementations: ``podman``
(real containers through the node's Podman API socket) and ``fake`` (no
containers: unit tests and hollow nodes).

Vocabulary, as in the CRI:
* a *sandbox* holds a Pod's shared network namespace (a Podman pod with its infra
  container); its IP is the Pod's IP;
* a *container* runs one of the Pod's containers, one attempt at a time: every
  restart creates a new container with the next attempt number. Labels on each
  container carry the Pod's namespace/name/uid, the container name and the attempt,
  so a restarted kubelet can find and re-adopt everything it made.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

from apimachinery.images import normalize_image  # noqa: F401 - part of the runtime's vocabulary

# Labels pykube puts on every sandbox and container it creates.
LABEL_MANAGED = "io.pykube.managed"
LABEL_POD_UID = "io.pykube.pod.uid"
LABEL_POD_NAME = "io.pykube.pod.name"
LABEL_POD_NAMESPACE = "io.pykube.pod.namespace"
LABEL_CONTAINER_NAME = "io.pykube.container.name"
LABEL_ATTEMPT = "io.pykube.container.attempt"
LABEL_NODE = "io.pykube.node"

# Container states, as the CRI names them.
CREATED, RUNNING, EXITED, UNKNOWN = "created", "running", "exited", "unknown"


class ContainerRuntimeError(Exception):
    """A runtime operation failed; the message is the runtime's own words."""


class ImagePullError(ContainerRuntimeError):
    """The registry refused or could not serve the image (message: the registry's answer)."""


class ImageNotPresentError(ContainerRuntimeError):
    """imagePullPolicy Never and the image is not in the node's cache."""


@dataclass(frozen=True)
class RuntimeInfo:
    name: str  # "podman"
    version: str  # "4.3.1"
    os: str  # "Debian GNU/Linux 12 (bookworm)"
    kernel: str
    architecture: str  # "amd64"
    cpus: int
    memory_bytes: int
    hostname: str


@dataclass(frozen=True)
class DNSConfig:
    """What the Pod's ``/etc/resolv.conf`` says (the CRI's DNSConfig); all empty: no file of ours."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SandboxSpec:
    pod_uid: str
    pod_name: str
    pod_namespace: str
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)
    dns: DNSConfig = field(default_factory=DNSConfig)


@dataclass(frozen=True)
class Sandbox:
    id: str
    pod_uid: str
    pod_name: str
    pod_namespace: str
    ip: str  # "" until known
    ready: bool  # the infra container runs


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host file or directory into a container."""
    host_path: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    pod_uid: str
    pod_name: str
    pod_namespace: str
    name: str  # the container's name in the Pod spec
    attempt: int  # 0 for the first run, +1 per restart
    image: str
    command: list[str] = field(default_factory=list)  # overrides the image's entrypoint
    args: list[str] = field(default_factory=list)  # overrides the image's cmd
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    memory_limit_bytes: int | None = None
    cpu_limit_millis: int | None = None
    cpu_request_millis: int | None = None
    # (containerPort, protocol, hostPort) for documentation/port mapping.
    ports: list[tuple[int, str, int]] = field(default_factory=list)
    # The Pod's volumes as bind mounts (kubelet.volumes.container_mounts).
    mounts: list[Mount] = field(default_factory=list)


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    pod_uid: str
    pod_name: str
    pod_namespace: str
    name: str
    attempt: int
    image: str  # as asked for
    image_id: str  # "sha256:..." as resolved by the runtime
    state: str  # CREATED, RUNNING, EXITED or UNKNOWN
    exit_code: int = 0
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    reason: str = ""  # e.g. "OOMKilled", "Error", "Completed", "StartError" (exit 128: never ran)
    message: str = ""


@dataclass(frozen=True)
class ContainerEvent:
    """Something happened to a pykube container (from the runtime's event stream)."""

    container_id: str
    pod_uid: str
    container_name: str
    type: str  # "start", "died", "remove", ... (the runtime's word)
    time: float


class ExecSession(Protocol):
    """One ``kubectl exec`` command running in a container, its streams open both ways."""

    def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout" | "stderr", bytes) as the command writes them; ends when it has exited
        (with a TTY everything is "stdout", as on a terminal)."""
        ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None:
        """End of input (the command reads EOF)."""
        ...

    async def resize(self, width: int, height: int) -> None:
        """The client's terminal changed size (TTY only; otherwise ignored)."""
        ...

    async def wait(self) -> int:
        """The command's exit code, once it has exited."""
        ...

    async def close(self) -> None:
        """Stop the command if it still runs (the client went away) and free everything."""
        ...


class Runtime(Protocol):
    # Whether sandboxes need the node's podCIDR first (a real Pod network); the fake runtime's
    # sandboxes have made-up addresses, so hollow nodes run without one.
    needs_pod_cidr: bool

    async def info(self) -> RuntimeInfo: ...

    # The Pod network (as the CRI's UpdateRuntimeConfig hands the podCIDR to the network plugin).
    async def ensure_network(self, pod_cidr: str) -> None:
        """Make sure the node's Pod network exists with this subnet (gateway: its first address);
        every sandbox created afterwards joins it. Idempotent. Raises ContainerRuntimeError."""
        ...

    # Images: the node's own cache.
    async def image_id(self, image: str) -> str | None:
        """The local image id for a reference, or None when it is not cached."""
        ...

    async def pull_image(self, image: str) -> str:
        """Pull from the registry the reference names; return the image id.
        Raises ImagePullError with the registry's message."""
        ...

    # Sandboxes (one per Pod).
    async def create_sandbox(self, spec: SandboxSpec) -> Sandbox: ...

    async def stop_sandbox(self, sandbox_id: str) -> None: ...

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Remove the sandbox and any containers left in it."""
        ...

    async def list_sandboxes(self) -> list[Sandbox]:
        """Every sandbox pykube made on this node (by label)."""
        ...

    # Containers.
    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        """Create (not start) a container in the sandbox; return its id. Never sets a
        runtime restart policy: the kubelet owns restarts."""
        ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after timeout seconds; returns when it has exited."""
        ...

    async def remove_container(self, container_id: str) -> None: ...

    async def list_containers(self) -> list[ContainerStatus]:
        """Every container pykube made on this node (by label), in any state."""
        ...

    async def container_status(self, container_id: str) -> ContainerStatus | None: ...

    def events(self) -> AsyncIterator[ContainerEvent]:
        """Lifecycle events of pykube containers as they happen (runs until cancelled).

        Types: "start", "died", "remove" (Podman may add "oom"). Covers everything from the
        moment of the call, even before the first ``__anext__``; cancelling a pending
        ``__anext__`` or ``aclose()`` ends the stream."""
        ...

    async def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]:
        """Run a command in a running container: (exit code, combined output).
        Raises TimeoutError after timeout seconds, ContainerRuntimeError if not running."""
        ...

    async def exec_session(self, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                           width: int = 0, height: int = 0) -> ExecSession:
        """Start a command in a running container for ``kubectl exec`` (stdin, a TTY of
        width x height). Raises ContainerRuntimeError when it cannot be started."""
        ...

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr), as chunks of bytes."""
        ...

    async def port_forward_socket(self, sandbox_id: str, port: int) -> socket.socket:
        """``kubectl port-forward``: a TCP connection to 127.0.0.1:port inside the sandbox's network
        namespace, connected (as the CRI's PortForward dials it). Raises ContainerRuntimeError with
        the reason (e.g. connection refused)."""
        ...

    async def close(self) -> None: ...
