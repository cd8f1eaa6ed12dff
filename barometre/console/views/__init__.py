"""The coordinators' console under /coordination/ (every view: COORDINATOR), one module per subject.

Thin views: validate the form, call one service, commit once, flash in French,
redirect (POST -> redirect -> GET). Invalid forms are shown again with their
field errors (422).
"""

from __future__ import annotations

from . import (  # noqa: F401 - each module registers its routes on the blueprint
    contacts,
    establishments,
    exports,
    home,
    journal,
    referentiel,
    reports,
    situations,
    users,
)
from .base import PER_PAGE, bp

__all__ = ["PER_PAGE", "bp"]
