"""``python -m proxy.main`` end to end: a real apiserver, Services and EndpointSlices written by
hand, the proxy process programming node1 of the namespace lab (tests/integration/proxy_netlab.py);
then SIGTERM, a restart that finds the world changed, and --cleanup."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dnslib import DNSRecord

from apiserver_process import REPO_ROOT, repo_env
from client.api import AsyncAPI
from proxy.routes import ROUTE_PROTO
from proxy_netlab import ECHO_PORT, NETAVARK, NetLab, sh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "proxy"))
from proxy_testlib import endpoint_slice, node, service  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("nft") is None or not NETAVARK,
                                reason="needs nftables and netavark (scripts/bootstrap.sh as root)")
WEB, OTHER = "10.96.0.20", "10.96.0.30"


class ProxyProcess:
    def __init__(self, server: str, netns: str, log_path: Path) -> None:
        self.log_path = log_path
        self.argv = [sys.executable, "-m", "proxy.main", "--server", server, "--node-name", "n1",
                     "--netns", netns]
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ProxyProcess":
        self.log_path.write_text("")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, env=repo_env(), cwd=REPO_ROOT)
        wait_until("proxy running", lambda: any(e.get("event") == "proxy running" for e in self.events()),
                   lambda: self.proc.poll() is None, self.log_path)
        return self

    def events(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def wait_until(what: str, check, alive=lambda: True, log: Path | None = None, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        assert alive(), f"process died while waiting for {what}:\n{log.read_text() if log else ''}"
        time.sleep(0.02)
    raise TimeoutError(f"no {what} within {timeout}s")


async def write(server: str, *objects) -> None:
    api = AsyncAPI(server)
    try:
        for obj in objects:
            if obj.kind == "Node":
                status = type(obj.status)()
                status.CopyFrom(obj.status)
                created = await api.create(obj)
                created.status.CopyFrom(status)
                await api.update_status(created)
            else:
                await api.create(obj)
    finally:
        await api.close()


async def replace_endpoints(server: str, name: str, addresses: list[str]) -> None:
    api = AsyncAPI(server)
    try:
        current = await api.get("EndpointSlice", f"{name}-abcde", "default")
        del current.endpoints[:]
        for address in addresses:
            current.endpoints.add(addresses=[address], node_name="n1")
        await api.update(current)
    finally:
        await api.close()


async def delete(server: str, kind: str, name: str) -> None:
    api = AsyncAPI(server)
    try:
        await api.delete(kind, name, "default")
    finally:
        await api.close()


def test_proxy_process_programs_serves_dns_restarts_and_cleans_up(apiserver, tmp_path):
    lab = NetLab().build()
    node1 = lab.ns("node1")
    try:
        asyncio.run(write(apiserver.address,
                          node("n1", "10.88.1.0/24", "10.87.0.2"), node("n2", "10.88.2.0/24", "10.87.0.3"),
                          service("web", WEB, [("http", "TCP", 80)]),
                          endpoint_slice("web", [("http", "TCP", ECHO_PORT)], [("10.88.1.2", True, "n1")])))
        proxy = ProxyProcess(apiserver.address, lab.path("node1"), tmp_path / "proxy.log").start()

        assert lab.tcp("client", WEB, 80)[0] == "pod1"
        reply = lab.run_in("client", lambda: DNSRecord.parse(
            DNSRecord.question("web.default.svc.cluster.local").send("10.96.0.10", 53, timeout=2)))
        assert [str(r.rdata) for r in reply.rr] == [WEB]
        assert "10.88.2.0/24 via 10.87.0.3" in sh("ip", "route", "show", "proto", str(ROUTE_PROTO), netns=node1)

        asyncio.run(replace_endpoints(apiserver.address, "web", ["10.88.1.3"]))
        wait_until("the new endpoint", lambda: lab.tcp("client", WEB, 80)[0] == "pod2", timeout=5)

        assert proxy.stop() == 0
        assert WEB in sh("nft", "list", "table", "ip", "pykube-proxy", netns=node1)  # left in place
        asyncio.run(delete(apiserver.address, "Service", "web"))
        asyncio.run(write(apiserver.address, service("other", OTHER, [("", "TCP", 80)])))
        proxy.start()
        table = sh("nft", "list", "table", "ip", "pykube-proxy", netns=node1)
        assert WEB not in table and OTHER in table  # rebuilt from API state: nothing stale
        with pytest.raises(ConnectionRefusedError):
            lab.tcp("client", OTHER, 80)  # no endpoints: rejected
        assert proxy.stop() == 0

        cleanup = subprocess.run([*proxy.argv, "--cleanup"], env=repo_env(), cwd=REPO_ROOT,
                                 capture_output=True, text=True)
        assert cleanup.returncode == 0, cleanup.stderr
        assert "pykube-proxy" not in sh("nft", "list", "tables", netns=node1)
        assert sh("ip", "route", "show", "proto", str(ROUTE_PROTO), netns=node1).strip() == ""
        assert "pykube-dns" not in sh("ip", "link", "show", netns=node1)
    finally:
        lab.close()
