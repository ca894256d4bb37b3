"""The node IPAM range allocator, pure: blocks of the cluster CIDR, used, freed, exhausted."""

from __future__ import annotations

import pytest

from controllers.node_ipam import CIDRRangeFull, CIDRSet, NodeIPAMConfig, check_config


def test_blocks_are_handed_out_in_order_and_never_twice():
    cidrs = CIDRSet("10.88.0.0/16", 24)
    assert cidrs.blocks == 256
    assert [cidrs.allocate_next() for _ in range(3)] == ["10.88.0.0/24", "10.88.1.0/24", "10.88.2.0/24"]
    assert cidrs.free == 253


def test_occupied_blocks_of_existing_nodes_are_skipped():
    cidrs = CIDRSet("10.88.0.0/16", 24)
    cidrs.occupy("10.88.0.0/24")
    cidrs.occupy("10.88.2.0/24")
    assert [cidrs.allocate_next() for _ in range(2)] == ["10.88.1.0/24", "10.88.3.0/24"]


def test_a_released_block_is_reused_after_the_others_round_robin():
    cidrs = CIDRSet("10.88.0.0/30", 31)  # two blocks
    first, second = cidrs.allocate_next(), cidrs.allocate_next()
    with pytest.raises(CIDRRangeFull, match="no remaining CIDRs left"):
        cidrs.allocate_next()
    cidrs.release(first)
    assert cidrs.allocate_next() == first
    assert second == "10.88.0.2/31"


def test_blocks_outside_the_range_or_of_another_size_are_refused():
    cidrs = CIDRSet("10.88.0.0/16", 24)
    for bad in ("10.89.0.0/24", "10.88.0.0/25", "10.88.0.0/16"):
        with pytest.raises(ValueError, match="out the range of cluster cidr"):
            cidrs.occupy(bad)


@pytest.mark.parametrize(("cidr", "mask", "problem"), [
    ("10.88.0.0/16", 24, None),
    ("10.88.0.0/16", 8, "the node CIDR size is too big"),
    ("10.0.0.0/8", 25, "the node CIDR size is too big"),
    ("not-a-cidr", 24, "invalid CIDR address: not-a-cidr"),
])
def test_configuration_is_checked(cidr, mask, problem):
    found = check_config(NodeIPAMConfig(cluster_cidr=cidr, node_cidr_mask_size=mask))
    assert (found is None) if problem is None else (problem in found)
