"""Test helpers for the node environment (the lab itself lives in cluster.lab)."""

from __future__ import annotations

import time
import urllib.request

from apiserver_process import wait_for
from cluster.lab import NodeLab, environment_problems

__all__ = ["NodeLab", "environment_problems", "http_get", "pod_ip", "wait_for"]


def http_get(url: str, attempts: int = 50, delay: float = 0.1, timeout: float = 2.0) -> bytes:
    """GET with retries (a fresh httpd needs a few ms); run it in a netns executor thread."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.read()
        except OSError as exc:
            last = exc
            time.sleep(delay)
    raise AssertionError(f"GET {url} failed: {last!r}")


def pod_ip(client, pod) -> str:
    """The pod's IP: its infra container's address on the node's default network."""
    pod.reload()
    infra = client.containers.get(pod.attrs["InfraContainerID"])
    networks = infra.attrs["NetworkSettings"]["Networks"]
    return next(iter(networks.values()))["IPAddress"]
