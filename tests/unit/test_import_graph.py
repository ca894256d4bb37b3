"""The shape of the code, checked: no import circles, no component reaching into
another's internals, no file too long to read.

Every non-generated .py file of the project is parsed with ``ast`` (nothing is
imported). An import anywhere in a file counts, also one inside a function: a
lazy import that hides a circle is still a circle.

* Circles: module A imports B, which (through any chain) imports A. Reported as
  the chain of modules.
* Layers: the components (apiserver, scheduler, controllers, kubelet, kubectl,
  cluster, bench) may import their own modules and the libraries; the libraries
  import down only: component_base → apimachinery → protos, client → apimachinery
  → protos. A component importing another component's module is an error unless
  it is in ALLOWED, each with its reason.
* Size: no non-generated file (tests included) over MAX_LINES lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("apiserver", "scheduler", "controllers", "kubelet", "kubectl", "cluster", "proxy", "bench")
# Which library packages each package may import (besides itself).
LIBRARIES = {
    "protos": set(),
    "apimachinery": {"protos"},
    "client": {"apimachinery", "protos"},
    "component_base": {"apimachinery", "protos"},  # flags parse durations with apimachinery.duration
}
PACKAGES = (*COMPONENTS, *LIBRARIES)
MAX_LINES = 600

# (importing module, imported module) -> why it may.
ALLOWED = {
    ("bench.apiserver", "apiserver.storage"): "the store benchmark measures the apiserver's storage directly",
    ("bench.apiserver", "apiserver.storage.sqlite"): "the store benchmark measures the apiserver's storage directly",
    ("bench.cluster", "cluster.lab"): "the benchmarks start the clusters they measure",
    ("bench.cluster", "cluster.local_cluster"): "the benchmarks start the clusters they measure",
    ("bench.kubelet", "cluster.lab"): "the benchmarks start the clusters they measure",
    ("bench.memory", "cluster.lab"): "the benchmarks start the clusters they measure",
    ("bench.network", "cluster.lab"): "the benchmarks start the clusters they measure",
    ("bench.workloads", "cluster.lab"): "the benchmarks start the clusters they measure",
    ("bench.network", "cluster.local_cluster"): "the benchmarks start the clusters they measure",
    ("cluster.state_dir", "kubelet.hollow"):
        "reads the hollow nodes' powered-off file, whose format kubelet.hollow owns",
}


def is_generated(path: Path) -> bool:
    return path.name.endswith(("_pb2.py", "_pb2_grpc.py"))


def source_files() -> Iterator[Path]:
    """The project's .py files: its packages and tests (not the venv or other clutter)."""
    for top in (*PACKAGES, "tests"):
        for path in sorted((REPO / top).rglob("*.py")):
            if not is_generated(path):
                yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for top in PACKAGES for p in (REPO / top).rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports, anywhere in the file."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()

    def deepest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` imports the module pkg.sub when there is one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES and (module := deepest(target)) is not None and module != this:
                found.add(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a chain A → B → ... → A) per strongly connected component
    of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [chain_within(graph, component) for component in components]


def chain_within(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a chain."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for succ in sorted(graph[node] & component):
                if succ == start:
                    return [*paths[node], start]
                if succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    nxt.append(succ)
        frontier = nxt
    raise AssertionError(f"no cycle in {component}")


def wrong_way(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs that cross the layers."""
    bad = set()
    for importer, imported in graph.items():
        top = importer.split(".")[0]
        for module in imported:
            target = module.split(".")[0]
            if target == top:
                continue
            allowed = LIBRARIES[top] if top in LIBRARIES else set(LIBRARIES)
            if target not in allowed:
                bad.add((importer, module))
    return bad


def test_the_graph_sees_the_imports():
    """The parser finds what a reader sees (guards against a check that checks nothing)."""
    graph = import_graph()
    assert "client.informer" in graph["scheduler.scheduler"]
    assert "scheduler.interface" in graph["scheduler.plugins.node_ready"]
    assert "controllers.rollout" in graph["controllers.deployment"]  # `from controllers import rollout`
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_circles():
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" → ".join(chain) for chain in found)


def test_components_do_not_import_each_others_internals():
    bad = wrong_way(import_graph())
    unknown = sorted(bad - set(ALLOWED))
    assert not unknown, "imports across the layers:\n" + "\n".join(f"{a} imports {b}" for a, b in unknown)
    stale = sorted(set(ALLOWED) - bad)
    assert not stale, f"no longer imported, remove from ALLOWED: {stale}"


def test_no_file_over_the_size_limit():
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in source_files()}
    long = {path: n for path, n in sizes.items() if n > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split along their seams): " + ", ".join(
        f"{path} ({n})" for path, n in sorted(long.items()))


def test_test_modules_have_unique_names():
    """pytest imports test files by their base name (the test folders are not packages), so
    two files of one name fail the collection of the whole suite (CI's), not of one folder."""
    names: dict[str, list[str]] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    twice = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not twice, f"test modules sharing a name: {twice}"
