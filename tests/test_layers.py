"""The package's layers, as the README's module map draws them: imports point down, never in a cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import instabase_async

ROOT = Path(instabase_async.__file__).parent
PACKAGE = "instabase_async"

# Top to bottom; a module may import from its own layer or any below it. A name matches a
# module and everything inside it (`_resources` is `_resources.flows` too).
LAYERS: list[tuple[str, ...]] = [
    ("__main__", "demo"),
    ("_cli",),
    ("testing",),
    ("",),  # the public package: __init__.py
    ("_client",),
    ("_resources",),
    ("_durable",),
    ("_runs",),
    ("_waiter",),
    ("_transfers",),
    ("_ledger",),
    ("_convert",),
    ("_jobs",),
    ("_http",),
    ("_transport", "_aiohttp"),
    ("_models", "_errors", "_validate"),
]

# Imports inside a function, each to keep an extra optional: the command line without rich
# says so in one line; aiohttp is only used when installed.
LAZY_ALLOWED = {("_cli", "_cli._main"), ("_transport", "_aiohttp")}


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in ROOT.rglob("*.py")}


def _layer(module: str) -> int:
    for index, names in enumerate(LAYERS):
        for name in names:
            if module == name or (name and module.startswith(name + ".")):
                return index
    raise AssertionError(f"{module or '__init__'} is in no layer: add it to LAYERS and the README's map")


def _targets(module: str, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """The package's modules an import statement reads (relative to the package root)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        here = module.split(".") if module else []
        if MODULES[module].name != "__init__.py":
            here = here[:-1]
        if node.level:
            base = [PACKAGE, *here][: len(here) + 2 - node.level]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = [f"{source}.{alias.name}" for alias in node.names] + [source]
    for name in names:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            inner = name[len(PACKAGE) + 1 :]
            if inner in MODULES:
                yield inner
                if isinstance(node, ast.ImportFrom):
                    return  # `from . import x` reads x, not the package it sits in


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(at module level, inside functions): the package's modules `module` imports, leaving out
    those under `if TYPE_CHECKING:` (read by the type checker only, never at run time)."""
    top: set[str] = set()
    lazy: set[str] = set()

    def walk(body: list[ast.stmt], in_function: bool) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                walk(node.orelse, in_function)
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                (lazy if in_function else top).update(_targets(module, node))
                continue
            inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    walk([child], inner)
                elif isinstance(child, ast.ExceptHandler):
                    walk(child.body, inner)

    walk(ast.parse(MODULES[module].read_text(encoding="utf-8")).body, False)
    return top - {module}, lazy - {module}


GRAPH = {module: _imports(module) for module in MODULES}


def test_every_import_points_to_the_same_layer_or_below() -> None:
    """No module imports from a layer above its own (the README's module map)."""
    upward = [
        f"{importer or '__init__'} -> {imported or '__init__'}"
        for importer, (top, lazy) in GRAPH.items()
        for imported in top | lazy
        if _layer(imported) < _layer(importer)
    ]
    assert upward == []


def test_no_import_cycle() -> None:
    """Following the imports at module level from any module never comes back to it."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(name or "__init__" for name in cycle))
        if module in done:
            return
        for imported in sorted(GRAPH[module][0]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(MODULES):
        visit(module, [])
    assert done == set(MODULES)


def test_imports_inside_functions_only_keep_an_extra_optional() -> None:
    """A function-level import of the package's own modules is one of the few kept for an extra."""
    lazy = {(importer, imported) for importer, (_, inside) in GRAPH.items() for imported in inside}
    assert lazy == LAZY_ALLOWED


def test_every_module_says_what_it_owns() -> None:
    """Each module of the package opens with a docstring."""
    missing = [
        module or "__init__"
        for module, path in MODULES.items()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []
