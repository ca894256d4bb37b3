"""Services against a real apiserver process and the real pykubectl: a NodePort Service is
applied and listed, its ClusterIP and nodePort survive an apiserver restart (the allocation
maps are rebuilt from the store), a second Service asking for the same nodePort is refused
with Kubernetes' message and exit 1, and deleting the first frees the port."""

from __future__ import annotations

from pathlib import Path

from apiserver_process import ApiserverProcess, run_kubectl

MANIFEST = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  type: NodePort
  selector:
    component: web
  ports:
  - port: 3050
    targetPort: 3000
    nodePort: 31515
"""


def test_node_port_service_lifecycle_across_a_restart(tmp_path: Path) -> None:
    server = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver.log").start()
    try:
        applied = run_kubectl(server.address, "apply", "-f", "-", stdin=MANIFEST.format(name="client-node-port"))
        assert (applied.code, applied.out) == (0, "service/client-node-port created\n"), applied.err
        got = run_kubectl(server.address, "get", "svc", "client-node-port", "-o", "jsonpath={.spec.clusterIP}")
        cluster_ip = got.out
        assert got.code == 0 and cluster_ip.startswith("10.96.")
        table = run_kubectl(server.address, "get", "services")
        assert table.out.splitlines()[1].split()[:5] == ["client-node-port", "NodePort", cluster_ip, "<none>",
                                                         "3050:31515/TCP"]

        server.stop()
        server = ApiserverProcess(tmp_path / "data", tmp_path / "apiserver-restarted.log").start()

        again = run_kubectl(server.address, "apply", "-f", "-", stdin=MANIFEST.format(name="client-node-port"))
        assert (again.code, again.out) == (0, "service/client-node-port unchanged\n"), again.err
        second = run_kubectl(server.address, "apply", "-f", "-", stdin=MANIFEST.format(name="second"))
        assert second.code == 1
        assert ('Service "second" is invalid: spec.ports[0].nodePort: Invalid value: 31515: '
                "provided port is already allocated") in second.err
        assert run_kubectl(server.address, "get", "svc", "second").code == 1  # nothing written

        deleted = run_kubectl(server.address, "delete", "svc", "client-node-port")
        assert deleted.code == 0, deleted.err
        freed = run_kubectl(server.address, "apply", "-f", "-", stdin=MANIFEST.format(name="second"))
        assert (freed.code, freed.out) == (0, "service/second created\n"), freed.err
    finally:
        server.stop()
