"""``pykubectl port-forward``'s own decisions, without a server: the port specs (client-go's
parsePorts), a Service port mapped to its targetPort (named ones through the Pod's container
ports), which Pod of a selector is chosen, the listeners, and the per-connection pump over
socketpairs (the local client's EOF becomes ``data_closed``; the Pod's EOF reaches the client)."""

from __future__ import annotations

import socket

import pytest

from kubectl.errors import CliError
from kubectl.verbs.port_forward import deliver, listen_addresses, open_listeners, requests_from
from kubectl.verbs.port_forward_targets import (
    ForwardedPort,
    convert_named_ports,
    parse_ports,
    pick_pod,
    pod_selector,
    translate_service_ports,
)
from protos import apps_pb2, core_pb2, kubelet_pb2


def web_pod(name: str = "web", phase: str = "Running", ready: bool = True, node: str = "n1",
            restarts: int = 0, created: int = 100) -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name = name
    pod.metadata.creation_timestamp.seconds = created
    pod.spec.node_name = node
    container = pod.spec.containers.add(name="main", image="multi-worker:1.0")
    container.ports.add(name="http", container_port=8080)
    container.ports.add(name="metrics", container_port=9090)
    pod.status.phase = phase
    pod.status.conditions.add(type="Ready", status="True" if ready else "False")
    pod.status.container_statuses.add(name="main", restart_count=restarts)
    return pod


def service(*ports: core_pb2.ServicePort, cluster_ip: str = "10.96.0.20",
            selector: dict[str, str] | None = None) -> core_pb2.Service:
    svc = core_pb2.Service()
    svc.metadata.name = "client"
    svc.spec.cluster_ip = cluster_ip
    svc.spec.ports.extend(ports)
    svc.spec.selector.update({"app": "web"} if selector is None else selector)
    return svc


def port(number: int, target: int | str | None = None, name: str = "") -> core_pb2.ServicePort:
    spec = core_pb2.ServicePort(name=name, port=number)
    if isinstance(target, int):
        spec.target_port.int_val = target
    elif isinstance(target, str):
        spec.target_port.str_val = target
    return spec


# ------------------------------------------------------------------ port specs


def test_port_specs_as_client_go_parses_them() -> None:
    assert parse_ports(["8080", "9000:80", ":5000", "0:5001"]) == [
        ForwardedPort(8080, 8080), ForwardedPort(9000, 80), ForwardedPort(0, 5000), ForwardedPort(0, 5001)]


@pytest.mark.parametrize("spec, message", [
    ("1:2:3", "invalid port format '1:2:3'"),
    ("x:80", "error parsing local port 'x': strconv.ParseUint: parsing \"x\": invalid syntax"),
    ("80:70000", "error parsing remote port '70000': strconv.ParseUint: parsing \"70000\": value out of range"),
    ("8080:0", "remote port must be > 0"),
    ("0", "remote port must be > 0"),
])
def test_bad_port_specs_are_refused_in_client_gos_words(spec: str, message: str) -> None:
    with pytest.raises(CliError) as info:
        parse_ports([spec])
    assert str(info.value) == message


def test_a_pods_named_port_becomes_its_number() -> None:
    assert convert_named_ports(["http", "9000:metrics", "7000"], web_pod()) == ["8080", "9000:9090", "7000"]
    with pytest.raises(CliError, match="Pod 'web' does not have a named port 'grpc'"):
        convert_named_ports(["grpc"], web_pod())


# ------------------------------------------------------------------ services


def test_a_service_port_maps_to_its_target_port_and_keeps_the_local_port() -> None:
    svc = service(port(3050, 3000), port(80, "http", name="web"), port(9090))
    # Without LOCAL the local port is the Service port, as kubectl does.
    assert translate_service_ports(["3050", "8000:3050", "80", "web", "9090"], svc, web_pod()) == [
        "3050:3000", "8000:3000", "80:8080", "80:8080", "9090"]


def test_a_headless_service_forwards_to_the_same_port() -> None:
    assert translate_service_ports(["3050"], service(port(3050, 3000), cluster_ip="None"), web_pod()) == ["3050"]


