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
