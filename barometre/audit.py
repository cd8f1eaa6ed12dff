"""The audit log: who did what, never a report's text."""

from __future__ import annotations

from typing import Any

from .extensions import DbSession
from .models import AuditEntry, User


def audit(
    session: DbSession,
    actor: User | None,
    action: str,
    target: Any = None,
    **detail: Any,
) -> None:
    """Record who did what; never report text."""
    session.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            action=action,
            target_type=type(target).__name__.lower() if target is not None else "",
            target_id=getattr(target, "id", None),
            detail=detail,
        )
    )
