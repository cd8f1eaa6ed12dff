"""Baromètre: the minimal working conditions in the prisons, watched and alerted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """`barometre.create_app`, imported when first asked for: a light module of the
    package (`python -m barometre.heartbeat`, a container's health check) does not
    load the whole web app."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
