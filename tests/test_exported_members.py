"""Each module's `__all__` is exactly what other modules import from it.

Read from the source (`ast`), over everything that imports mlops-tui: the package itself, the
tests, the benchmarks and the scripts. A name imported from a module must be in its `__all__`
(nothing reaches past it), and a name in `__all__` must be imported by someone (no dead exports);
a module run with `python -m` also exports its `main`. Only packages re-export: a plain module's
`__all__` names what it defines.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "mlops_tui"
IMPORTERS = ("src", "tests", "benchmarks", "scripts")
FRONT_ENDS = ("mlops_tui.cli", "mlops_tui.tui")
"""Not checked yet: their modules are being regrouped (their imports of the others are counted)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        targets = node.targets if isinstance(node, ast.Assign) else [target] if target else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert node.value is not None
            value: list[str] = ast.literal_eval(node.value)
            return value
    return None


def imports_of(path: Path) -> list[tuple[str, str]]:
    """(module, name) for each mlops-tui name the file imports, or reads as `module_alias.name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = modules()
    found: list[tuple[str, str]] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in known:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in known:
                    aliases[alias.asname or alias.name] = submodule
                else:
                    found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in known})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            # Tests may reach a private name to patch it; that is not the module's interface.
            if not node.attr.startswith("_") and f"{aliases[node.value.id]}.{node.attr}" not in known:
                found.append((aliases[node.value.id], node.attr))
    return found


@cache
def imported() -> dict[str, dict[str, set[str]]]:
    """module -> name -> the files importing it from there (a module importing itself not counted)."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for top in IMPORTERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            importer = module_name(path) if path.is_relative_to(PACKAGE) else str(path.relative_to(ROOT))
            for module, name in imports_of(path):
                if module != importer:
                    found[module][name].add(importer)
    return found


def runs_as_main(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.If)
        and "__name__" in ast.unparse(node.test)
        and "__main__" in ast.unparse(node.test)
        for node in tree.body
    )


def checked() -> list[str]:
    return [name for name in modules() if not name.startswith(FRONT_ENDS) and name != "mlops_tui.__main__"]


@pytest.mark.parametrize("module", checked())
def test_all_is_what_other_modules_import(module: str) -> None:
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported = declared_all(tree)
    wanted = set(imported().get(module, {}))
    if runs_as_main(tree):
        wanted.add("main")
    if exported is None:
        assert not wanted, f"{module} has no __all__, yet others import {sorted(wanted)} from it"
        return
    assert len(set(exported)) == len(exported), f"{module}.__all__ repeats a name"
    reaching_past = {name: sorted(imported()[module][name]) for name in wanted - set(exported)}
    assert not reaching_past, f"imported from {module} but not in its __all__: {reaching_past}"
    assert set(exported) <= wanted, (
        f"in {module}.__all__ but imported nowhere: {sorted(set(exported) - wanted)}"
    )
    loaded = importlib.import_module(module)
    assert [name for name in exported if not hasattr(loaded, name)] == []


@pytest.mark.parametrize("module", [m for m in checked() if modules()[m].name != "__init__.py"])
def test_only_packages_re_export(module: str) -> None:
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    taken = {
        alias.asname or alias.name.partition(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert sorted(set(declared_all(tree) or ()) & taken) == []
