"""The wheel the Docker image installs (`pip install .`) holds every module, template,
static file, catalog and migration: a sub-package left out of the packaging (the console's
views, alerts.follow) was a production image that could not start."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("barometre", "alerts", "intake", "templates")


def test_the_wheel_holds_every_file_the_app_needs(tmp_path: Path) -> None:
    source = tmp_path / "source"  # built from a copy: no build/ left in the working tree
    for top in SHIPPED:
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    assert "BuildBackendWarning" not in build.stderr, build.stderr
    [wheel] = tmp_path.glob("barometre-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        path.relative_to(ROOT).as_posix()
        for top in SHIPPED
        for path in (ROOT / top).rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in (".pyc", ".pot")  # the catalogs' template: not read at run time
    }
    assert needed - shipped == set()
