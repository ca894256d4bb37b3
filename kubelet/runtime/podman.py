"""The real runtime: a node's Podman, through its REST API socket (podman-py).

How Kubernetes' CRI words map onto Podman:

* a *sandbox* is a Podman **pod**. Its infra container (``podman-pause``) owns the network,
  UTS and IPC namespaces; every container of the Pod joins them, so they share one IP and
  ``localhost``. The Pod IP is the infra container's address.
* a *container attempt* is one Podman container in that pod, named
  ``pk_<container>_<pod>_<namespace>_<uid8>_<attempt>`` (like the kubelet's ``k8s_...``
  Docker names) and labelled with everything needed to re-adopt it after a kubelet restart.
  It never gets a Podman restart policy: restarts are the kubelet's decision (new attempt).

Why some calls go around podman-py's high-level helpers to ``client.api`` (the raw REST client):

* podman-py turns a *list* of label filters into one garbage string, and we need two labels
  (managed + this node);
* a failed ``images.pull`` may return an empty ``Image`` instead of raising, and hides the
  registry's words we want to show in ``ErrImagePull``;
* ``stop`` on an already stopped container answers 304, which podman-py trips over;
* streams (events, logs, exec output) must be cut from another thread when the consumer goes
  away; that needs the HTTP response object, which the helpers do not expose.

Every blocking call runs in one of this runtime's own thread pools (never the loop's default
executor, which a node with many Pods would exhaust): a small one for quick API calls and a
larger one for calls that wait on containers (stop with a grace period, pulls, exec). Streams get
one dedicated thread each, for as long as the consumer iterates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import os
import platform
import re
import resource
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable, Generic, Iterator, TypeVar

import podman
import structlog
from podman.errors import APIError, ImageNotFound, NotFound

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
    ContainerRuntimeError,
    ContainerSpec,
    ContainerStatus,
    ImageNotPresentError,
    ImagePullError,
    RuntimeInfo,
    Sandbox,
    SandboxSpec,
    normalize_image,
)

log = structlog.get_logger("runtime.podman")

T = TypeVar("T")

# Podman's container event actions passed on, the ones where a container's CRI state changes
# (the fake runtime sends the same). Others ("create", "init", "kill", "cleanup", "exec",
# "exec_died", "attach", ...) say nothing the kubelet does not know already, and exec probes
# would otherwise wake the PLEG every few seconds per container.
LIFECYCLE_ACTIONS = frozenset({"start", "died", "remove", "oom"})

# Podman's container states (libpod's define.ContainerStatus) as the CRI names them.
_STATES = {
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
_EVENT_RECONNECT_DELAY = 1.0


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


def _image_id(raw: str | None) -> str:
    if not raw:
        return ""
    return raw if raw.startswith("sha256:") else f"sha256:{raw}"


def _ip_of(network_settings: dict[str, Any] | None) -> str:
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


def _int(value: Any, default: int = 0) -> int:
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
    cri_state = _STATES.get(str(state.get("Status", "")).lower(), UNKNOWN)
    exit_code = _int(state.get("ExitCode"))
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
        attempt=_int(labels.get(LABEL_ATTEMPT)),
        image=attrs.get("ImageName") or config.get("Image") or "",
        image_id=_image_id(attrs.get("Image")),
        state=cri_state,
        exit_code=exit_code if cri_state == EXITED else 0,
        started_at=started_at,
        finished_at=finished_at if cri_state == EXITED else None,
        reason=reason,
        message=error,
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


def _frames(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Payloads of Docker's multiplexed stream: 8-byte header (stream, 0,0,0, big-endian size).

    Logs and exec output of a container without a TTY come this way; stdout and stderr frames
    are kept in the order they arrive, which is what ``kubectl logs`` shows too.
    """
    while True:
        header = _read_exactly(read, 8)
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "big")
        if size == 0:
            continue
        payload = _read_exactly(read, size)
        if payload:
            yield payload
        if len(payload) < size:
            return


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _message(err: BaseException) -> str:
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


def _is_state_error(err: APIError) -> bool:
    text = _message(err)
    return "state improper" in text or "not running" in text or "is not running" in text


