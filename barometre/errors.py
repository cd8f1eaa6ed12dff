"""Domain errors: services raise them, views turn them into flashes or 4xx."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    status = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Bad input: one or more French messages per field, nothing stored."""

    status = 422

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__("Données invalides")
        self.errors = {field: [str(m) for m in messages] for field, messages in errors.items()}


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409
