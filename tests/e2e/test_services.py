"""Services, the cluster network and DNS end to end, on the e2e session's `pykube up --nodes 3`.

The course's pair applied as a user does (examples/: multi-worker + its ClusterIP Service,
multi-client + its NodePort Service), a headless Service, and a busybox Pod pinned to n1 from
which every request is made with `pykubectl exec` (one exec runs a whole loop of requests, so
the figures are the network's, not exec's):

* `wget http://multi-worker:8080` resolves through the Pod's resolv.conf search path and the
  cluster DNS, and answers; the multi-client page names the Pod that served it, so many requests
  through its ClusterIP show answers from Pods on n2 and n3 (other nodes: host-gw routes, DNAT);
* DNS: the Service's name gives its ClusterIP; the headless Service gives one A per Pod;
* the Pod serving requests is deleted (grace period 1 s, so it is gone right after) while a loop
  of requests (1 s timeout each) runs: every request started 1 s or more after the deletion
  succeeds, and none of them reaches that Pod;
* NodePort 31515 answers on the host's 127.0.0.1, from Pods on several nodes;
* n3 loses power: once its Pods are replaced, no endpoint is left on it and every request is
  answered (inside the cluster and through the NodePort);
* `pykubectl port-forward svc/client-node-port` carries a request to a Pod.

The tests run in order on one cluster, as one story; the last one deletes what they made.
Everything waits for an event with a deadline; nothing sleeps a fixed time."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass

from cluster.registry import free_port
from e2e_support import (EXAMPLES, REPO_ROOT, kubectl, kubectl_argv, kubectl_env, list_objects, live, running,
                         stub, wait_for)
from protos import api_pb2

MANIFESTS = [EXAMPLES / name for name in ("multi-worker.yaml", "multi-worker-service.yaml", "multi-client.yaml",
                                          "client-node-port.yaml")]
CLIENT_SERVICE, CLIENT_PORT, NODE_PORT = "client-node-port", 3050, 31515
WORKERS, CLIENTS = "component=worker", "component=web"
PROBE = "net-probe"
EXTRA = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {PROBE}
spec:
  nodeSelector:
    kubernetes.io/hostname: n1
  terminationGracePeriodSeconds: 1   # the shell, as PID 1, ignores SIGTERM
  containers:
    - name: probe
      image: docker.io/library/busybox:1.36
      # A shell as PID 1, not `sleep`: busybox `timeout` leaves a watcher process behind for
      # each request, orphaned to PID 1; the shell reaps them, `sleep` would leave thousands of
      # zombies that fill the container's pids limit (then fork and exec fail).
      command: ["sh", "-c", "while true; do sleep 1; done"]
---
apiVersion: v1
kind: Service
metadata:
  name: multi-worker-headless
spec:
  clusterIP: None
  selector:
    component: worker
  ports:
    - name: http
      port: 8080
"""
SERVED_BY = re.compile(r"served by (\S+)")


def pods(cluster, selector: str) -> list:
    return list_objects(cluster, "Pod", label_selector=selector)


def running_pods(cluster, selector: str, want: int):
    """The `want` Pods of selector, once all of them run (a terminating one is not counted)."""
    current = [p for p in pods(cluster, selector) if running(p)]
    return current if len(current) == want and len([p for p in pods(cluster, selector) if live(p)]) == want else None


def node_of(cluster) -> dict[str, str]:
    """Pod name -> node name, for every Pod of the namespace."""
    return {p.metadata.name: p.spec.node_name for p in list_objects(cluster, "Pod")}


def exec_in_probe(cluster, script: str, timeout: float = 90) -> str:
    done = kubectl(cluster, "exec", PROBE, "--", "sh", "-c", script, timeout=timeout)
    assert done.returncode == 0, f"exec {script!r}: {done.stdout}{done.stderr}"
    return done.stdout


def fetch_loop(url: str, times: int) -> str:
    """A shell loop in the probe Pod: `times` fresh connections to url, each answer (or the
    failure) on its own line. (The lab's busybox wget has no working -T: `timeout` bounds it.)"""
    return f'for i in $(seq {times}); do timeout 2 wget -qO- {url} 2>&1 || echo "FAILED rc=$?"; echo; done'


def served_by(text: str) -> list[str]:
    return SERVED_BY.findall(text)


