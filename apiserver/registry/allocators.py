"""The apiserver's two small address books: ClusterIPs from the service CIDR and NodePorts
from the node port range, as Kubernetes' ``ipallocator`` and ``portallocator`` keep them.

Both are the same thing underneath: a range of integers (an address's offset in the CIDR,
or a port number), some in use. A Service may ask for a value (it is checked: in range, not
taken) or leave it to the allocator, which picks a free one at random, as Kubernetes does.
Random picks come from above the range's lower "static band" while there is room there
(Kubernetes' KEP-3070 for ClusterIPs, KEP-3668 for NodePorts), so a value someone means to
ask for, low in the range, is rarely taken already. Some values are handed out only on request: the
CIDR's first address (Kubernetes gives it to the ``kubernetes`` Service) and the cluster DNS
address (the DNS Service asks for it by number).

What is in use is never stored on its own: it is exactly what the stored Services hold, so the
registry rebuilds these maps from them when it loads (Kubernetes' repair controllers do the
same after the fact). Nothing here knows about Services; see ``network.py`` for that.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Iterable

# Random picks tried before a scan for the first free value (a nearly full range).
RANDOM_TRIES = 32


class AllocationError(Exception):
    """A value could not be taken; the message is the detail of Kubernetes' field error."""


class NotInRange(AllocationError):
    pass


class AlreadyAllocated(AllocationError):
    pass


class RangeFull(AllocationError):
    pass


def static_band(size: int, divisor: int, cap: int) -> int:
    """How many values at the bottom of a range random picks avoid while they can:
    Kubernetes' min(max(16, size/divisor), cap)."""
    return min(max(16, size // divisor), cap)


class RangeAllocator:
    """Integers first..last (inclusive), some in use; `on_request_only` are never picked;
    random picks prefer values from `dynamic_from` up."""

    def __init__(self, first: int, last: int, on_request_only: Iterable[int] = (),
                 rng: random.Random | None = None, dynamic_from: int | None = None) -> None:
        self.first, self.last = first, last
        self.on_request_only = frozenset(on_request_only)
        self.used: set[int] = set()
        self.rng = rng or random.Random()
        self.dynamic_from = min(max(first, dynamic_from or first), last)

    def contains(self, value: int) -> bool:
        return self.first <= value <= self.last

    def allocate(self, value: int) -> None:
        if not self.contains(value):
            raise NotInRange(str(value))
        if value in self.used:
            raise AlreadyAllocated(str(value))
        self.used.add(value)

    def allocate_next(self) -> int:
        """A free value at random (never one of on_request_only), above the static band if
        it can be."""
        for low in dict.fromkeys((self.dynamic_from, self.first)):
            value = self._random_free(low)
            if value is not None:
                self.used.add(value)
                return value
        raise RangeFull("range is full")

    def _random_free(self, low: int) -> int | None:
        def free(value: int) -> bool:
            return value not in self.used and value not in self.on_request_only

        for _ in range(RANDOM_TRIES):
            value = self.rng.randint(low, self.last)
            if free(value):
                return value
        size = self.last - low + 1
        start = self.rng.randint(low, self.last)
        return next((value for step in range(size) if free(value := low + (start - low + step) % size)), None)

    def release(self, value: int) -> None:
        self.used.discard(value)

    def free(self) -> int:
        return self.last - self.first + 1 - len(self.used)


class ClusterIPAllocator:
    """IPv4 addresses of a CIDR, without its network and broadcast addresses."""

    def __init__(self, cidr: str, on_request_only: Iterable[str] = (), rng: random.Random | None = None) -> None:
        try:
            self.network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as err:
            raise ValueError(f'invalid service CIDR "{cidr}": {err}') from None
        if self.network.num_addresses < 4:
            raise ValueError(f'invalid service CIDR "{cidr}": too small, want a /30 or larger')
        base = int(self.network.network_address)
        # The first usable address (.1) is the kubernetes Service's, by request only.
        reserved = {1} | {int(ipaddress.IPv4Address(ip)) - base for ip in on_request_only}
        size = self.network.num_addresses - 2
        self._range = RangeAllocator(1, size, reserved, rng, dynamic_from=1 + static_band(size, 16, 256))
        self._base = base

    def _offset(self, ip: str) -> int:
        try:
            return int(ipaddress.IPv4Address(ip)) - self._base
        except ValueError:
            raise NotInRange(ip) from None

    def out_of_range_detail(self) -> str:
        return f"provided IP is not in the valid range. The range of valid IPs is {self.network}"

    def allocate(self, ip: str) -> None:
        """Take ip; NotInRange / AlreadyAllocated carry Kubernetes' field-error detail."""
        try:
            self._range.allocate(self._offset(ip))
        except NotInRange:
            raise NotInRange(self.out_of_range_detail()) from None
        except AlreadyAllocated:
            raise AlreadyAllocated("provided IP is already allocated") from None

    def allocate_next(self) -> str:
        try:
            return str(ipaddress.IPv4Address(self._base + self._range.allocate_next()))
        except RangeFull:
            raise RangeFull("failed to allocate a serviceIP: range is full") from None

    def release(self, ip: str) -> None:
        offset = self._offset(ip)
        if self._range.contains(offset):
            self._range.release(offset)

    def is_allocated(self, ip: str) -> bool:
        return self._offset(ip) in self._range.used

    def free(self) -> int:
        return self._range.free()


def parse_port_range(text: str) -> tuple[int, int]:
    """``30000-32767`` (or a single port) → (30000, 32767), as --service-node-port-range."""
    low, sep, high = text.partition("-")
    try:
        first, last = int(low), int(high if sep else low)
    except ValueError:
        raise ValueError(f'invalid port range "{text}": want FIRST-LAST, e.g. 30000-32767') from None
    if not 1 <= first <= last <= 65535:
        raise ValueError(f'invalid port range "{text}": want 1 <= FIRST <= LAST <= 65535')
    return first, last


def format_port_range(ports: tuple[int, int]) -> str:
    return f"{ports[0]}-{ports[1]}"


class NodePortAllocator:
    """Ports of the node port range (shared by TCP and UDP, as in Kubernetes)."""

    def __init__(self, ports: tuple[int, int], rng: random.Random | None = None) -> None:
        self.ports = ports
        size = ports[1] - ports[0] + 1
        self._range = RangeAllocator(ports[0], ports[1], rng=rng, dynamic_from=ports[0] + static_band(size, 32, 128))

    def allocate(self, port: int) -> None:
        try:
            self._range.allocate(port)
        except NotInRange:
            raise NotInRange("provided port is not in the valid range. The range of valid ports is "
                             f"{format_port_range(self.ports)}") from None
        except AlreadyAllocated:
            raise AlreadyAllocated("provided port is already allocated") from None

    def allocate_next(self) -> int:
        try:
            return self._range.allocate_next()
        except RangeFull:
            raise RangeFull("failed to allocate a nodePort: range is full") from None

    def release(self, port: int) -> None:
        self._range.release(port)

    def is_allocated(self, port: int) -> bool:
        return port in self._range.used

    def free(self) -> int:
        return self._range.free()
