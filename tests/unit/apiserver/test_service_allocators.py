"""The ClusterIP and NodePort allocators on their own: ranges, what is never picked, release."""

from __future__ import annotations

import ipaddress
import random

import pytest

from apimachinery.network import CLUSTER_DNS_IP, NODE_PORT_RANGE, SERVICE_CIDR
from apiserver.registry.allocators import (AlreadyAllocated, ClusterIPAllocator, NodePortAllocator, NotInRange,
                                           RangeFull, parse_port_range)


def test_requested_ip_is_checked_against_the_range() -> None:
    ips = ClusterIPAllocator(SERVICE_CIDR)
    ips.allocate("10.96.0.20")
    with pytest.raises(AlreadyAllocated, match="^provided IP is already allocated$"):
        ips.allocate("10.96.0.20")
    message = "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16"
    for outside in ("10.0.0.5", "10.96.0.0", "10.96.255.255", "not-an-ip"):
        with pytest.raises(NotInRange) as err:
            ips.allocate(outside)
        assert str(err.value) == message


def test_dynamic_ips_skip_the_network_first_and_dns_addresses() -> None:
    ips = ClusterIPAllocator("10.96.0.0/28", on_request_only=[CLUSTER_DNS_IP], rng=random.Random(1))
    picked = {ips.allocate_next() for _ in range(12)}  # 16 - network - broadcast - .1 - .10
    assert picked == {f"10.96.0.{i}" for i in range(2, 15)} - {CLUSTER_DNS_IP}
    with pytest.raises(RangeFull, match="range is full"):
        ips.allocate_next()
    ips.allocate("10.96.0.1")  # by request they are fine
    ips.allocate(CLUSTER_DNS_IP)


def test_random_picks_stay_above_the_static_band_while_there_is_room() -> None:
    ips = ClusterIPAllocator(SERVICE_CIDR, rng=random.Random(3))
    first_dynamic = ipaddress.IPv4Address("10.96.1.1")  # band: the 256 addresses after the network's
    assert all(ipaddress.IPv4Address(ips.allocate_next()) >= first_dynamic for _ in range(200))
    ports = NodePortAllocator(NODE_PORT_RANGE, rng=random.Random(4))
    assert all(ports.allocate_next() > 30085 for _ in range(200))  # band: min(max(16, 2768/32), 128) = 86
    small = NodePortAllocator((30000, 30019))  # 16 of 20 in the band: 4 above, then the band itself
    assert sorted(small.allocate_next() for _ in range(5))[-4:] == [30016, 30017, 30018, 30019]


def test_released_ip_can_be_taken_again() -> None:
    ips = ClusterIPAllocator(SERVICE_CIDR)
    ip = ips.allocate_next()
    ips.release(ip)
    assert not ips.is_allocated(ip)
    ips.allocate(ip)
    ips.release("10.0.0.1")  # outside the range: nothing to do


def test_node_ports() -> None:
    ports = NodePortAllocator(NODE_PORT_RANGE, rng=random.Random(2))
    ports.allocate(31515)
    with pytest.raises(AlreadyAllocated, match="^provided port is already allocated$"):
        ports.allocate(31515)
    with pytest.raises(NotInRange) as err:
        ports.allocate(40000)
    assert str(err.value) == "provided port is not in the valid range. The range of valid ports is 30000-32767"
    dynamic = ports.allocate_next()
    assert 30000 <= dynamic <= 32767 and dynamic != 31515
    ports.release(31515)
    ports.allocate(31515)


def test_small_port_range_fills_up() -> None:
    ports = NodePortAllocator((30000, 30002))
    assert sorted(ports.allocate_next() for _ in range(3)) == [30000, 30001, 30002]
    with pytest.raises(RangeFull):
        ports.allocate_next()


@pytest.mark.parametrize("text, expected", [("30000-32767", (30000, 32767)), ("8080", (8080, 8080))])
def test_parse_port_range(text: str, expected: tuple[int, int]) -> None:
    assert parse_port_range(text) == expected


@pytest.mark.parametrize("text", ["a-b", "5-3", "0-10", "1-70000"])
def test_parse_port_range_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid port range"):
        parse_port_range(text)


@pytest.mark.parametrize("cidr", ["10.96.0.1/16", "10.96.0.0/31", "nonsense"])
def test_bad_service_cidr(cidr: str) -> None:
    with pytest.raises(ValueError, match="invalid service CIDR"):
        ClusterIPAllocator(cidr)