def endpoint_addresses(cluster, service: str) -> set[str]:
    slices = list_objects(cluster, "EndpointSlice", label_selector=f"kubernetes.io/service-name={service}")
    return {address for s in slices for e in s.endpoints
            if not e.conditions.HasField("ready") or e.conditions.ready for address in e.addresses}


def cluster_ip(cluster, service: str) -> str:
    got = stub(cluster).Get(api_pb2.GetRequest(kind="Service", namespace="default", name=service), timeout=10)
    return got.service.spec.cluster_ip


def test_apply_the_services_and_their_pods(cluster):
    applied = kubectl(cluster, "apply", *[a for m in MANIFESTS for a in ("-f", str(m))], "-f", "-", stdin=EXTRA)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for line in ("service/multi-worker created", f"service/{CLIENT_SERVICE} created",
                 "service/multi-worker-headless created", f"pod/{PROBE} created"):
        assert line in applied.stdout

    workers = wait_for("4 multi-worker Pods Running", lambda: running_pods(cluster, WORKERS, 4), timeout=120)
    clients = wait_for("3 multi-client Pods Running", lambda: running_pods(cluster, CLIENTS, 3), timeout=120)
    wait_for(f"{PROBE} Running on n1", lambda: [p for p in pods(cluster, "") if p.metadata.name == PROBE
                                                and running(p) and p.spec.node_name == "n1"], timeout=120)
    # The EndpointSlices list exactly the Ready Pods' IPs.
    worker_ips = {p.status.pod_ip for p in workers}
    wait_for("multi-worker's endpoints", lambda: endpoint_addresses(cluster, "multi-worker") == worker_ips)
    client_ips = {p.status.pod_ip for p in clients}
    wait_for(f"{CLIENT_SERVICE}'s endpoints", lambda: endpoint_addresses(cluster, CLIENT_SERVICE) == client_ips)
    # What the next tests need: clients on the nodes the probe is not on.
    assert {"n2", "n3"} <= {p.spec.node_name for p in clients}, [(p.metadata.name, p.spec.node_name) for p in clients]

    table = kubectl(cluster, "get", "svc")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert rows[CLIENT_SERVICE][1] == "NodePort" and f"{CLIENT_PORT}:{NODE_PORT}/TCP" in rows[CLIENT_SERVICE]
    assert rows["multi-worker-headless"][2] == "None"


def test_a_pod_on_n1_reaches_the_service_by_name_and_pods_on_the_other_nodes_answer(cluster):
    # By its short name: resolv.conf's search path, the cluster DNS, the ClusterIP's DNAT.
    out = exec_in_probe(cluster, fetch_loop("http://multi-worker:8080/", 20))
    assert out.count("<h1>multi-worker</h1>") == 20, out
    # The multi-client page names its Pod: many fresh connections reach Pods on every node.
    out = exec_in_probe(cluster, fetch_loop(f"http://{CLIENT_SERVICE}:{CLIENT_PORT}/", 40))
    assert "FAILED" not in out, out
    answered = served_by(out)
    assert len(answered) == 40, out
    nodes = Counter(node_of(cluster).get(name) for name in answered)
    assert {"n2", "n3"} <= set(nodes), nodes


def address_lines(nslookup_output: str) -> set[str]:
    """The addresses busybox nslookup printed for the name (not the server's `ip:53` line)."""
    return set(re.findall(r"^Address:\s*([0-9.]+)\s*$", nslookup_output, re.MULTILINE))


