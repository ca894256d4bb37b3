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

This module is the adapter (HTTP calls and their error handling); what Podman's answers mean is
in ``podman_mapping`` (pure, unit-tested) and the long streams are in ``podman_streams``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable, TypeVar

import podman
from podman import api as podman_api
from podman.errors import APIError, ImageNotFound, NotFound

from kubelet.runtime import (
    CREATED,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    RUNNING,
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
from kubelet.runtime.podman_exec import PodmanExecSession
from kubelet.runtime.podman_mapping import (
    POD_NETWORK,
    STATES,
    create_kwargs,
    error_message,
    full_image_id,
    is_state_error,
    network_subnets,
    owned_by,
    pod_network_body,
    pull_outcome,
    runtime_info,
    sandbox_from,
    sandbox_labels,
    sandbox_network_fields,
    start_failed,
    status_from_inspect,
)
from kubelet.runtime.podman_streams import OpenStreams, Pipe, ThreadStream, read_events, read_logs, run_exec

T = TypeVar("T")


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

    Sandboxes join the Podman network ``pykube`` (:meth:`ensure_network`: a bridge on the
    node's podCIDR); before that is called they get Podman's default network.
    """

    needs_pod_cidr = True

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
        self._streams = OpenStreams()
        # Containers whose start the OCI runtime refused: Podman 4.3 leaves them "created" with
        # no error recorded, so we remember (message, when) and report them as the CRI does.
        self._start_errors: dict[str, tuple[str, float]] = {}
        self._pod_network = ""  # POD_NETWORK once ensure_network made sure it exists

    # ------------------------------------------------------------------ plumbing

    @property
    def _api(self) -> Any:
        return self._client.api

    async def _run(self, fn: Callable[..., T], *args: Any, slow: bool = False) -> T:
        if self._streams.closed:
            raise ContainerRuntimeError("runtime closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._slow_pool if slow else self._pool, functools.partial(fn, *args))

    def _labels_filter(self) -> str:
        return json.dumps({"label": [f"{LABEL_MANAGED}=true"]})

    def _ours(self, labels: dict[str, str] | None) -> bool:
        return owned_by(labels, self.node_name)

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
            raise ContainerRuntimeError(error_message(err)) from None
        return runtime_info(version, host)

    # ------------------------------------------------------------------ the Pod network

    async def ensure_network(self, pod_cidr: str) -> None:
        await self._run(self._ensure_network, pod_cidr)

    def _ensure_network(self, pod_cidr: str) -> None:
        """Create the ``pykube`` bridge network on ``pod_cidr`` unless it exists already (a
        restarted kubelet, or a rebooted node: Podman keeps network configs on disk). One with
        another subnet is recreated when no container uses it, refused otherwise."""
        try:
            body = pod_network_body(pod_cidr)
        except ValueError as err:
            raise ContainerRuntimeError(str(err)) from None
        try:
            try:
                existing = self._get_json(f"/networks/{POD_NETWORK}/json")
            except NotFound:
                existing = None
            if existing is not None and network_subnets(existing) != [body["subnets"][0]["subnet"]]:
                response = self._api.delete(f"/networks/{POD_NETWORK}", timeout=self.api_timeout)
                response.raise_for_status()
                existing = None
            if existing is None:
                response = self._api.post("/networks/create", data=json.dumps(body), timeout=self.api_timeout)
                response.raise_for_status()
        except APIError as err:
            raise ContainerRuntimeError(f"network {POD_NETWORK} on {pod_cidr}: {error_message(err)}") from None
        self._pod_network = POD_NETWORK

    # ------------------------------------------------------------------ images

    async def image_id(self, image: str) -> str | None:
        return await self._run(self._image_id, normalize_image(image))

    def _image_id(self, ref: str) -> str | None:
        try:
            attrs = self._get_json(f"/images/{ref}/json")
        except (NotFound, ImageNotFound):
            return None
        except APIError as err:
            raise ContainerRuntimeError(error_message(err)) from None
        return full_image_id(attrs.get("Id"))

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
            raise ImagePullError(error_message(err)) from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body.get("message") or body.get("cause") or response.text
            except ValueError:
                message = response.text
            raise ImagePullError(str(message).strip() or f"pull of {ref} failed (HTTP {response.status_code})")
        image_id, error = pull_outcome(response.text)
        if error or not image_id:
            raise ImagePullError(error or f"pull of {ref} returned no image")
        return full_image_id(image_id)

    # ------------------------------------------------------------------ sandboxes

    def _sandbox_name(self, spec: SandboxSpec) -> str:
        return f"pk_{spec.pod_name}_{spec.pod_namespace}_{spec.pod_uid[:8]}"

    async def create_sandbox(self, spec: SandboxSpec) -> Sandbox:
        return await self._run(self._create_sandbox, spec, slow=True)

    def _create_sandbox(self, spec: SandboxSpec) -> Sandbox:
        labels = sandbox_labels(spec, self.node_name)
        name = self._sandbox_name(spec)
        body: dict[str, Any] = {"labels": labels, "infra_name": f"{name}_infra"}
        if spec.hostname:
            body["hostname"] = spec.hostname
        body.update(sandbox_network_fields(self._pod_network, spec.dns))
        if self.infra_image:
            body["infra_image"] = self.infra_image
        try:
            pod_id = self._post_pod_create(name, body)
        except APIError as err:
            if "already exists" not in error_message(err):
                raise ContainerRuntimeError(f"create sandbox {name}: {error_message(err)}") from None
            # A sandbox of this name is one an earlier attempt left behind (its create call
            # answered too late, or its start failed halfway): the name carries the Pod's uid,
            # so it is this Pod's and never ran a container. Remove it and create afresh.
            self._remove_sandbox(name)
            try:
                pod_id = self._post_pod_create(name, body)
            except APIError as again:
                raise ContainerRuntimeError(f"create sandbox {name}: {error_message(again)}") from None
        try:
            response = self._api.post(f"/pods/{pod_id}/start", timeout=self.api_timeout)
            response.raise_for_status()
            report = response.json() if response.status_code == 200 and response.content else {}
            errs = [e for e in (report.get("Errs") or []) if e]
            if errs:
                raise ContainerRuntimeError(f"start sandbox {name}: {'; '.join(map(str, errs))}")
        except (APIError, ContainerRuntimeError) as err:
            self._remove_sandbox(pod_id)
            if isinstance(err, ContainerRuntimeError):
                raise
            raise ContainerRuntimeError(f"start sandbox {name}: {error_message(err)}") from None
        sandbox = self._sandbox(pod_id)
        if sandbox is None:
            raise ContainerRuntimeError(f"sandbox {name} vanished right after it was created")
        return sandbox

    def _post_pod_create(self, name: str, body: dict[str, Any]) -> str:
        """The REST call itself: podman-py's pods.create would inspect the new pod once more
        (a round trip a pod start does not need: the sandbox is inspected once it runs)."""
        created = self._api.post("/pods/create", data=json.dumps({"name": name, **body}),
                                 timeout=self.api_timeout)
        created.raise_for_status()
        return created.json()["Id"]

    def _sandbox(self, pod_id: str, pod: dict[str, Any] | None = None) -> Sandbox | None:
        """A Sandbox from the pod (inspect or list entry) and its infra container's inspect."""
        if pod is None:
            try:
                pod = self._get_json(f"/pods/{pod_id}/json")
            except NotFound:
                return None
        infra_id = pod.get("InfraContainerID") or pod.get("InfraId") or ""
        return sandbox_from(pod_id, pod, self._inspect_container(infra_id) if infra_id else None)

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
            raise ContainerRuntimeError(f"stop sandbox: {error_message(err)}") from None

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
            raise ContainerRuntimeError(f"remove sandbox: {error_message(err)}") from None

    async def list_sandboxes(self) -> list[Sandbox]:
        return await self._run(self._list_sandboxes)

    def _list_sandboxes(self) -> list[Sandbox]:
        try:
            pods = self._get_json("/pods/json", params={"filters": self._labels_filter()}) or []
        except APIError as err:
            raise ContainerRuntimeError(error_message(err)) from None
        out = []
        for pod in pods:
            if not self._ours(pod.get("Labels")):
                continue
            sandbox = self._sandbox(pod.get("Id", ""), pod)
            if sandbox is not None:
                out.append(sandbox)
        return out

    # ------------------------------------------------------------------ containers

    async def create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        return await self._run(self._create_container, sandbox_id, spec)

    def _create_container(self, sandbox_id: str, spec: ContainerSpec) -> str:
        payload = {"image": normalize_image(spec.image), "command": None,
                   **create_kwargs(self.node_name, self.ulimits, sandbox_id, spec)}
        # podman-py's own rendering of the arguments, then the REST call itself: its
        # containers.create would inspect the new container once more, a round trip a pod
        # start does not need (the kubelet asks for the status once the container runs).
        body = podman_api.prepare_body(self._client.containers._render_payload(payload))
        try:
            response = self._api.post("/containers/create", headers={"content-type": "application/json"},
                                      data=body, timeout=self.api_timeout)
            response.raise_for_status(not_found=ImageNotFound)
        except ImageNotFound as err:
            raise ImageNotPresentError(error_message(err)) from None
        except APIError as err:
            raise ContainerRuntimeError(error_message(err)) from None
        return response.json()["Id"]

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
            raise ContainerRuntimeError(error_message(err)) from None
        except APIError as err:
            message = error_message(err)
            self._start_errors[container_id] = (message, time.time())
            raise ContainerRuntimeError(message) from None
        self._start_errors.pop(container_id, None)

    def _status(self, attrs: dict[str, Any]) -> ContainerStatus:
        status = status_from_inspect(attrs)
        failed = self._start_errors.get(status.id)
        if failed is not None and status.state != CREATED:
            self._start_errors.pop(status.id, None)  # it did start after all
        return start_failed(status, *failed) if failed is not None and status.state == CREATED else status

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
            if not is_state_error(err):
                raise ContainerRuntimeError(error_message(err)) from None
        # Belt and braces: make sure it is really down before we return.
        attrs = self._inspect_container(container_id)
        if attrs is not None and STATES.get((attrs.get("State") or {}).get("Status", "")) == RUNNING:
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
        if STATES.get((attrs.get("State") or {}).get("Status", "")) == RUNNING:
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
            raise ContainerRuntimeError(error_message(err)) from None

    async def list_containers(self) -> list[ContainerStatus]:
        return await self._run(self._list_containers)

    def _list_containers(self) -> list[ContainerStatus]:
        """List by label, then inspect each: the list view has second-precision times and no
        OOMKilled, and list and status must agree for the PLEG's change detection."""
        try:
            entries = self._get_json("/containers/json",
                                     params={"all": True, "filters": self._labels_filter()}) or []
        except APIError as err:
            raise ContainerRuntimeError(error_message(err)) from None
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
            raise ContainerRuntimeError(error_message(err)) from None
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
        return ThreadStream(self._streams,
                            lambda pipe: read_events(pipe, self._new_client, self._ours, start_ns, self.node_name),
                            f"podman-events-{self.node_name}")

    # ------------------------------------------------------------------ exec, logs

    async def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]:
        """Run a command like ``podman exec``: (exit code, stdout+stderr as text).

        On timeout the output connection is cut and TimeoutError raised; the process itself
        may keep running in the container (Podman has no "kill exec session" call), exactly as
        an exec probe that hangs under Docker did.
        """
        if self._streams.closed:
            raise ContainerRuntimeError("runtime closed")
        loop = asyncio.get_running_loop()
        pipe: Pipe[bytes] = Pipe(loop)  # only for its attach/close: cuts the output stream
        future = loop.run_in_executor(self._slow_pool, run_exec, self._api, self._new_client, container_id,
                                      list(command), pipe, self.api_timeout)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pipe.close()
            raise TimeoutError(f"command {command!r} timed out after {timeout}s") from None
        finally:
            pipe.close()

    async def exec_session(self, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                           width: int = 0, height: int = 0) -> PodmanExecSession:
        """``kubectl exec``: ``podman exec`` against this node's service (see ``podman_exec``)."""
        status = await self.container_status(container_id)
        if status is None or status.state != RUNNING:
            raise ContainerRuntimeError("can only create exec sessions on running containers: container state improper")
        return await PodmanExecSession.start(self.url, container_id, list(command), stdin=stdin, tty=tty,
                                             width=width, height=height)

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        """The container's output as Podman stored it (stdout and stderr interleaved, in order).

        ``follow`` keeps the stream open until the container exits or the iterator is closed.
        """
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": bool(follow)}
        if tail is not None:
            params["tail"] = str(max(0, int(tail)))
        return ThreadStream(self._streams, lambda pipe: read_logs(pipe, self._new_client, container_id, params),
                             f"podman-logs-{container_id[:12]}", maxsize=64)


    # ------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        """Cut every open stream and stop the thread pools; idempotent."""
        if self._streams.closed:
            return
        self._streams.close_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._slow_pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
