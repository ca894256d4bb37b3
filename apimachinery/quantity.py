"""Kubernetes resource quantities: "250m" cpu, "64Mi" memory, "1.5", "2G", "1e3"."""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException

_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)\Z", re.ASCII)
# Kubernetes holds a quantity's value in an int64 (BinarySI ones are capped there); a larger one
# here would make every later sum and int() of it slow (1e999999 has a million digits).
MAX_QUANTITY = Decimal(2**63 - 1)


class QuantityError(ValueError):
    pass


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity in base units (cores, bytes, counts)."""
    m = _QUANTITY.match(text.strip())
    if not m:
        raise QuantityError(
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    number, suffix = m.groups()
    if "e" in number.lower() and suffix:
        raise QuantityError(f'"{text}" mixes an exponent with a suffix')
    try:
        amount = Decimal(number) * _SUFFIXES[suffix]
    except DecimalException:  # InvalidOperation, Overflow (1e999999999)
        amount = None
    if amount is None or abs(amount) > MAX_QUANTITY:
        raise QuantityError(f"quantity too large: must be at most {MAX_QUANTITY}") from None
    return amount


def cpu_millis(text: str) -> int:
    """A cpu quantity in millicores ("250m" -> 250, "1" -> 1000)."""
    return int((parse_quantity(text) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def to_bytes(text: str) -> int:
    return int(parse_quantity(text).to_integral_value(rounding="ROUND_CEILING"))