def test_dns_answers_the_cluster_ip_and_one_address_per_pod_of_a_headless_service(cluster):
    ip = cluster_ip(cluster, "multi-worker")
    assert ip.startswith("10.96.")
    out = exec_in_probe(cluster, "nslookup multi-worker.default.svc.cluster.local")
    assert address_lines(out) == {ip}, out
    out = exec_in_probe(cluster, "cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in out and "search default.svc.cluster.local svc.cluster.local cluster.local" in out

    worker_ips = {p.status.pod_ip for p in running_pods(cluster, WORKERS, 4)}
    out = exec_in_probe(cluster, "nslookup multi-worker-headless.default.svc.cluster.local")
    assert address_lines(out) == worker_ips, out
    missing = kubectl(cluster, "exec", PROBE, "--", "nslookup", "no-such-service.default.svc.cluster.local")
    assert missing.returncode != 0 and "NXDOMAIN" in missing.stdout + missing.stderr


@dataclass(frozen=True)
class Request:
    started: float  # CLOCK_BOOTTIME seconds, as /proc/uptime shows them in the Pod
    ok: bool
    pod: str | None  # who answered
    said: str = ""  # the answer or wget's complaint
    code: int = 0  # wget's exit code (143: `timeout` stopped it, nothing answered within 1 s)


class StreamedExec:
    """`pykubectl exec` in the background, its output lines handed over as they arrive."""

    def __init__(self, cluster, script: str) -> None:
        self.proc = subprocess.Popen(kubectl_argv("exec", PROBE, "--", "sh", "-c", script), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=kubectl_env(cluster), cwd=REPO_ROOT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        if line is not None:
            self.seen.append(line)
        return line

    def finish(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while self.next_line(deadline) is not None:
            pass
        assert self.proc.wait(max(0.0, deadline - time.monotonic())) == 0, "\n".join(self.seen[-20:])
        return self.seen

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def parse_requests(lines: list[str]) -> list[Request]:
    """`<uptime> <wget exit code> <answer>` lines of the loop below."""
    out = []
    for line in lines:
        match = re.match(r"^(\d+\.\d+) (\d+) ?(.*)$", line)
        if match:
            who = served_by(match.group(3))
            out.append(Request(float(match.group(1)), match.group(2) == "0", who[0] if who else None,
                               match.group(3), int(match.group(2))))
    return out


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def test_a_deleted_pod_gets_no_request_one_second_after_its_deletion(cluster):
    seconds = 12
    loop = (f'end=$(( $(date +%s) + {seconds} )); while [ "$(date +%s)" -lt "$end" ]; do '
            f'read up rest < /proc/uptime; out=$(timeout 1 wget -qO- http://{CLIENT_SERVICE}:{CLIENT_PORT}/ 2>&1); '
            f'echo "$up $? $out"; done')
    stream = StreamedExec(cluster, loop)
    try:
        # The Pod serving requests: the one that answered the third successful request.
        deadline = time.monotonic() + 30
        answered: list[str] = []
        while len(answered) < 3:
            line = stream.next_line(deadline)
            assert line is not None, "\n".join(stream.seen)
            answered += [r.pod for r in parse_requests([line]) if r.ok and r.pod]
        victim = answered[-1]
        victim_node = node_of(cluster).get(victim)
        deleted_at = boottime()
        # A 1 s grace period: httpd (PID 1) ignores SIGTERM, so the Pod is killed 1 s after the
        # deletion; a node still sending it connections after that would see them fail.
        stub(cluster).Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name=victim,
                                                   grace_period_seconds=1), timeout=10)
        lines = stream.finish(timeout=seconds + 30)
    finally:
        stream.kill()

    after = [r for r in parse_requests(lines) if r.started >= deleted_at + 1.0]
    assert len(after) >= 20, lines  # enough requests after the deadline for the claim to mean something
    failed = [r for r in after if not r.ok]
    assert not failed, (f"{len(failed)} of {len(after)} requests failed 1 s or more after the deletion, from "
                        f"{failed[0].started - deleted_at:.2f} s to {failed[-1].started - deleted_at:.2f} s after it: "
                        f"{Counter((r.code, r.said) for r in failed).most_common(3)}; the deleted Pod {victim} was on "
                        f"{victim_node}, the Pods now: {node_of(cluster)}")
    to_victim = [r for r in after if r.pod == victim]
    assert not to_victim, f"{len(to_victim)} requests reached the deleted Pod {victim}"
    assert {r.pod for r in after} - {None}, "no request after the deletion named its Pod"
    # The loop's orphans were reaped by the probe's PID 1 (see EXTRA): no pile of zombies is
    # left to fill the container's pids limit for the tests after this one.
    zombies = exec_in_probe(cluster, "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l")
    assert int(zombies.strip()) < 50, f"{zombies.strip()} zombie processes in {PROBE}"
    wait_for("3 multi-client Pods Running again", lambda: running_pods(cluster, CLIENTS, 3), timeout=120)


def http_get(url: str, timeout: float = 2.0) -> str:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


def first_answer(url: str, timeout: float = 30.0) -> str:
    """The first answer of url (the publisher or the forward may take a moment to listen)."""
    def attempt() -> str | None:
        try:
            return http_get(url)
        except OSError:
            return None
    return wait_for(f"an answer from {url}", attempt, timeout=timeout)


def test_the_node_port_answers_on_the_hosts_loopback_from_pods_on_several_nodes(cluster):
    wait_for("3 multi-client Pods Running", lambda: running_pods(cluster, CLIENTS, 3), timeout=120)
    url = f"http://127.0.0.1:{NODE_PORT}/"
    assert served_by(first_answer(url))
    answered = [served_by(http_get(url))[0] for _ in range(40)]  # each a fresh connection
    nodes = Counter(node_of(cluster).get(name) for name in answered)
    assert len(nodes) >= 2 and None not in nodes, nodes


def test_after_a_node_power_cut_traffic_flows_without_stale_endpoints(cluster):
    """n3 loses power: once its Pods are replaced elsewhere, the Service's endpoints are exactly
    the new Pods (none left on n3), and every request (from the Pod on n1, and through the
    NodePort on the host) is answered by a Pod on a live node."""
    wait_for("3 multi-client Pods Running", lambda: running_pods(cluster, CLIENTS, 3), timeout=120)
    cluster.stop_node("n3")
    try:
        wait_for("n3 NotReady", lambda: cluster.node_states().get("n3") == "NotReady", timeout=60)

        def moved():
            now = running_pods(cluster, CLIENTS, 3)
            return now if now and all(p.spec.node_name != "n3" for p in now) else None
        clients = wait_for("3 multi-client Pods Running on n1 and n2", moved, timeout=120)
        ips = {p.status.pod_ip for p in clients}
        wait_for(f"{CLIENT_SERVICE}'s endpoints: the new Pods only",
                 lambda: endpoint_addresses(cluster, CLIENT_SERVICE) == ips, timeout=30)
        on_live_nodes = {p.metadata.name for p in clients}
        # The slice is written; n1's pykube-proxy programs it a moment later (the programming
        # latency): from the first answer on, every request must be answered by a live node.
        wait_for("an answer through the ClusterIP on n1", lambda: served_by(exec_in_probe(
            cluster, fetch_loop(f"http://{CLIENT_SERVICE}:{CLIENT_PORT}/", 1))), timeout=30)
        out = exec_in_probe(cluster, fetch_loop(f"http://{CLIENT_SERVICE}:{CLIENT_PORT}/", 20))
        assert "FAILED" not in out and len(served_by(out)) == 20, out
        assert set(served_by(out)) <= on_live_nodes, out
        answered = [served_by(http_get(f"http://127.0.0.1:{NODE_PORT}/"))[0] for _ in range(10)]
        assert set(answered) <= on_live_nodes, answered
    finally:
        cluster.start_node("n3")
    wait_for("n3 Ready again", lambda: cluster.node_states().get("n3") == "Ready", timeout=60)


def test_port_forward_to_a_service_reaches_one_of_its_pods(cluster):
    local = free_port()
    forward = subprocess.Popen(kubectl_argv("port-forward", f"svc/{CLIENT_SERVICE}", f"{local}:{CLIENT_PORT}"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=kubectl_env(cluster),
                               cwd=REPO_ROOT)
    try:
        page = first_answer(f"http://127.0.0.1:{local}/")
        clients = {p.metadata.name for p in pods(cluster, CLIENTS)}
        assert served_by(page) and served_by(page)[0] in clients, page
        again = http_get(f"http://127.0.0.1:{local}/")  # a second connection through the same forward
        assert served_by(again) == served_by(page), again  # kubectl forwards a Service to one Pod
    finally:
        forward.send_signal(signal.SIGINT)  # Ctrl-C: how a user stops it (exit 0, output flushed)
        try:
            output, _ = forward.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            forward.kill()
            output, _ = forward.communicate(timeout=10)
    assert f"Forwarding from 127.0.0.1:{local} -> 3000" in output, output


def test_deleting_the_services_and_deployments_leaves_nothing(cluster):
    # --grace-period 1 holds for what is deleted directly; the Deployments' Pods go by the garbage
    # collector with their own 30 s (httpd, as PID 1, ignores SIGTERM).
    deleted = kubectl(cluster, "delete", *[a for m in MANIFESTS for a in ("-f", str(m))], "-f", "-",
                      "--grace-period", "1", "--timeout", "90s", stdin=EXTRA, timeout=120)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    ours = {"multi-worker", "multi-worker-headless", CLIENT_SERVICE}

    def gone():
        services = {s.metadata.name for s in list_objects(cluster, "Service")}
        slices = [s for s in list_objects(cluster, "EndpointSlice")
                  if s.metadata.labels.get("kubernetes.io/service-name") in ours]
        return not list_objects(cluster, "Pod") and not services & ours and not slices
    wait_for("the Pods, Services and EndpointSlices gone", gone, timeout=90)
