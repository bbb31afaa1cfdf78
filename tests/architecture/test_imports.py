"""The import structure: no cycles between modules, and no layer imports one above it.

Every `import` counts, also those inside functions: a deferred import still ties the two modules
together.  Imports under `if TYPE_CHECKING:` do not: they name a type for an annotation and are
never executed.  The layers, from the ground up, are listed in LAYERS; a package may import its
own layer and those below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import iotcop

SRC = Path(iotcop.__file__).parent

# Lowest first.  Names are module prefixes under iotcop.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "yamlload", "files", "model", "formats"),
    ("standards", "profiles", "context", "declaration.paths", "triage.vex"),
    ("assess",),
    ("firmware", "cache"),
    ("sbom", "vulns", "boot"),
    ("checks",),
    ("declaration", "probe", "traffic"),
    ("conformance",),
    ("report", "label", "statement", "demo", "triage"),
    ("scan",),
    ("batch", "ui", "evaluation"),
    ("registry",),
    ("commands", "cli"),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["iotcop", *parts])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # "from iotcop.x import y" may import the module iotcop.x.y
                found.add(f"{target}.{alias.name}")
    return {f for f in found if f == "iotcop" or f.startswith("iotcop.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, name) if m in modules and m != name}
    return graph


def _layer(module: str) -> int:
    rest = module.removeprefix("iotcop.")
    best, depth = None, -1
    for index, names in enumerate(LAYERS):
        for prefix in names:
            if (rest == prefix or rest.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower_layers():
    upward = []
    for module, imported in sorted(_graph().items()):
        if module == "iotcop":
            continue
        for target in sorted(imported):
            if target != "iotcop" and _layer(target) > _layer(module):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []
