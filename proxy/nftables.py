"""An nftables table as data (verdict maps and chains), its text, and the transactions that put
it into the kernel. Pure: no process is run here (proxy/program.py runs ``nft -f``).

Two transactions, as kube-proxy's nftables mode has:

* :func:`replace_transaction`, for the first sync of a proxy (and whenever the table in the
  kernel is not the one the proxy last wrote): ``add table``, ``delete table``, the full
  definition. Whatever was there before is gone, in one step.
* :func:`update_transaction`, for every later change: only what differs. New chains are added,
  the rules of changed chains are flushed and re-added, map elements are added and deleted one
  by one, unused chains are emptied and deleted; everything unchanged is left alone.

Why not replace the table every time: nftables switches rule sets atomically, but a map element
is looked up against the generation current at the moment of the lookup, which may be newer
than the generation whose rules the packet is walking. A packet of a new connection that walks
the old rules during a replace looks up the old elements just as they stop being current, finds
nothing, and its connection is bound to "no NAT" for as long as conntrack remembers it (one
connection in a few thousand, during a change; test_proxy_network.py's atomicity test measures
it). Elements and chains that an update leaves alone are current in both generations, so
traffic to Services that did not change is never disturbed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chain:
    name: str
    rules: tuple[str, ...]
    hook: str = ""  # a base chain's "type nat hook prerouting priority dstnat; policy accept;"


@dataclass(frozen=True)
class VerdictMap:
    name: str
    key_type: str
    comment: str
    elements: tuple[tuple[str, str], ...]  # (key, verdict)


@dataclass(frozen=True)
class Table:
    family: str
    name: str
    comment: str
    maps: tuple[VerdictMap, ...]
    chains: tuple[Chain, ...]

    @property
    def ref(self) -> str:
        return f"{self.family} {self.name}"


def render(table: Table) -> str:
    """The table's definition, as ``nft list table`` would show it (``nft -f`` loads it)."""
    lines = [f"table {table.ref} {{", f'\tcomment "{table.comment}"', ""]
    for m in table.maps:
        lines += [f"\tmap {m.name} {{", f"\t\ttype {m.key_type} : verdict", f'\t\tcomment "{m.comment}"']
        if m.elements:
            lines.append("\t\telements = { " + ",\n\t\t\t     ".join(f"{k} : {v}" for k, v in m.elements) + " }")
        lines += ["\t}", ""]
    for c in table.chains:
        lines += [f"\tchain {c.name} {{", *(f"\t\t{r}" for r in (c.hook, *c.rules) if r), "\t}", ""]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines + ["}"]) + "\n"


def replace_transaction(table: Table) -> str:
    """``add table`` (so that the delete cannot fail), ``delete table`` (nothing stale survives),
    then the full definition; nftables applies all of it or nothing."""
    return f"add table {table.ref}\ndelete table {table.ref}\n{render(table)}"


def cleanup_transaction(family: str, name: str) -> str:
    """Remove the table, whether it exists or not."""
    return f"add table {family} {name}\ndelete table {family} {name}\n"


def _same_frame(old: Table, new: Table) -> bool:
    """Whether an update can turn ``old`` into ``new``: same table, same maps (by name, key type
    and comment), and no base chain whose hook changed."""
    if (old.family, old.name, old.comment) != (new.family, new.name, new.comment):
        return False
    if [(m.name, m.key_type, m.comment) for m in old.maps] != [(m.name, m.key_type, m.comment) for m in new.maps]:
        return False
    hooks = {c.name: c.hook for c in old.chains}
    return all(hooks.get(c.name, c.hook) == c.hook for c in new.chains)


def update_transaction(old: Table | None, new: Table) -> str:
    """The transaction that turns ``old`` (what the kernel holds) into ``new``, touching nothing
    that is the same in both; "" when there is nothing to do. Without a known ``old`` (or when
    the maps or hooks themselves changed), the full :func:`replace_transaction`."""
    if old is None or not _same_frame(old, new):
        return replace_transaction(new)
    ref = new.ref
    old_chains = {c.name: c for c in old.chains}
    new_names = {c.name for c in new.chains}
    lines: list[str] = []
    # 1. New chains first, empty, so that any rule or element below may refer to them.
    for c in new.chains:
        if c.name not in old_chains:
            lines.append(f"add chain {ref} {c.name}" + (f" {{ {c.hook} }}" if c.hook else ""))
    # 2. The rules of new and changed chains (a chain's rules switch in one step).
    for c in new.chains:
        before = old_chains.get(c.name)
        if before is not None and before.rules == c.rules:
            continue
        if before is not None:
            lines.append(f"flush chain {ref} {c.name}")
        lines += [f"add rule {ref} {c.name} {rule}" for rule in c.rules]
    # 3. Map elements: keys gone or re-pointed out, new or re-pointed keys in.
    for before, after in zip(old.maps, new.maps):
        was, now = dict(before.elements), dict(after.elements)
        gone = [k for k, v in before.elements if now.get(k) != v]
        if gone:
            lines.append(f"delete element {ref} {after.name} {{ {', '.join(gone)} }}")
        added = [f"{k} : {v}" for k, v in after.elements if was.get(k) != v]
        if added:
            lines.append(f"add element {ref} {after.name} {{ {', '.join(added)} }}")
    # 4. Chains nothing refers to any more: all emptied (they may refer to each other), then deleted.
    unused = [c.name for c in old.chains if c.name not in new_names]
    lines += [f"flush chain {ref} {name}" for name in unused]
    lines += [f"delete chain {ref} {name}" for name in unused]
    return "".join(f"{line}\n" for line in lines)
