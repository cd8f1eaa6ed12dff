"""The services of the barometer core, one module per subject, gathered for callers.

- `barometre.validation`: a report as given and its checks;
- `barometre.reports`: recording a report;
- `barometre.situations`: the establishment's lock, open situations, closing one;
- `barometre.recompute`: the level from the open situations, each change announced, expiry;
- `barometre.review`: resolve situations, reject or validate reports;
- `barometre.audit`: the audit log.

Every service takes the session explicitly, flushes but never commits: the
caller commits once, so that a report, the situations it opens, the level
change it causes and the work it schedules are one transaction. Each change of
an establishment's level goes through `recompute`, under a lock on the
establishment's row, so two concurrent reports cannot both compute from stale
facts.
"""

from __future__ import annotations

from .audit import audit
from .errors import ValidationFailed
from .recompute import (
    CAUSE_IMPORT,
    Outcome,
    expire_all,
    expire_stale,
    recompute,
    recompute_all,
    thresholds,
)
from .reports import counts, late_note, late_reason, record_report, too_late, was_late
from .review import close_resolved, reject_report, resolve_situation, validate_report
from .settings import Settings
from .situations import lock_establishment, open_situations, still_open, ttl_cutoff
from .validation import (
    MAX_COUNT,
    MAX_DESCRIPTION,
    ImpactedCondition,
    ReportInput,
    check_free_fields,
    check_report,
    valid_submission_id,
)

__all__ = [
    "CAUSE_IMPORT",
    "MAX_COUNT",
    "MAX_DESCRIPTION",
    "ImpactedCondition",
    "Outcome",
    "ReportInput",
    "Settings",
    "ValidationFailed",
    "audit",
    "check_free_fields",
    "check_report",
    "close_resolved",
    "counts",
    "expire_all",
    "expire_stale",
    "late_note",
    "late_reason",
    "lock_establishment",
    "open_situations",
    "recompute",
    "recompute_all",
    "record_report",
    "reject_report",
    "resolve_situation",
    "still_open",
    "thresholds",
    "too_late",
    "ttl_cutoff",
    "valid_submission_id",
    "validate_report",
    "was_late",
]
