"""A newcomer can trust the package layout: lower layers never import upper ones, and packages form no cycle.

The layers, lowest first: the core (kgserver/*.py and kgserver/store/: settings, the store,
dataset, validation, reasoning, formats...), then the packages that use it and know nothing of HTTP frameworks
(sparql/, curation/, linkeddata/, pages/, search/), then web/ (Flask) and the command line on top.
Read from the source with `ast`, so the test needs no server.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kgserver"
LAYERS = {"core": 0, "sparql": 1, "curation": 1, "linkeddata": 1, "pages": 1, "search": 1, "web": 2, "cli": 3}
FRAMEWORKS = ("flask",)


def _modules() -> dict[str, Path]:
    return {".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
            for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every module name an import statement in the file names, at any depth (TYPE_CHECKING ones too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _layer(module: str) -> str:
    """The layer of kgserver.X (core, or cli for the command) or of kgserver.PACKAGE.X."""
    parts = module.split(".")
    if len(parts) > 2:
        return "core" if parts[1] == "store" else parts[1]
    return "cli" if parts[-1] in ("cli", "__main__") else "core"


def _edges() -> dict[str, set[str]]:
    """module -> the kgserver modules it imports."""
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name in _imports(path):
            while name not in modules and name.count(".") > 1:
                name = name.rsplit(".", 1)[0]
            if name in modules and name != module:
                edges[module].add(name)
    return edges


def test_no_module_imports_a_layer_above_its_own():
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _edges().items()
        for target in targets
        if LAYERS[_layer(target)] > LAYERS[_layer(module)]
    )
    assert upward == []


def test_the_packages_below_web_know_no_http_framework():
    offenders = sorted(
        f"{module} imports {name}"
        for module, path in _modules().items()
        if _layer(module) in ("core", "sparql", "curation", "linkeddata", "pages", "search")
        for name in _imports(path)
        if name.split(".")[0] in FRAMEWORKS
    )
    assert offenders == []


def test_the_packages_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in _edges().items():
        for target in targets:
            if _layer(module) != _layer(target):
                graph[_layer(module)].add(_layer(target))

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(step == goal or (step not in seen and reaches(step, goal, seen | {step})) for step in graph[start])

    assert [layer for layer in LAYERS if reaches(layer, layer)] == []


def test_only_the_store_package_opens_a_store():
    """Every module reaches the data through kgserver.store's GraphStore; none imports pyoxigraph's Store itself."""
    offenders = sorted(
        module
        for module, path in _modules().items()
        if not module.startswith("kgserver.store")
        and ({"pyoxigraph.Store"} & _imports(path) or _uses_store_attribute(path))
    )
    assert offenders == []


def _uses_store_attribute(path: Path) -> bool:
    """Whether the file names `pyoxigraph.Store` or `ox.Store` (a module imported under some name)."""
    return any(isinstance(node, ast.Attribute) and node.attr == "Store" and isinstance(node.value, ast.Name)
               and node.value.id in ("pyoxigraph", "ox")
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def test_the_readme_maps_every_module():
    """The README's Layout section names each module, so a newcomer finds a feature by its name."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1]
    listed = {line.split("`")[1] for line in layout.splitlines() if line.startswith("- `")}
    modules = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
               if path.name not in ("__init__.py", "__main__.py")}
    assert sorted(modules - listed) == [] and sorted(listed - modules) == []
