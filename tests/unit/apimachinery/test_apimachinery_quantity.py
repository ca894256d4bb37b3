"""Resource quantities as Kubernetes writes them: decimal and binary suffixes, exponents."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apimachinery.quantity import QuantityError, cpu_millis, parse_quantity, to_bytes


@pytest.mark.parametrize("text, value", [
    ("1", Decimal(1)), ("1.5", Decimal("1.5")), (".5", Decimal("0.5")), ("250m", Decimal("0.25")),
    ("2k", Decimal(2000)), ("2G", Decimal(2 * 10**9)), ("64Mi", Decimal(64 * 2**20)),
    ("1Gi", Decimal(2**30)), ("1e3", Decimal(1000)), ("+3", Decimal(3)), (" 5 ", Decimal(5)),
])
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Z", "1.2.3", "Mi", "1e3Mi"])
def test_malformed_quantities_are_refused(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize("text, millis", [("250m", 250), ("1", 1000), ("0.1", 100), ("1.0001", 1001)])
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


def test_to_bytes_rounds_up_and_knows_both_suffix_families() -> None:
    assert to_bytes("64Mi") == 64 * 1024 * 1024
    assert to_bytes("1k") == 1000
    assert to_bytes("1500m") == 2
