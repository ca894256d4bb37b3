"""The README's table of what the HTTP API serves (kind × verbs × subresources) is the one
apiserver/served.py defines: rendered here, compared with the README's block."""

from __future__ import annotations

from pathlib import Path

from apimachinery.kinds import KINDS, KindInfo
from apiserver import served

README = Path(__file__).resolve().parents[4] / "README.md"
BEGIN, END = "<!-- api-table:begin", "<!-- api-table:end -->"


def collection_path(info: KindInfo) -> str:
    base = f"/apis/{info.api_version}" if "/" in info.api_version else f"/api/{info.api_version}"
    return base + ("/namespaces/{ns}/" if info.namespaced else "/") + info.plural


def api_table() -> str:
    rows = ["| kind | collection | verbs | subresources (verbs) |", "| --- | --- | --- | --- |"]
    for info in KINDS:
        subresources = ", ".join(f"`{sub.name}` ({' '.join(sub.verbs)})" for sub in served.subresources(info))
        rows.append(f"| {info.kind} | `{collection_path(info)}` | {' '.join(served.verbs(info))} | "
                    f"{subresources or '—'} |")
    return "\n".join(rows)


def test_the_readme_table_is_what_is_served() -> None:
    text = README.read_text()
    block = text[text.index(BEGIN):text.index(END)].split("\n", 1)[1].strip()
    assert block == api_table(), f"update README.md's api-table block to:\n{api_table()}"


KINDS_BEGIN, KINDS_END = "<!-- kinds-table:begin", "<!-- kinds-table:end -->"


def test_the_readme_kinds_table_has_a_row_per_kind() -> None:
    """The "what is and is not implemented" table names every kind served, once, in KINDS'
    order, and says something about each: a kind added without a row fails here."""
    text = README.read_text()
    block = text[text.index(KINDS_BEGIN):text.index(KINDS_END)].split("\n", 1)[1].strip().splitlines()
    assert block[0] == "| kind | what pykube does with it | not implemented | more |"
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block[2:]]
    assert [row[0] for row in rows] == [info.kind for info in KINDS]
    assert all(len(row) == 4 and row[1] for row in rows), [row for row in rows if len(row) != 4 or not row[1]]
