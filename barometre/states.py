"""The states a row goes through, each with its label beside it.

The stored codes stay English (`StrEnum` members compare and store as plain
strings); `label` is what a page, an email or an export shows, in the reader's
language.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString


class Labelled(StrEnum):
    """A stored code and its translated label: `OPEN = "open", _l("Ouverte")`."""

    label: LazyString

    def __new__(cls, value: str, label: LazyString) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[str, LazyString]:
        return {state.value: state.label for state in cls}


class Role(Labelled):
    WORKER = "worker", _l("Travailleur")
    COORDINATOR = "coordinator", _l("Coordinateur")


class ReviewState(Labelled):
    UNREVIEWED = "unreviewed", _l("À examiner")
    VALIDATED = "validated", _l("Validé")
    REJECTED = "rejected", _l("Rejeté")


class SituationState(Labelled):
    OPEN = "open", _l("Ouverte")
    RESOLVED = "resolved", _l("Résolue")
    EXPIRED = "expired", _l("Expirée")
    WITHDRAWN = "withdrawn", _l("Retirée (signalements rejetés)")  # every report was rejected
    # Imported after live reports began: still open at the establishment's first live
    # record, the committee's archive stops there (barometre.history_import).
    HISTORY_END = "history_end", _l("Fin de l'historique importé")


class JobState(Labelled):
    """A console job's states: an export's, a history import's (`barometre.console.jobs`)."""

    PENDING = "pending", _l("En attente")
    RUNNING = "running", _l("En cours")
    DONE = "done", _l("Prêt")
    FAILED = "failed", _l("Échec")