# --------------------------------------------------------------------------- thread → asyncio streams

_END = object()


def _response_socket(response: Any) -> socket.socket | None:
    """The socket under a streaming ``requests`` response (urllib3 2 keeps it on the connection)."""
    raw = getattr(response, "raw", None)
    for conn in (getattr(raw, "_connection", None), getattr(raw, "connection", None)):
        sock = getattr(conn, "sock", None)
        if isinstance(sock, socket.socket):
            return sock
    try:  # urllib3 1.x: HTTPResponse._fp (http.client.HTTPResponse).fp (SocketIO)._sock
        sock = raw._fp.fp.raw._sock  # type: ignore[union-attr]
        return sock if isinstance(sock, socket.socket) else None
    except AttributeError:
        return None


class _Pipe(Generic[T]):
    """Items from a blocking producer thread to an asyncio consumer, and a way to stop it.

    The producer calls :meth:`put` (blocks while the consumer is ``maxsize`` items behind, so a
    chatty ``logs -f`` cannot fill memory) and :meth:`attach` for the HTTP response it is
    reading. The consumer calls :meth:`get` and finally :meth:`close`, which shuts the
    response's socket down: the producer's blocking ``recv`` returns at once and the thread
    ends. Closing the response alone would not wake a thread blocked in ``recv``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 256) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._room = threading.Semaphore(maxsize)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float) -> bool:
        """Sleep up to timeout seconds in the producer, waking early when closed."""
        return self._closed.wait(timeout)

    def _send(self, item: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            return True
        except RuntimeError:  # the loop is closed: nobody will ever read
            self._closed.set()
            return False

    def put(self, item: T) -> bool:
        """Producer: hand one item over; False once the consumer has gone."""
        while not self._room.acquire(timeout=0.2):
            if self.closed:
                return False
        if self.closed:
            return False
        return self._send(item)

    def finish(self, error: BaseException | None = None) -> None:
        """Producer: no more items (an error is raised in the consumer)."""
        if not self.closed:
            self._send(error if error is not None else _END)

    def attach(self, response: Any) -> bool:
        """Producer: this is the response being read; False if already closed (drop it)."""
        with self._lock:
            if self.closed:
                return False
            self._response = response
            return True

    def detach(self) -> None:
        with self._lock:
            self._response = None

    def close(self) -> None:
        """Consumer (any thread): stop the producer and cut its connection."""
        with self._lock:
            self._closed.set()
            response, self._response = self._response, None
            if response is not None:
                sock = _response_socket(response)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    async def get(self) -> Any:
        """Consumer: the next item, ``_END``, or an exception instance."""
        item = await self._queue.get()
        if item is not _END and not isinstance(item, BaseException):
            self._room.release()
        return item


class _ThreadStream(Generic[T]):
    """An async iterator over what a producer thread puts into a :class:`_Pipe`.

    The thread starts on the first ``__anext__`` (a running loop is needed then, and an
    iterator nobody reads costs nothing). As with an async generator, cancelling a pending
    ``__anext__`` or calling ``aclose`` ends the stream: the pipe cuts the connection and the
    thread returns.
    """

    def __init__(self, runtime: "PodmanRuntime", produce: Callable[[_Pipe[T]], None], name: str,
                 maxsize: int = 256) -> None:
        self._runtime = runtime
        self._produce = produce
        self._name = name
        self._maxsize = maxsize
        self._pipe: _Pipe[T] | None = None
        self._done = False

    def __aiter__(self) -> "_ThreadStream[T]":
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        if self._pipe is None:
            if self._runtime._closed:
                self._done = True
                raise ContainerRuntimeError("runtime closed")
            self._pipe = _Pipe(asyncio.get_running_loop(), self._maxsize)
            self._runtime._pipes.add(self._pipe)
            threading.Thread(target=self._produce, args=(self._pipe,), name=self._name, daemon=True).start()
        try:
            item = await self._pipe.get()
        except BaseException:  # cancelled: like an async generator, the stream is over
            self._finish()
            raise
        if item is _END:
            self._finish()
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._finish()
            raise item
        return item

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._pipe is not None:
            self._pipe.close()
            self._runtime._pipes.discard(self._pipe)

    def __del__(self) -> None:
        if self._pipe is not None and not self._pipe.closed:
            self._pipe.close()


# --------------------------------------------------------------------------- the runtime


class PodmanRuntime:
    """The Runtime protocol over one Podman API service (``podman system service``).

    ``url``: ``unix:///path/podman.sock`` (or ``http://127.0.0.1:PORT``).
    ``node_name``: stamped on everything we create (``io.pykube.node``); lists and events skip
    what carries another node's name, so two kubelets sharing one Podman never mix (pykube
    things without a node label are adopted, see :meth:`_ours`).
    ``ulimits``: Docker-style ``[{"Name": "nofile", "Soft": n, "Hard": n}, ...]`` given to every
    container, or None for Podman's defaults (see :func:`default_ulimits`).
    ``infra_image``: the sandbox's pause image; None lets Podman build its own
    ``localhost/podman-pause`` from catatonit (no registry needed).
    ``tls_verify``: False lets pulls use the lab's plain-HTTP registry; node-wide policy per
    registry belongs in registries.conf, which overrides this for listed registries.
    """

    def __init__(
        self,
        url: str,
        node_name: str,
        ulimits: list[dict[str, Any]] | None = None,
        infra_image: str | None = None,
        *,
        tls_verify: bool = False,
        workers: int = 8,
        slow_workers: int = 32,
        api_timeout: float = 60.0,
        pull_timeout: float = 1800.0,
    ) -> None:
        self.url = url
        self.node_name = node_name
        self.ulimits = [dict(u) for u in ulimits] if ulimits else None
        self.infra_image = infra_image
        self.tls_verify = tls_verify
        self.api_timeout = api_timeout
        self.pull_timeout = pull_timeout
        self._client = podman.PodmanClient(base_url=url, max_pool_size=workers + slow_workers)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"podman-{node_name}")
        self._slow_pool = ThreadPoolExecutor(max_workers=slow_workers, thread_name_prefix=f"podman-slow-{node_name}")
        self._pipes: set[_Pipe[Any]] = set()
        self._closed = False
        # Containers whose start the OCI runtime refused: Podman 4.3 leaves them "created" with
        # no error recorded, so we remember (message, when) and report them as the CRI does.
        self._start_errors: dict[str, tuple[str, float]] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def _api(self) -> Any:
        return self._client.api

    async def _run(self, fn: Callable[..., T], *args: Any, slow: bool = False) -> T:
        if self._closed:
            raise ContainerRuntimeError("runtime closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._slow_pool if slow else self._pool, functools.partial(fn, *args))

    def _labels_filter(self) -> str:
        return json.dumps({"label": [f"{LABEL_MANAGED}=true"]})

    def _ours(self, labels: dict[str, str] | None) -> bool:
        """Made by pykube for this node: managed, and no other node's name on it.

        Podman filters on ``managed`` only: a pykube container without a node label (an orphan
        from an older kubelet, or made by hand) is this node's to adopt or clean up, as in
        Kubernetes, where everything the node's runtime holds with kubelet labels is the
        kubelet's. Only another node's label (two kubelets sharing one Podman) excludes it.
        """
        labels = labels or {}
        return labels.get(LABEL_MANAGED) == "true" and labels.get(LABEL_NODE, self.node_name) in ("", self.node_name)

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._api.get(path, params=params, timeout=self.api_timeout)
        response.raise_for_status()
        return response.json()

    def _inspect_container(self, container_id: str) -> dict[str, Any] | None:
        try:
            return self._get_json(f"/containers/{container_id}/json")
        except NotFound:
            return None

    def _new_client(self) -> podman.PodmanClient:
        """A client of its own for one stream: its connection can be cut without touching the pool."""
        return podman.PodmanClient(base_url=self.url)

    # ------------------------------------------------------------------ node

    async def info(self) -> RuntimeInfo:
        return await self._run(self._info)

    def _info(self) -> RuntimeInfo:
        try:
            version = self._client.version()
            host = (self._client.info() or {}).get("host") or {}
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        dist = host.get("distribution") or {}
        os_name = _os_release_pretty() or " ".join(
            filter(None, (dist.get("distribution"), dist.get("version")))) or platform.system()
        arch = host.get("arch") or {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        return RuntimeInfo(
            name="podman",
            version=str(version.get("Version") or (version.get("Components") or [{}])[0].get("Version", "")),
            os=os_name,
            kernel=host.get("kernel") or platform.release(),
            architecture=arch,
            cpus=_int(host.get("cpus")) or os.cpu_count() or 1,
            memory_bytes=_int(host.get("memTotal")) or _meminfo_total(),
            hostname=host.get("hostname") or socket.gethostname(),
        )

    # ------------------------------------------------------------------ images

    async def image_id(self, image: str) -> str | None:
        return await self._run(self._image_id, normalize_image(image))

    def _image_id(self, ref: str) -> str | None:
        try:
            attrs = self._get_json(f"/images/{ref}/json")
        except (NotFound, ImageNotFound):
            return None
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        return _image_id(attrs.get("Id"))

    async def pull_image(self, image: str) -> str:
        return await self._run(self._pull, normalize_image(image), slow=True)

    def _pull(self, ref: str) -> str:
        """``POST /images/pull`` and read its progress lines: the last one carries ``id`` on
        success or ``error`` with the registry's (or network's) words on failure, always with
        HTTP 200 since the status was sent before the pull started."""
        try:
            response = self._api.post(
                "/images/pull",
                params={"reference": ref, "tlsVerify": self.tls_verify, "policy": "always", "quiet": True},
                timeout=self.pull_timeout,
            )
        except APIError as err:
            raise ImagePullError(_message(err)) from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body.get("message") or body.get("cause") or response.text
            except ValueError:
                message = response.text
            raise ImagePullError(str(message).strip() or f"pull of {ref} failed (HTTP {response.status_code})")
        image_id, error = None, None
        for line in response.text.splitlines():
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
        if error or not image_id:
            raise ImagePullError(error or f"pull of {ref} returned no image")
        return _image_id(image_id)

    # ------------------------------------------------------------------ sandboxes

    def _sandbox_name(self, spec: SandboxSpec) -> str:
        return f"pk_{spec.pod_name}_{spec.pod_namespace}_{spec.pod_uid[:8]}"

    async def create_sandbox(self, spec: SandboxSpec) -> Sandbox:
        return await self._run(self._create_sandbox, spec, slow=True)

    def _create_sandbox(self, spec: SandboxSpec) -> Sandbox:
        labels = {
            **spec.labels,
            LABEL_MANAGED: "true",
            LABEL_NODE: self.node_name,
            LABEL_POD_UID: spec.pod_uid,
            LABEL_POD_NAME: spec.pod_name,
            LABEL_POD_NAMESPACE: spec.pod_namespace,
        }
        name = self._sandbox_name(spec)
        body: dict[str, Any] = {"labels": labels, "infra_name": f"{name}_infra"}
        if spec.hostname:
            body["hostname"] = spec.hostname
        if self.infra_image:
            body["infra_image"] = self.infra_image
        try:
            pod = self._client.pods.create(name, **body)
        except APIError as err:
            raise ContainerRuntimeError(f"create sandbox {name}: {_message(err)}") from None
        try:
            response = self._api.post(f"/pods/{pod.id}/start", timeout=self.api_timeout)
            response.raise_for_status()
            report = response.json() if response.status_code == 200 and response.content else {}
            errs = [e for e in (report.get("Errs") or []) if e]
            if errs:
                raise ContainerRuntimeError(f"start sandbox {name}: {'; '.join(map(str, errs))}")
        except (APIError, ContainerRuntimeError) as err:
            self._remove_sandbox(pod.id)
            if isinstance(err, ContainerRuntimeError):
                raise
            raise ContainerRuntimeError(f"start sandbox {name}: {_message(err)}") from None
        sandbox = self._sandbox(pod.id)
        if sandbox is None:
            raise ContainerRuntimeError(f"sandbox {name} vanished right after it was created")
        return sandbox

    def _sandbox(self, pod_id: str, pod: dict[str, Any] | None = None) -> Sandbox | None:
        """A Sandbox from the pod (inspect or list entry) and its infra container's inspect."""
        if pod is None:
            try:
                pod = self._get_json(f"/pods/{pod_id}/json")
            except NotFound:
                return None
        labels = pod.get("Labels") or {}
        infra_id = pod.get("InfraContainerID") or pod.get("InfraId") or ""
        ip, ready = "", False
        if infra_id:
            infra = self._inspect_container(infra_id)
            if infra is not None:
                ready = bool((infra.get("State") or {}).get("Running"))
                ip = _ip_of(infra.get("NetworkSettings")) if ready else ""
        return Sandbox(
            id=pod.get("Id") or pod_id,
            pod_uid=labels.get(LABEL_POD_UID, ""),
            pod_name=labels.get(LABEL_POD_NAME, ""),
            pod_namespace=labels.get(LABEL_POD_NAMESPACE, ""),
            ip=ip,
            ready=ready,
        )

    async def stop_sandbox(self, sandbox_id: str) -> None:
        await self._run(self._stop_sandbox, sandbox_id, slow=True)

    def _stop_sandbox(self, sandbox_id: str) -> None:
        """Stop every container of the pod at once, infra included: the network goes away.

        The kubelet already gave the app containers their grace period, so SIGKILL first:
        Podman 4.3's ``pod stop?t=0`` still waited 10 s for a ``sleep`` PID 1 here."""
        try:
            self._api.post(f"/pods/{sandbox_id}/kill", params={"signal": "SIGKILL"}, timeout=self.api_timeout)
        except APIError:
            pass  # nothing running, or gone
        try:
            response = self._api.post(f"/pods/{sandbox_id}/stop", params={"t": 0}, timeout=self.api_timeout)
            response.raise_for_status()
        except NotFound:
            return
        except APIError as err:
            raise ContainerRuntimeError(f"stop sandbox: {_message(err)}") from None

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self._run(self._remove_sandbox, sandbox_id, slow=True)

    def _remove_sandbox(self, sandbox_id: str) -> None:
        """SIGKILL everything in the pod first: ``pod rm --force`` would otherwise stop each
        container with its stop timeout (10 s for a PID 1 that ignores SIGTERM, i.e. any shell
        without a trap), then remove the pod and its containers."""
        try:
            self._api.post(f"/pods/{sandbox_id}/kill", params={"signal": "SIGKILL"}, timeout=self.api_timeout)
        except APIError:
            pass  # nothing running, or gone: the remove below decides
        try:
            response = self._api.delete(f"/pods/{sandbox_id}", params={"force": True}, timeout=self.api_timeout)
            response.raise_for_status()
        except NotFound:
            return
        except APIError as err:
            raise ContainerRuntimeError(f"remove sandbox: {_message(err)}") from None

    async def list_sandboxes(self) -> list[Sandbox]:
        return await self._run(self._list_sandboxes)

    def _list_sandboxes(self) -> list[Sandbox]:
        try:
            pods = self._get_json("/pods/json", params={"filters": self._labels_filter()}) or []
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        out = []
        for pod in pods:
            if not self._ours(pod.get("Labels")):
                continue
            sandbox = self._sandbox(pod.get("Id", ""), pod)
            if sandbox is not None:
                out.append(sandbox)
        return out

    # ------------------------------------------------------------------ containers

    @staticmethod
    def container_name(spec: ContainerSpec) -> str:
        return f"pk_{spec.name}_{spec.pod_name}_{spec.pod_namespace}_{spec.pod_uid[:8]}_{spec.attempt}"

    def create_kwargs(self, sandbox_id: str, spec: ContainerSpec) -> dict[str, Any]:
        """podman-py ``containers.create`` arguments for a container spec (pure; unit-testable).

        Kubernetes' rule: ``command`` replaces the image's ENTRYPOINT and ``args`` its CMD;
        with only ``command`` the image's CMD is dropped too. Podman does exactly that when an
        entrypoint is given (its CMD is then only what we pass), so the mapping is one to one.
        """
        kwargs: dict[str, Any] = {
            "name": self.container_name(spec),
            "pod": sandbox_id,
            "labels": {
                LABEL_MANAGED: "true",
                LABEL_NODE: self.node_name,
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
        if self.ulimits:
            kwargs["ulimits"] = [dict(u) for u in self.ulimits]
        return kwargs

    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        return await self._run(self._create_container, sandbox_id, spec)

    def _create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        image = normalize_image(spec.image)
        try:
            container = self._client.containers.create(image, **self.create_kwargs(sandbox_id, spec))
        except ImageNotFound as err:
            raise ImageNotPresentError(_message(err)) from None
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        return container.id

    async def start_container(self, container_id: str) -> None:
        await self._run(self._start_container, container_id, slow=True)

    def _start_container(self, container_id: str) -> None:
        """Start; when the OCI runtime refuses (missing binary, bad working dir...), the
        container is reported from then on as exited with 128 / StartError (containerd's
        words), so the kubelet restarts it with back-off like any other failure."""
        try:
            response = self._api.post(f"/containers/{container_id}/start", timeout=self.api_timeout)
            response.raise_for_status()  # 304: already running
        except NotFound as err:
            raise ContainerRuntimeError(_message(err)) from None
        except APIError as err:
            message = _message(err)
            self._start_errors[container_id] = (message, time.time())
            raise ContainerRuntimeError(message) from None
        self._start_errors.pop(container_id, None)

    def _status(self, attrs: dict[str, Any]) -> ContainerStatus:
        status = status_from_inspect(attrs)
        failed = self._start_errors.get(status.id)
        if failed is not None:
            if status.state != CREATED:
                self._start_errors.pop(status.id, None)
            else:
                message, when = failed
                status = dataclasses.replace(status, state=EXITED, exit_code=128, reason="StartError",
                                             message=message, finished_at=when)
        return status

    async def stop_container(self, container_id: str, timeout: float) -> None:
        await self._run(self._stop_container, container_id, timeout, slow=True)

    def _stop_container(self, container_id: str, timeout: float) -> None:
        """Podman's stop does exactly the CRI's dance: stop signal, ``timeout`` seconds, SIGKILL,
        and answers when the container has exited. Whole seconds only (Kubernetes' grace
        periods are whole seconds too), rounded up. Already stopped, never started or gone:
        nothing to do."""
        grace = max(0, math.ceil(timeout))
        try:
            response = self._api.post(
                f"/containers/{container_id}/stop", params={"timeout": grace},
                timeout=grace + self.api_timeout)
            response.raise_for_status()  # 304: was not running
        except NotFound:
            return
        except APIError as err:
            if not _is_state_error(err):
                raise ContainerRuntimeError(_message(err)) from None
        # Belt and braces: make sure it is really down before we return.
        attrs = self._inspect_container(container_id)
        if attrs is not None and _STATES.get((attrs.get("State") or {}).get("Status", "")) == RUNNING:
            self._kill_and_wait(container_id)

    def _kill_and_wait(self, container_id: str) -> None:
        try:
            self._api.post(f"/containers/{container_id}/kill", params={"signal": "SIGKILL"}, timeout=self.api_timeout)
        except APIError:
            pass
        try:
            self._api.post(f"/containers/{container_id}/wait", params={"condition": ["exited", "stopped"]},
                           timeout=self.api_timeout)
        except APIError:
            pass

    async def remove_container(self, container_id: str) -> None:
        await self._run(self._remove_container, container_id, slow=True)

    def _remove_container(self, container_id: str) -> None:
        """SIGKILL first (see :meth:`_remove_sandbox`), then ``rm --force``; gone is fine."""
        self._start_errors.pop(container_id, None)
        attrs = self._inspect_container(container_id)
        if attrs is None:
            return
        if _STATES.get((attrs.get("State") or {}).get("Status", "")) == RUNNING:
            self._kill_and_wait(container_id)
        try:
            response = self._api.delete(f"/containers/{container_id}", params={"force": True},
                                        timeout=self.api_timeout)
            response.raise_for_status()
            reports = response.json() if response.status_code == 200 and response.content else []
            for report in reports if isinstance(reports, list) else []:
                if report.get("Err"):
                    raise ContainerRuntimeError(str(report["Err"]))
        except NotFound:
            return
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None

    async def list_containers(self) -> list[ContainerStatus]:
        return await self._run(self._list_containers)

    def _list_containers(self) -> list[ContainerStatus]:
        """List by label, then inspect each: the list view has second-precision times and no
        OOMKilled, and list and status must agree for the PLEG's change detection."""
        try:
            entries = self._get_json("/containers/json",
                                     params={"all": True, "filters": self._labels_filter()}) or []
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        listed = {entry.get("Id") for entry in entries}
        for gone in [cid for cid in list(self._start_errors) if cid not in listed]:
            self._start_errors.pop(gone, None)  # removed with its sandbox
        out = []
        for entry in entries:
            labels = entry.get("Labels") or {}
            if entry.get("IsInfra") or not labels.get(LABEL_CONTAINER_NAME) or not self._ours(labels):
                continue
            attrs = self._inspect_container(entry["Id"])
            if attrs is not None:
                out.append(self._status(attrs))
        return out

    async def container_status(self, container_id: str) -> ContainerStatus | None:
        return await self._run(self._container_status, container_id)

    def _container_status(self, container_id: str) -> ContainerStatus | None:
        try:
            attrs = self._inspect_container(container_id)
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        if attrs is None:
            self._start_errors.pop(container_id, None)
            return None
        return self._status(attrs)

    # ------------------------------------------------------------------ events

    def events(self) -> AsyncIterator[ContainerEvent]:
        """Podman's event stream, filtered to this node's pykube containers.

        The stream is a blocking HTTP response, read in a thread of its own and handed to the
        loop. It covers everything from the moment of this call (``since`` one second earlier,
        older events dropped), so nothing that happens before the first ``__anext__`` or while
        the connection is being made is missed; when the stream breaks (service restart) it
        reconnects from the last event seen. Closing (``aclose``) or cancelling the iterator
        cuts the connection and ends the thread.
        """
        start_ns = time.time_ns()
        return _ThreadStream(self, lambda pipe: self._events_loop(pipe, start_ns),
                             f"podman-events-{self.node_name}")

    def _events_loop(self, pipe: _Pipe[ContainerEvent], start_ns: int) -> None:
        last_ns = start_ns
        seen_at_last: set[tuple[str, str]] = set()  # events at exactly last_ns already delivered
        filters = json.dumps({"type": ["container"], "label": [f"{LABEL_MANAGED}=true"]})
        while not pipe.closed:
            client = self._new_client()
            response = None
            try:
                params = {"stream": True, "filters": filters, "since": str(last_ns // 1_000_000_000 - 1)}
                response = client.api.get("/events", params=params, stream=True, timeout=(10, None))
                response.raise_for_status()
                if not pipe.attach(response):
                    break
                for line in response.iter_lines():
                    if not line:
                        continue
                    try:
                        raw = json.loads(line)
                    except ValueError:
                        continue
                    nanos = raw.get("timeNano")
                    if isinstance(nanos, int):
                        key = ((raw.get("Actor") or {}).get("ID", ""), raw.get("Action", ""))
                        if nanos < last_ns or (nanos == last_ns and key in seen_at_last):
                            continue  # replayed by ``since``
                        if nanos > last_ns:
                            last_ns, seen_at_last = nanos, set()
                        seen_at_last.add(key)
                    event = event_from_podman(raw)
                    if event is None or not self._ours((raw.get("Actor") or {}).get("Attributes")):
                        continue
                    if not pipe.put(event):
                        break
            except Exception as err:  # noqa: BLE001 - any failure: reconnect (or stop if closed)
                if not pipe.closed:
                    log.warning("podman event stream broke, reconnecting", node=self.node_name, error=str(err))
            finally:
                pipe.detach()
                if response is not None:
                    response.close()
                client.close()
            if pipe.wait_closed(_EVENT_RECONNECT_DELAY):
                break
        pipe.finish()

    # ------------------------------------------------------------------ exec, logs

    async def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]:
        """Run a command like ``podman exec``: (exit code, stdout+stderr as text).

        On timeout the output connection is cut and TimeoutError raised; the process itself
        may keep running in the container (Podman has no "kill exec session" call), exactly as
        an exec probe that hangs under Docker did.
        """
        if self._closed:
            raise ContainerRuntimeError("runtime closed")
        loop = asyncio.get_running_loop()
        pipe: _Pipe[bytes] = _Pipe(loop)  # only for its attach/close: cuts the output stream
        future = loop.run_in_executor(self._slow_pool, self._exec, container_id, list(command), pipe)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pipe.close()
            raise TimeoutError(f"command {command!r} timed out after {timeout}s") from None
        finally:
            pipe.close()

    def _exec(self, container_id: str, command: list[str], pipe: _Pipe[bytes]) -> tuple[int, str]:
        try:
            response = self._api.post(
                f"/containers/{container_id}/exec",
                data=json.dumps({"AttachStdout": True, "AttachStderr": True, "AttachStdin": False,
                                 "Tty": False, "Cmd": command}),
                timeout=self.api_timeout)
            response.raise_for_status()
            exec_id = response.json()["Id"]
        except NotFound as err:
            raise ContainerRuntimeError(_message(err)) from None
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        client = self._new_client()
        try:
            start = client.api.post(f"/exec/{exec_id}/start", data=json.dumps({"Detach": False, "Tty": False}),
                                    stream=True, timeout=(10, None))
            start.raise_for_status()
            if not pipe.attach(start):
                raise TimeoutError("exec cancelled")
            try:
                output = b"".join(_frames(start.raw.read))
            finally:
                pipe.detach()
                start.close()
        except APIError as err:
            raise ContainerRuntimeError(_message(err)) from None
        finally:
            client.close()
        exit_code = None
        deadline = time.monotonic() + 2.0
        while exit_code is None:
            try:
                inspect = self._get_json(f"/exec/{exec_id}/json")
            except APIError as err:
                raise ContainerRuntimeError(_message(err)) from None
            if not inspect.get("Running"):
                exit_code = _int(inspect.get("ExitCode"), -1)
            elif time.monotonic() > deadline:
                raise ContainerRuntimeError("exec session still running after its output ended")
            else:
                time.sleep(0.02)
        return exit_code, output.decode("utf-8", errors="replace")

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        """The container's output as Podman stored it (stdout and stderr interleaved, in order).

        ``follow`` keeps the stream open until the container exits or the iterator is closed.
        """
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": bool(follow)}
        if tail is not None:
            params["tail"] = str(max(0, int(tail)))
        return _ThreadStream(self, lambda pipe: self._logs_reader(pipe, container_id, params),
                             f"podman-logs-{container_id[:12]}", maxsize=64)

    def _logs_reader(self, pipe: _Pipe[bytes], container_id: str, params: dict[str, Any]) -> None:
        client = self._new_client()
        response = None
        error: BaseException | None = None
        try:
            response = client.api.get(f"/containers/{container_id}/logs", params=params, stream=True,
                                      timeout=(10, None))
            response.raise_for_status()
            if pipe.attach(response):
                for chunk in _frames(response.raw.read):
                    if not pipe.put(chunk):
                        break
        except APIError as err:
            error = ContainerRuntimeError(_message(err))
        except Exception as err:  # noqa: BLE001 - connection cut by close(), or a real failure
            if not pipe.closed:
                error = ContainerRuntimeError(f"logs of {container_id[:12]}: {err}")
        finally:
            pipe.detach()
            if response is not None:
                response.close()
            client.close()
            pipe.finish(error)

    # ------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        """Cut every open stream and stop the thread pools; idempotent."""
        if self._closed:
            return
        self._closed = True
        for pipe in list(self._pipes):
            pipe.close()
        self._pipes.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._slow_pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def _os_release_pretty(path: str = "/etc/os-release") -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def _meminfo_total(path: str = "/proc/meminfo") -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