def test_service_port_mistakes_name_the_service_or_the_pod() -> None:
    svc = service(port(3050, 3000), port(80, "grpc", name="rpc"))
    with pytest.raises(CliError, match="^Service client does not have a service port 4000$"):
        translate_service_ports(["4000"], svc, web_pod())
    with pytest.raises(CliError, match="^Service 'client' does not have a named port 'nope'$"):
        translate_service_ports(["nope"], svc, web_pod())
    with pytest.raises(CliError, match="^Pod 'web' does not have a named port 'grpc'$"):
        translate_service_ports(["80"], svc, web_pod())


def test_selectors_of_services_and_workloads() -> None:
    assert str(pod_selector(service(port(80), selector={"app": "web", "tier": "front"}))) == "app=web,tier=front"
    deployment = apps_pb2.Deployment()
    deployment.spec.selector.match_labels["app"] = "web"
    assert str(pod_selector(deployment)) == "app=web"
    with pytest.raises(CliError) as info:
        pod_selector(service(port(80), selector={}))
    assert str(info.value) == ("cannot attach to *v1.Service: invalid service 'client': "
                               "Service is defined without a selector")


def test_the_most_active_pod_is_chosen() -> None:
    pending = web_pod("pending", phase="Pending", ready=False, node="")
    unready = web_pod("unready", ready=False)
    restarted = web_pod("restarted", restarts=3)
    young, old = web_pod("young", created=200), web_pod("old", created=50)
    assert pick_pod([pending, unready, restarted, young, old]).metadata.name == "old"
    assert pick_pod([pending, unready, restarted]).metadata.name == "restarted"
    assert pick_pod([pending, unready]).metadata.name == "unready"
    assert pick_pod([]) is None


# ------------------------------------------------------------------ listening


def test_localhost_is_both_loopbacks_and_other_addresses_must_be_ips() -> None:
    assert listen_addresses(None) == [("127.0.0.1", True), ("::1", False)]
    assert listen_addresses(["127.0.0.2,::1"]) == [("127.0.0.2", True), ("::1", True)]
    with pytest.raises(CliError, match="^nowhere is not a valid IP$"):
        listen_addresses(["nowhere"])


def test_port_zero_is_one_free_port_and_a_taken_port_is_refused_with_nothing_left_open() -> None:
    listeners = open_listeners([ForwardedPort(0, 8080)], [("127.0.0.1", True), ("::1", False)])
    try:
        local = listeners[0][1].local
        assert local > 0 and all(f == ForwardedPort(local, 8080) for _, f in listeners)
        with pytest.raises(CliError) as info:
            open_listeners([ForwardedPort(0, 80), ForwardedPort(local, 8080)], [("127.0.0.1", True)])
        assert str(info.value) == (
            f"Unable to listen on port {local}: Listeners failed to create with the following errors: "
            f"[unable to create listener: Error listen tcp4 127.0.0.1:{local}: bind: address already in use]")
    finally:
        for sock, _ in listeners:
            sock.close()


# ------------------------------------------------------------------ the pump


def test_the_local_clients_bytes_then_its_eof_become_the_request_stream() -> None:
    client, conn = socket.socketpair()
    with client, conn:
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        client.shutdown(socket.SHUT_WR)  # half-close: the client still reads the answer
        start = kubelet_pb2.PortForwardStart(namespace="default", pod="web", port=8080)
        messages = list(requests_from(conn, start))
    assert [m.WhichOneof("input") for m in messages] == ["start", "data", "data_closed"]
    assert messages[0].start == start and messages[1].data == b"GET / HTTP/1.0\r\n\r\n"


def test_the_pods_bytes_reach_the_local_client_and_then_its_eof() -> None:
    client, conn = socket.socketpair()
    with client, conn:
        outputs = [kubelet_pb2.PortForwardOutput(data=b"HTTP/1.0 200 OK\r\n"),
                   kubelet_pb2.PortForwardOutput(data=b"\r\nhello")]
        assert deliver(iter(outputs), conn) == ""
        received = b""
        while chunk := client.recv(1024):
            received += chunk
        assert received == b"HTTP/1.0 200 OK\r\n\r\nhello"
        client.sendall(b"late")  # only the Pod's side was closed


def test_the_pods_error_ends_the_connection_and_is_returned() -> None:
    client, conn = socket.socketpair()
    with client, conn:
        error = kubelet_pb2.PortForwardOutput(error="error forwarding port 8080 to pod abc, uid : refused")
        assert deliver(iter([error]), conn) == "error forwarding port 8080 to pod abc, uid : refused"
