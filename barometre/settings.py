"""Typed settings, read once from the environment.

Nothing configured gives the embedded default: SQLite in the instance folder,
background work in-process after commit, emails written to an outbox folder.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_INSTANCE = Path.cwd() / "instance"


class SettingsError(ValueError):
    """One or more settings are missing or wrong; the message says which."""


@dataclass(frozen=True)
class Settings:
    env: str = field(default="development", metadata={"env": "BAROMETRE_ENV"})
    secret_key: str = ""
    instance_path: str = str(DEFAULT_INSTANCE)
    database_url: str = ""
    redis_url: str = ""
    celery_broker_url: str = ""
    celery_queue: str = "barometre"
    base_url: str = "http://127.0.0.1:5000"
    public_barometer: bool = False
    situation_ttl_days: int = 30
    red_threshold: int = 5
    red_min_offer_types: int = 2
    alert_group_wait: int = 300
    notify_back_to_green: bool = True
    reports_require_review: bool = False
    retention_days: int = 730
    max_visit_age_days: int = 90
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "barometre@localhost"
    outbox_dir: str = ""
    digest_day: int = 0
    digest_hour: int = 8
    timezone: str = "Europe/Brussels"
    default_locale: str = "fr"
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def sqlalchemy_url(self) -> str:
        return normalise_database_url(
            self.database_url or f"sqlite:///{Path(self.instance_path) / 'barometre.db'}"
        )

    @property
    def outbox_path(self) -> Path:
        return Path(self.outbox_dir or Path(self.instance_path) / "outbox")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        errors: list[str] = []
        for f in fields(cls):
            if f.name == "extra":
                continue
            name = f.metadata.get("env", f.name.upper())
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(raw, f.type)
            except ValueError:
                errors.append(f"{name}: valeur invalide {raw!r} ({f.type})")
        settings = cls(**values)
        errors.extend(settings.problems())
        if errors:
            raise SettingsError("Configuration invalide:\n- " + "\n- ".join(errors))
        return settings

    def problems(self) -> list[str]:
        found = []
        if self.env not in ("development", "production"):
            found.append("BAROMETRE_ENV: 'development' ou 'production'")
        if self.production and len(self.secret_key) < 32:
            found.append("SECRET_KEY: obligatoire en production (au moins 32 caractères)")
        if self.red_threshold < 1 or not 1 <= self.red_min_offer_types <= 3:
            found.append("RED_THRESHOLD >= 1 et 1 <= RED_MIN_OFFER_TYPES <= 3")
        if self.situation_ttl_days < 1 or self.alert_group_wait < 0:
            found.append("SITUATION_TTL_DAYS >= 1 et ALERT_GROUP_WAIT >= 0")
        if not 0 <= self.digest_day <= 6 or not 0 <= self.digest_hour <= 23:
            found.append("DIGEST_DAY dans 0..6 (0 = lundi) et DIGEST_HOUR dans 0..23")
        return found


def _parse(raw: str, kind: object) -> Any:
    kind = str(kind)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on", "oui"):
            return True
        if lowered in ("0", "false", "no", "off", "non"):
            return False
        raise ValueError(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw


def normalise_database_url(url: str) -> str:
    """Accept the usual URL forms and use the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def ensure_secret_key(settings: Settings) -> Settings:
    """Development without SECRET_KEY: keep a random key in the instance folder."""
    if settings.secret_key:
        return settings
    path = Path(settings.instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.with_overrides(secret_key=path.read_text().strip())
