"""The layering contracts of pyproject.toml hold, and they do bite; no module imports
itself round a circle, imports inside functions included, but through the composition root.

`make lint` runs `lint-imports`; here we check that the contract on the core
fails as soon as the composition root (`barometre.composition`, called by the app
factory) loses its exception. The circles are found on grimp's graph (import-linter's
own), which holds every import statement, those inside functions too.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("barometre", "intake", "alerts")
# The one module of the core that imports intake and alerts (for the app factory).
COMPOSITION_ROOT = "barometre.composition"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_contracts_are_kept() -> None:
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_removing_the_app_factory_exception_breaks_the_core_contract(tmp_path: Path) -> None:
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    without = re.sub(r"ignore_imports = \[[^\]]*\]\n", "", config)
    assert without != config
    path = tmp_path / "pyproject.toml"
    path.write_text(without, encoding="utf-8")
    result = lint_imports(path)
    assert result.returncode != 0
    assert "The core imports neither intake nor alerts" in result.stdout
    assert f"{COMPOSITION_ROOT} -> intake" in result.stdout


def project_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def import_cycles(graph: grimp.ImportGraph, root: str | None = COMPOSITION_ROOT) -> list[list[str]]:
    """Groups of project modules that import each other, directly or round a circle;
    the imports of `root` (the composition root) into the other packages set aside."""
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    if root is not None:
        edges[root] = {m for m in edges[root] if m.split(".")[0] == root.split(".")[0]}
    # Tarjan's strongly connected components, without recursion.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return cycles


def imports_inside_functions() -> list[tuple[str, str, int]]:
    """(importing module, imported name, line) of every project import written in a function."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            here = ".".join(parts[:-1])  # the package a relative import starts from
            tree = ast.parse(path.read_text(encoding="utf-8"))
            functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
            for function in functions:
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        base = here.rsplit(".", node.level - 1)[0] if node.level else ""
                        names = [".".join(p for p in (base, node.module or "") if p)]
                    else:
                        continue
                    found += [
                        (module, name, node.lineno)
                        for name in names
                        if name.split(".")[0] in PACKAGES
                    ]
    return found


def test_the_graph_holds_the_imports_written_inside_functions() -> None:
    graph = project_graph()
    inside = imports_inside_functions()
    # The worker builds the app inside a function (`alerts.celery_app.flask_app`).
    assert ("alerts.celery_app", "barometre") in {(m, n) for m, n, _line in inside}
    for module, name, line in inside:
        imported = {name, *(m for m in graph.modules if m.startswith(f"{name}."))}
        details = [
            d
            for target in imported
            for d in graph.get_import_details(importer=module, imported=target)
        ]
        assert line in {d["line_number"] for d in details}, (module, name, line)


def test_no_module_imports_itself_round_a_circle() -> None:
    assert import_cycles(project_graph()) == []


def test_every_circle_goes_through_the_composition_root() -> None:
    """Without its exception, the composition root closes the one circle there is:
    the app factory wires alerts in, and alerts' worker builds the app."""
    circles = import_cycles(project_graph(), root=None)
    assert circles and all(COMPOSITION_ROOT in circle for circle in circles)


def test_an_import_inside_a_function_that_closes_a_circle_is_found() -> None:
    graph = project_graph()
    assert graph.direct_import_exists(importer="barometre.recompute", imported="barometre.signals")
    # As `def f(): from barometre import recompute` in barometre/signals.py would add.
    graph.add_import(importer="barometre.signals", imported="barometre.recompute")
    assert any(
        {"barometre.signals", "barometre.recompute"} <= set(circle)
        for circle in import_cycles(graph)
    )
