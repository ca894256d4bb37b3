"""A node lab: a local registry with the lab images, and Podman nodes, each with its
own storage, API socket and sealed network namespace. Used by the integration tests
and the benchmarks: ``NodeLab(base).start()`` brings it up, ``cleanup()`` takes
everything down again (processes by PID, mounts, namespaces, state)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from cluster.images import build_and_push_lab_images
from cluster.podman_node import PodmanNode, mounts_under, pids_in_netns
from cluster.registry import LocalRegistry

REQUIRED_BINARIES = ("podman", "runc", "conmon", "docker-registry", "busybox", "nsenter",
                     "unshare", "ip", "iptables", "nft", "sysctl", "mount", "umount")  # nft, sysctl: pykube-proxy


def environment_problems() -> list[str]:
    """Why real-Podman node tests cannot run here (empty when they can).

    These tests are never skipped: CI runs as root after scripts/bootstrap.sh installed Podman,
    so a missing piece is a broken setup and must show up as a failure.
    """
    problems = []
    if os.geteuid() != 0:
        problems.append("node environment tests need root (network namespaces, rootful Podman)")
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        problems.append(f"missing binaries: {', '.join(missing)} (run scripts/bootstrap.sh as root)")
    return problems


@dataclass
class NodeLab:
    """A registry plus named nodes, all under ``base`` (kept short: unix socket paths <108)."""

    base: Path
    node_names: tuple[str, ...] = ("n1", "n2")
    cluster: str = field(default_factory=lambda: f"it{os.getpid()}")
    registry: LocalRegistry | None = None
    nodes: dict[str, PodmanNode] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)

    def start(self) -> "NodeLab":
        t0 = time.monotonic()
        self.registry = LocalRegistry(self.base / "registry").start()
        self.timings["registry"] = time.monotonic() - t0
        self.images = build_and_push_lab_images(self.registry)
        self.timings["images"] = time.monotonic() - t0
        for name in self.node_names:
            node = PodmanNode(name, self.base / name, self.registry.address, cluster=self.cluster)
            self.nodes[name] = node
            node.start()
        self.timings["nodes"] = time.monotonic() - t0
        self.remember_pids()
        return self

    def remember_pids(self) -> None:
        """Note every process the lab owns now, to check later that none survived cleanup."""
        if self.registry is not None and self.registry.proc is not None:
            self.seen_pids.add(self.registry.proc.pid)
        for node in self.nodes.values():
            pid = node.service_pid()
            if pid is not None:
                self.seen_pids.add(pid)
            if node.relay is not None and node.relay.proc is not None:
                self.seen_pids.add(node.relay.proc.pid)
            self.seen_pids.update(pids_in_netns(node.netns_path))

    def cleanup(self) -> None:
        errors = []
        for node in self.nodes.values():
            try:
                node.cleanup()
            except Exception as exc:  # keep going: the other nodes must go too
                errors.append(f"{node.name}: {exc!r}")
        if self.registry is not None:
            self.registry.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise RuntimeError("cleanup failed: " + "; ".join(errors))

    def leftover_mounts(self) -> list[str]:
        return mounts_under(self.base)
