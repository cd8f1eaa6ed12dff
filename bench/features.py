"""Is a feature on this branch? Rows that need one ask here and say what is missing.

Also the small tools those rows share once wired: a signed-in session cookie
for a generated user, and the peak memory of a process.
"""

from __future__ import annotations

import importlib.util
import tempfile
from functools import cache
from pathlib import Path

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from .core import NotMeasured


@cache
def probe_app() -> Flask:
    """The app on a throwaway SQLite file, only to read its routes."""
    from barometre import create_app
    from barometre.settings import Settings

    instance = tempfile.mkdtemp(prefix="bench-probe-")
    return create_app(Settings(instance_path=instance, secret_key="p" * 48))


def has_route(path: str, method: str = "GET") -> bool:
    adapter = probe_app().url_map.bind("127.0.0.1")
    try:
        adapter.match(path, method=method)
    except Exception:
        return False
    return True


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def require_route(path: str, needs: str, method: str = "GET") -> None:
    if not has_route(path, method):
        raise NotMeasured(f"needs {needs}")


def require_module(name: str, needs: str) -> None:
    if not has_module(name):
        raise NotMeasured(f"needs {needs}")


def session_cookie(secret_key: str, user_session_id: str) -> str:
    """A Flask-Login session for `User.get_id()`, signed like the app signs it.

    Lets a load client act as a signed-in user without driving the login form
    (as tests.conftest.login does with the test client).
    """
    app = Flask("bench-cookie")
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps({"_user_id": user_session_id, "_fresh": True}))


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the 2nd field after the parenthesised command name.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found
