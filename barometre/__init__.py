"""Baromètre: the minimal working conditions in the prisons, watched and alerted."""

from .app import create_app

__all__ = ["create_app"]
