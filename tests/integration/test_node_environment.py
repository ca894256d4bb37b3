"""The environment a pykube node runs in, with real Podman: registry, images, sealed nodes.

One lab for the whole module (a registry with the lab images, nodes n1 and n2, each with its
own Podman service, storage and network namespace); the tests run in file order and the last
one tears the lab down and checks that nothing is left: no mounts, namespaces or processes.
Not skipped when root or Podman is missing: that is a broken setup, so it fails loudly.
"""

from __future__ import annotations

import os
import subprocess
import time

import podman
import pytest

# node_env_fixtures first: it puts the repo root on sys.path for the `cluster` package.
from node_env_fixtures import NodeLab, environment_problems, http_get, pod_ip

from cluster import netns
from cluster.podman_node import pids_in_netns
from cluster.registry import pid_alive
from component_base.netns import netns_executor

WEB = "docker.io/library/multi-worker:1.0"
BUSYBOX = "docker.io/library/busybox:1.36"
CRASHLOOP = "docker.io/library/crashloop:1.0"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    problems = environment_problems()
    if problems:
        pytest.fail("cannot run the node environment tests: " + "; ".join(problems))
    lab = NodeLab(tmp_path_factory.mktemp("nodeenv"))
    try:
        lab.start()
    except BaseException:
        lab.cleanup()
        raise
    yield lab
    lab.cleanup()  # idempotent; the last test already did it when all went well


@pytest.fixture(scope="module")
def clients(lab):
    made = {name: podman.PodmanClient(base_url=node.url) for name, node in lab.nodes.items()}
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(scope="module")
def web_pod(lab, clients):
    """A pod on n1 running the multi-worker image (pulled first), and its IP."""
    client = clients["n1"]
    client.images.pull(WEB, tls_verify=False)
    pod = client.pods.create("web")
    client.containers.create(WEB, pod=pod.id, name="web-main")
    pod.start()
    return pod, pod_ip(client, pod)


def test_registry_serves_the_lab_images(lab):
    course = [f"docker.io/library/course-{part}:1.0" for part in ("kv", "api", "web", "worker", "agent", "migrate")]
    assert lab.images == [WEB, WEB.replace(":1.0", ":2.0"), "docker.io/library/multi-client:1.0", BUSYBOX, CRASHLOOP,
                          *course]
    assert set(lab.registry.catalog()) >= {"library/multi-worker", "library/busybox", "library/crashloop",
                                           "library/course-kv"}


def test_node_namespaces_are_sealed(lab):
    for node in lab.nodes.values():
        assert netns.netns_exists(node.netns_name)
        assert not netns.has_default_route(node.netns_name), netns.routes(node.netns_name)
        # Podman's service really runs in the node's namespace, not the root one.
        assert node.service_pid() in pids_in_netns(node.netns_path)


def test_each_node_pulls_through_its_relay(lab, clients):
    for name, client in clients.items():
        image = client.images.pull(WEB, tls_verify=False)
        assert image.id is not None, f"pull of {WEB} on {name} failed (podman-py gives id None)"
        assert WEB in image.tags


def test_pod_answers_http_from_inside_the_node(lab, web_pod):
    _pod, ip = web_pod
    assert ip, "the pod has no IP"
    with netns_executor(lab.nodes["n1"].netns_path) as pool:
        body = pool.submit(http_get, f"http://{ip}:8080/").result(timeout=30)
    assert b"multi-worker" in body


def test_image_caches_are_separate(lab, clients):
    for client in clients.values():
        assert client.images.pull(BUSYBOX, tls_verify=False).id is not None
    clients["n1"].images.remove(BUSYBOX)
    assert not clients["n1"].images.exists(BUSYBOX)
    assert clients["n2"].images.exists(BUSYBOX)


def test_ipam_is_per_node(lab, clients, web_pod):
    """n2's first pod gets the very address n1's first pod has: two IPAM databases."""
    _n1_pod, n1_ip = web_pod
    client = clients["n2"]
    pod = client.pods.create("web")
    client.containers.create(WEB, pod=pod.id, name="web-main")
    pod.start()
    n2_ip = pod_ip(client, pod)
    assert n2_ip == n1_ip
    with netns_executor(lab.nodes["n2"].netns_path) as pool:
        assert b"multi-worker" in pool.submit(http_get, f"http://{n2_ip}:8080/").result(timeout=30)


def test_events_are_per_node(lab, clients, web_pod):
    """The kubelet watches its node's event stream: it must not see other nodes' containers."""
    until = int(time.time()) + 1
    n1_ids = {c.id for c in clients["n1"].containers.list(all=True)}
    n2_events = list(clients["n2"].events(since=1, until=until, decode=True))
    assert n2_events, "n2 recorded no events"
    assert not n1_ids & {e.get("Actor", {}).get("ID") for e in n2_events}


def test_crashloop_image_exits_1(lab, clients):
    client = clients["n2"]
    client.images.pull(CRASHLOOP, tls_verify=False)
    ctr = client.containers.create(CRASHLOOP, name="crasher")
    ctr.start()
    assert ctr.wait(condition="exited") == 1
    assert b"crashing" in b"".join(ctr.logs())


def test_remote_cli_kills_a_container(lab, clients):
    node = lab.nodes["n2"]
    client = clients["n2"]
    ctr = client.containers.run(BUSYBOX, ["sleep", "300"], name="sleeper", detach=True)
    ps = node.remote("ps", "--format", "{{.ID}} {{.Names}}")
    assert "sleeper" in ps.stdout
    node.remote("kill", ctr.id)
    assert ctr.wait(condition="exited") == 137  # SIGKILL
    ctr.reload()
    assert ctr.status == "exited"


def test_cleanup_leaves_nothing(lab):
    lab.remember_pids()
    netns_names = [node.netns_name for node in lab.nodes.values()]
    base = lab.base
    lab.cleanup()
    assert lab.leftover_mounts() == []
    assert not any(line.split()[4].startswith(str(base)) for line in open("/proc/self/mountinfo"))
    for name in netns_names:
        assert not netns.netns_exists(name), name
    survivors = [pid for pid in lab.seen_pids if pid_alive(pid)]
    assert survivors == [], subprocess.run(["ps", "-o", "pid,args", "-p",
                                            ",".join(map(str, survivors))],
                                           capture_output=True, text=True).stdout
    assert not os.path.exists(base)
