"""The coordinators' console: review, resolve, manage, audit, export (R11, R12)."""
