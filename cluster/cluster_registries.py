"""A local cluster's registries: the lab registry and, with ``--registry-upstream``, its cache.

* ``registry`` (``<state>/registry``): stands in for Docker Hub; holds the lab images and what
  ``pykube image load`` pushed. Every node pulls ``docker.io/...`` from it first.
* ``registry-cache`` (``<state>/registry-cache``): only with ``--registry-upstream URL``, a
  second ``docker-registry`` in proxy mode, a pull-through cache of that registry: an image
  the lab lacks is fetched from upstream once and kept. A registry in proxy mode refuses
  pushes, hence two processes; the nodes' registries.conf tries the lab registry, then the cache.

Both are processes with a PID file (``registry.pid``), started by `up`, stopped by `down`, and
their storage (the images) outlives `down`, as the apiserver's data does.
"""

from __future__ import annotations

from collections.abc import Callable

from cluster.images import build_and_push_lab_images
from cluster.registry import LocalRegistry, pid_alive
from cluster.state_dir import ClusterError, ClusterSpec, ComponentStatus, StateDir
from cluster.supervise import read_pid


class ClusterRegistries:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def lab(self) -> LocalRegistry:
        return LocalRegistry(self.state.registry_dir, log_path=self.state.log_path("registry"))

    def cache(self, upstream: str | None = None) -> LocalRegistry:
        return LocalRegistry(self.state.registry_cache_dir, log_path=self.state.log_path("registry-cache"),
                             proxy_remote=upstream)

    def start(self, spec: ClusterSpec, out: Callable[[str], None]) -> None:
        """Start the lab registry with the lab images (and the cache); record their addresses."""
        registry = self.lab().start()
        spec.registry = registry.address
        spec.save(self.state.spec_path)
        build_and_push_lab_images(registry)
        out(f"registry on {registry.address} with the lab images")
        if spec.registry_upstream:
            cache = self.cache(spec.registry_upstream).start()
            spec.registry_cache = cache.address
            spec.save(self.state.spec_path)
            out(f"registry cache on {cache.address}: a pull-through cache of {spec.registry_upstream}")

    def stop(self) -> None:
        self.lab().stop()
        self.cache().stop()

    def leftovers(self) -> bool:
        """A PID file a clean `down` would have removed."""
        return any(r.pid_file.exists() for r in (self.lab(), self.cache()))

    @staticmethod
    def _running(registry: LocalRegistry) -> tuple[int | None, bool]:
        pid = read_pid(registry.pid_file)
        return pid, pid is not None and pid_alive(pid, str(registry.config_path))

    def rows(self, spec: ClusterSpec) -> list[ComponentStatus]:
        """``pykube status`` rows."""
        lab = self.lab()
        rows = [ComponentStatus("registry", *self._running(lab), spec.registry or "-", lab.log_path)]
        if spec.registry_upstream:
            cache = self.cache()
            rows.append(ComponentStatus("registry-cache", *self._running(cache),
                                        f"{spec.registry_cache or '-'} caching {spec.registry_upstream}",
                                        cache.log_path))
        return rows

    def address(self, spec: ClusterSpec | None) -> str:
        """``127.0.0.1:PORT`` of the running lab registry (where ``image load`` pushes)."""
        if spec is None or not spec.registry or not self._running(self.lab())[1]:
            raise ClusterError(f"the cluster's registry is not running (no cluster up in {self.state.state_dir}?)")
        return spec.registry
