"""The layering contracts of pyproject.toml hold, and they do bite.

`make lint` runs `lint-imports`; here we check that the contract on the core
fails as soon as the app factory (the composition root) loses its exception.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    assert "barometre.app -> intake" in result.stdout


def import_cycles() -> list[list[str]]:
    """Groups of project modules that import each other, directly or round a circle,
    imports inside functions included; the app factory's imports (composition root) aside."""
    import grimp

    packages = ("barometre", "intake", "alerts")
    graph = grimp.build_graph(*packages)
    modules = {m for m in graph.modules if m.split(".")[0] in packages}
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    edges["barometre.app"] = {m for m in edges["barometre.app"] if m.startswith("barometre.")}
    # Tarjan's strongly connected components, without recursion.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
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


def test_no_module_imports_itself_round_a_circle() -> None:
    assert import_cycles() == []
