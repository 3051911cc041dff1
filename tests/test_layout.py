"""The package's import graph: no import circle, and every import points down the layers.

Layers, lowest first: devices → tile → nn → optim → framework → papers → cli. A module may
import its own layer and the layers below it, never one above. The base utilities (``data``,
``config``, ``io``, ``fast_path``, ``numba_random``, the package ``__init__``) may be imported
from anywhere and import only each other. Every ``import`` statement counts, at module level
and inside functions alike (a lazy import is still a dependency); only imports under
``if TYPE_CHECKING:`` (never run) do not.
"""
from __future__ import annotations

import ast
from pathlib import Path

import rpusim

ROOT = Path(rpusim.__file__).parent
LAYERS = ("devices", "tile", "nn", "optim", "framework", "papers", "cli")
BASE = {"data", "config", "io", "fast_path", "numba_random", ""}


def module_name(path: Path) -> str:
    parts = ("rpusim",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in [child, *runtime_nodes(child)])
            continue
        yield node
        yield from runtime_nodes(node)


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports (``from a import b``: ``a.b`` if that is a module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            # ``from pkg import name``: the submodule pkg.name if it is one, else pkg itself
            targets = [m if m in modules else base for m in submodules]
        else:
            continue
        found |= {t for t in targets if t in modules}
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def layer_of(module: str) -> str:
    """The module's layer, or '' for a base utility."""
    top = module.split(".")[1] if "." in module else ""
    if top in BASE:
        return ""
    assert top in LAYERS, f"{module}: in no layer; add it to LAYERS or BASE of {__file__}"
    return top


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as a list of modules (first == last), or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer to a higher one (and from a base utility to any layer)."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    bad = []
    for module, targets in graph.items():
        for target in sorted(targets):
            src, dst = layer_of(module), layer_of(target)
            if dst and (not src or rank[dst] > rank[src]):
                bad.append(f"{module} ({src or 'base'}) imports {target} ({dst})")
    return bad


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert not cycle, "import circle: " + " → ".join(cycle)


def test_imports_go_down_the_layers():
    bad = upward_imports(import_graph())
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_graph_sees_function_level_and_relative_imports():
    """The checker itself: imports inside functions (all of cli.py's) are edges, and so is
    ``from .devices.plot import f`` (a relative import naming a module)."""
    cli = import_graph()["rpusim.cli"]
    assert {"rpusim.data", "rpusim.devices", "rpusim.devices.plot"} <= cli
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_catalog_lists_every_experiment_the_papers_define_once():
    """Adding an experiment is one paper module and one catalog entry: an Experiment a paper module
    defines but the catalog leaves out (or two with one name) is caught here."""
    import importlib

    from rpusim.framework import Experiment
    from rpusim.papers.catalog import CATALOG, EXPERIMENTS

    defined = {id(obj): obj.name for p in (ROOT / "papers").glob("*.py")
               for obj in vars(importlib.import_module(f"rpusim.papers.{p.stem}")).values()
               if isinstance(obj, Experiment)}
    listed = {id(exp) for exp in CATALOG}
    assert set(defined) == listed, f"not in CATALOG: {[n for i, n in defined.items() if i not in listed]}"
    assert len(EXPERIMENTS) == len(CATALOG), "two experiments in CATALOG share a name"


def test_device_catalog_lists_every_device_type_once():
    """Adding a device type (a class whose ``type`` is a Literal) is its class and one entry in
    devices/catalog.py (no registration on import)."""
    import importlib
    import typing

    from rpusim.devices import DEVICE_TYPES, PulsedDevice

    defined = {obj for p in (ROOT / "devices").glob("*.py")
               for obj in vars(importlib.import_module(f"rpusim.devices.{p.stem}")).values()
               if isinstance(obj, type) and issubclass(obj, PulsedDevice)
               and typing.get_origin(obj.model_fields["type"].annotation) is typing.Literal}
    assert defined == set(DEVICE_TYPES), f"not in DEVICE_TYPES: {defined - set(DEVICE_TYPES)}"
    names = [cls.model_fields["type"].default for cls in DEVICE_TYPES]
    assert len(set(names)) == len(names), "two device types share a name"


def test_no_module_does_anything_but_define_when_imported():
    """No registration by import side effects: a module's top level holds definitions and
    assignments, never a bare call (the command line's sub-commands are the one exception)."""
    calls = [f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}" for path in ROOT.rglob("*.py")
             for node in ast.parse(path.read_text()).body
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
             and not (path.name == "cli.py" and ast.unparse(node).startswith("app.add_typer("))]
    assert not calls, calls
