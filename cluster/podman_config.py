"""The config files of one Podman instance (a lab node's, or the image builder's), and what
they need to know about this host.

Several nodes share one machine, yet each must behave like a separate computer, so each
Podman gets its own files, pointed at by environment variables (:meth:`PodmanConfig.env`):

* ``containers.conf`` (via ``CONTAINERS_CONF``, which *replaces* the system files): detected OCI
  runtime and cgroup manager, ``events_logger = "file"`` (journald would mix every node's
  events into one stream), ``log_driver = "k8s-file"`` (podman 4 cannot follow journald logs
  with file events), explicit ``default_ulimits`` (without them Podman raises limits to the
  host maximum, which needs CAP_SYS_RESOURCE), a per-node ``tmp_dir`` (alive file, exit files,
  events) and ``lock_type = "file"`` (the default SHM lock segment ``/dev/shm/libpod_lock`` is
  machine-wide, and a fresh Podman "refresh" frees every lock in it, other nodes' included);
* ``storage.conf`` (via ``CONTAINERS_STORAGE_CONF``): graphroot/runroot in the node's state dir,
  overlay when the kernel allows it here, vfs otherwise;
* ``registries.conf`` (via ``CONTAINERS_REGISTRIES_CONF``): ``docker.io`` is the local registry,
  reached through the node's relay on the node's own 127.0.0.1; no short-name search.

How a node's Podman service runs with these files is :mod:`cluster.podman_node`.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Outside the cluster CIDR (10.88.0.0/16), the service CIDR (10.96.0.0/16) and the cluster
# network (10.87.0.0/24); nothing in the cluster uses it.
PODMAN_DEFAULT_SUBNET = "10.86.0.0/24"


# --------------------------------------------------------------------------- host detection

def cgroup_v2() -> bool:
    """Unified hierarchy mounted at /sys/fs/cgroup (cgroup v2 only, not hybrid)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def systemd_booted() -> bool:
    """``sd_booted()``: systemd is PID 1 and can manage cgroups for Podman."""
    return os.path.isdir("/run/systemd/system")


def detect_oci_runtime() -> str:
    """crun where it is at home (cgroup v2), runc otherwise; ``PYKUBE_OCI_RUNTIME`` overrides.

    crun fails on some cgroup v1 hosts without CAP_SYS_RESOURCE where runc works, and on
    systemd + cgroup v2 machines crun is Podman's own default.
    """
    override = os.environ.get("PYKUBE_OCI_RUNTIME")
    if override:
        return override
    crun, runc = shutil.which("crun"), shutil.which("runc")
    if crun and cgroup_v2():
        return "crun"
    if runc:
        return "runc"
    if crun:
        return "crun"
    raise RuntimeError("no OCI runtime: install runc or crun (scripts/bootstrap.sh installs runc)")


def detect_cgroup_manager() -> str:
    """systemd when systemd runs the machine, cgroupfs otherwise (containers, no-init VMs)."""
    override = os.environ.get("PYKUBE_CGROUP_MANAGER")
    if override:
        return override
    return "systemd" if systemd_booted() else "cgroupfs"


def default_ulimits() -> list[str]:
    """Container rlimits that need no CAP_SYS_RESOURCE: at most what the Podman service has.

    Without explicit values Podman asks runc for nofile/nproc = 1048576, which only works with
    CAP_SYS_RESOURCE. The service raises its own nofile to its hard limit but sets its nproc to
    at most 32768 (seen with podman 4.3), and a container cannot go above conmon's hard limit,
    so: nofile = our hard limit (max 1048576), nproc = min(our hard limit, 32768). nproc counts
    every process of the user (root) on the machine, so it must not be small either.
    """
    def hard(which: int, cap: int) -> int:
        value = resource.getrlimit(which)[1]
        return cap if value == resource.RLIM_INFINITY else min(value, cap)

    nofile = hard(resource.RLIMIT_NOFILE, 1 << 20)
    nproc = hard(resource.RLIMIT_NPROC, 32768)
    return [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]


_overlay_ok: dict[str, bool] = {}


def overlay_supported(work_dir: Path) -> bool:
    """Can we mount overlayfs on this filesystem? Tried once in a throwaway mount namespace."""
    key = str(work_dir)
    if key in _overlay_ok:
        return _overlay_ok[key]
    probe = work_dir / ".overlay-probe"
    shutil.rmtree(probe, ignore_errors=True)
    for sub in ("lower", "upper", "work", "merged"):
        (probe / sub).mkdir(parents=True)
    opts = f"lowerdir={probe}/lower,upperdir={probe}/upper,workdir={probe}/work"
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                             "mount", "-t", "overlay", "overlay", "-o", opts, str(probe / "merged")],
                            capture_output=True)
    shutil.rmtree(probe, ignore_errors=True)
    _overlay_ok[key] = result.returncode == 0
    return _overlay_ok[key]


# --------------------------------------------------------------------------- config files

def _toml_str(value: str) -> str:
    return json.dumps(value)


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


@dataclass
class PodmanConfig:
    """The three config files of one Podman instance (a node, or the image builder)."""

    root: Path                       # state dir: storage/, run/, tmp/, networks/ ... live here
    registry_mirror: str | None = None  # "127.0.0.1:PORT" that docker.io maps to
    # Podman's own default network ("podman"), moved out of the cluster's address plan: Pods
    # join the network "pykube" on the node's podCIDR (made by the kubelet), and Podman refuses
    # a network whose subnet overlaps another's, its default one's (10.88.0.0/16) included.
    default_subnet: str = PODMAN_DEFAULT_SUBNET
    storage_driver: str | None = None  # None: overlay if it works here, else vfs
    registry_cache: str | None = None  # "127.0.0.1:PORT": a pull-through cache, tried after the mirror

    @property
    def containers_conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.root / "storage.conf"

    @property
    def registries_conf(self) -> Path:
        return self.root / "registries.conf"

    @property
    def graphroot(self) -> Path:
        return self.root / "storage"

    @property
    def runroot(self) -> Path:
        return self.root / "run"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def network_config_dir(self) -> Path:
        return self.root / "networks"

    @property
    def network_run_dir(self) -> Path:
        """Bound over /run/containers/networks in the node: IPAM db + aardvark-dns config."""
        return self.root / "network-run"

    @property
    def netns_run_dir(self) -> Path:
        """Bound over /run/netns in the node: container netns pins stay private to it."""
        return self.root / "netns-run"

    def env(self) -> dict[str, str]:
        """Environment that points podman (service or CLI) at these files."""
        return {
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            # netavark picks firewalld when it runs on the host; inside a node namespace we
            # want plain per-namespace iptables rules, never host firewall changes.
            "NETAVARK_FW": "iptables",
        }

    def render_containers_conf(self) -> str:
        network = [
            'network_backend = "netavark"',
            f"network_config_dir = {_toml_str(str(self.network_config_dir))}",
        ]
        network.append(f"default_subnet = {_toml_str(self.default_subnet)}")
        return "\n".join([
            "# Written by cluster/podman_config.py: one Podman instance of the pykube lab.",
            "[containers]",
            f"default_ulimits = {_toml_list(default_ulimits())}",
            'log_driver = "k8s-file"',
            "",
            "[network]",
            *network,
            "",
            "[engine]",
            f"runtime = {_toml_str(detect_oci_runtime())}",
            f"cgroup_manager = {_toml_str(detect_cgroup_manager())}",
            'events_logger = "file"',
            f"events_logfile_path = {_toml_str(str(self.tmp_dir / 'events' / 'events.log'))}",
            f"tmp_dir = {_toml_str(str(self.tmp_dir))}",
            'lock_type = "file"',
            f"image_copy_tmp_dir = {_toml_str(str(self.tmp_dir))}",
            'image_default_transport = "docker://"',
            "",
        ])

    def render_storage_conf(self, driver: str) -> str:
        lines = [
            "# Written by cluster/podman_config.py: this instance's own image cache and state.",
            "[storage]",
            f"driver = {_toml_str(driver)}",
            f"graphroot = {_toml_str(str(self.graphroot))}",
            f"runroot = {_toml_str(str(self.runroot))}",
        ]
        if driver == "overlay":
            lines += ["", "[storage.options.overlay]", 'mountopt = "nodev"']
        return "\n".join(lines) + "\n"

    def render_registries_conf(self) -> str:
        lines = [
            "# Written by cluster/podman_config.py: docker.io is the lab's local registry.",
            "unqualified-search-registries = []",
            'short-name-mode = "disabled"',
        ]
        if self.registry_mirror and self.registry_cache:
            # Mirrors are tried first, then the location: the lab's registry (lab images and
            # `pykube image load`), then the pull-through cache of the upstream registry.
            lines += [
                "",
                "[[registry]]",
                'prefix = "docker.io"',
                f"location = {_toml_str(self.registry_cache)}",
                "insecure = true",
                "[[registry.mirror]]",
                f"location = {_toml_str(self.registry_mirror)}",
                "insecure = true",
            ]
        elif self.registry_mirror:
            lines += [
                "",
                "[[registry]]",
                'prefix = "docker.io"',
                f"location = {_toml_str(self.registry_mirror)}",
                "insecure = true",
            ]
        for direct in filter(None, (self.registry_mirror, self.registry_cache)):
            lines += ["", "[[registry]]", f"location = {_toml_str(direct)}", "insecure = true"]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        for d in (self.root, self.graphroot, self.runroot, self.tmp_dir, self.network_config_dir,
                  self.network_run_dir, self.netns_run_dir):
            d.mkdir(parents=True, exist_ok=True)
        driver = self.storage_driver or ("overlay" if overlay_supported(self.root) else "vfs")
        self.storage_driver = driver
        self.containers_conf.write_text(self.render_containers_conf())
        self.storage_conf.write_text(self.render_storage_conf(driver))
        self.registries_conf.write_text(self.render_registries_conf())
