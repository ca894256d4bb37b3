"""The NodePort publisher against a real in-process apiserver: a NodePort Service becomes a
listener on the host, connections reach a Ready node (a local TCP server standing in for the
node's NodePort), a port taken on the host is a Warning Event, a deleted Service closes its
listener, a node that refuses is passed over. The "switch namespace" here is our own, and
the "nodes" are on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from cluster.nodeport_publisher import NodePortPublisher
from protos import core_pb2, meta_pb2

HOST = "127.0.0.2"  # where the publisher listens; the "node" answers on 127.0.0.1


def free_port() -> int:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b.bind((HOST, port))  # free on both addresses
        return port


def node_port_service(name: str, node_port: int) -> core_pb2.Service:
    service = core_pb2.Service(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                               spec=core_pb2.ServiceSpec(type="NodePort"))
    service.spec.ports.add(port=80, protocol="TCP", node_port=node_port)
    return service


async def until(check, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return result


def test_publishes_relays_reports_and_unpublishes():
    async def main():
        # NodePorts from any free port here (the default range 30000-32767 may be in use).
        server = APIServer(ServerConfig(listen="127.0.0.1:0", service_node_port_range="1024-65535"))
        await server.start()
        api = AsyncAPI(server.address)
        port, taken = free_port(), free_port()

        async def node_answers(reader, writer):  # the node's NodePort: echo with a greeting
            writer.write(b"node says " + await reader.read(100))
            await writer.drain()
            writer.close()
        node = await asyncio.start_server(node_answers, "127.0.0.1", port)
        holder = socket.socket()
        holder.bind((HOST, taken))
        holder.listen()
        # n0 is tried first and refuses (nothing listens on 127.0.0.3, as on a powered-off node).
        for name, address in (("n0", "127.0.0.3"), ("n1", "127.0.0.1")):
            n = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name))
            n.status.conditions.add(type="Ready", status="True")
            n.status.addresses.add(type="InternalIP", address=address)
            await api.create(n)
        publisher = NodePortPublisher(api, "/proc/self/ns/net", host=HOST,
                                      node_network=ipaddress.ip_network("127.0.0.0/8"))
        running = asyncio.create_task(publisher.run())
        try:
            await api.create(node_port_service("web", port))
            await api.create(node_port_service("clash", taken))
            await until(lambda: asyncio.sleep(0, port in publisher.servers))
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b"hello")
            writer.write_eof()
            assert await reader.read() == b"node says hello"
            writer.close()

            async def warning():
                events, _ = await api.list("Event", "default")
                return [e for e in events if e.reason == "NodePortNotPublished"]
            [event] = await until(warning)
            assert event.involved_object.name == "clash" and event.type == "Warning"
            assert f"127.0.0.2:{taken}" in event.message
            assert taken not in publisher.servers

            await api.delete("Service", "web", "default")
            await until(lambda: asyncio.sleep(0, port not in publisher.servers))
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            holder.close()
            node.close()
            await api.close()
            await server.stop(0)
    asyncio.run(main())
