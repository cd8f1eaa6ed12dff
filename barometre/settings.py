"""Typed settings, read once from the environment.

Nothing configured gives the embedded default: SQLite in the instance folder,
background work in-process after commit, emails written to an outbox folder.
"""

from __future__ import annotations

import os
import secrets
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .addresses import MAX_CONTACT_NAME, clean_address, is_phone
from .jsonline import json_line
from .languages import LANGUAGES
from .text import printable

DEFAULT_INSTANCE = Path.cwd() / "instance"


class SettingsError(ValueError):
    """One or more settings are missing or wrong; the message says which."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Configuration invalide\xa0:\n- " + "\n- ".join(problems))
        self.problems = problems


# Read by every process but checked only by those that send (`Settings.mail_problems`):
# a wrong mail setting never stops migrate or the web site (issue 28).
MAIL_PREFIXES = ("smtp_", "mail_")
# Fields that are not environment variables.
INTERNAL_FIELDS = ("extra", "unreadable_mail")


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
    notify_red_lifted: bool = True
    red_reminder_days: int = 7
    signed_link_days: int = 30
    reports_require_review: bool = False
    retention_days: int = 730
    max_visit_age_days: int = 90
    smtp_host: str = ""
    # None: by the mode, 25 (plain), 587 (STARTTLS) or 465 (implicit TLS); see smtp_port_used.
    smtp_port: int | None = None
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_ca_file: str = ""
    smtp_allow_plain_login: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "barometre@localhost"
    # "" (by SMTP_HOST: set, SMTP; empty, the outbox folder), "smtp" or "outbox". In
    # production an empty SMTP_HOST is refused unless MAIL_BACKEND=outbox says it is meant.
    mail_backend: str = ""
    outbox_dir: str = ""
    digest_day: int = 0
    digest_hour: int = 8
    timezone: str = "Europe/Brussels"
    default_locale: str = "fr"
    audit_retention_days: int = 1095
    export_retention_hours: int = 72
    log_format: str = "json"
    metrics_token: str = ""
    max_content_length: int = 1024 * 1024
    trusted_proxies: int = 0
    privacy_contact: str = ""
    # Whom at Fidex an establishment's contacts answer (issue 26); each establishment may
    # name its own in the console.
    fidex_contact_name: str = ""
    fidex_contact_email: str = ""
    fidex_contact_phone: str = ""
    # Who must sign in with a second step (issue 29): "coordinators", "all" or "none";
    # empty: by the mode, "coordinators" in production, "none" in development.
    require_two_step: str = ""
    # Webhook and chat channels (issue 30) may reach loopback, link-local and private
    # addresses: off, so that a channel is no way into the server's own network.
    channels_allow_private: bool = False
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    # A mail setting that could not be read (e.g. SMTP_PORT=abc): its default stands in,
    # and `mail_problems` names it.
    unreadable_mail: tuple[str, ...] = ()

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def two_step_required_of(self) -> str:
        """REQUIRE_TWO_STEP, or the mode's default: coordinators in production, none else."""
        if self.require_two_step:
            return self.require_two_step
        return "coordinators" if self.production else "none"

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def delivery_queue(self) -> str:
        """The Celery queue of alert deliveries (alert emails, alert groups), beside
        `celery_queue` (digests, exports, periodic work): a worker of its own takes
        it, so that a digest or an export never delays an alert."""
        return f"{self.celery_queue}.delivery"

    @property
    def sqlalchemy_url(self) -> str:
        return normalise_database_url(
            self.database_url or f"sqlite:///{Path(self.instance_path) / 'barometre.db'}"
        )

    @property
    def smtp_port_used(self) -> int:
        """SMTP_PORT, or the usual port of the TLS mode: 465 (SSL), 587 (STARTTLS), else 25."""
        if self.smtp_port is not None:
            return self.smtp_port
        return 465 if self.smtp_ssl else 587 if self.smtp_starttls else 25

    @property
    def uses_outbox(self) -> bool:
        """Emails are written to the outbox folder, not sent."""
        return self.mail_backend == "outbox" or not self.smtp_host

    @property
    def outbox_in_production(self) -> bool:
        """Production writes its emails to a folder (MAIL_BACKEND=outbox, on purpose):
        nothing leaves; said at start and on the console."""
        return self.production and self.uses_outbox

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
        unreadable_mail: list[str] = []
        for f in fields(cls):
            if f.name in INTERNAL_FIELDS:
                continue
            name = f.metadata.get("env", f.name.upper())
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(raw, f.type)
            except ValueError:
                problem = f"{name}: {EXPECTED.get(str(f.type), 'valeur invalide')}"
                mail = f.name.startswith(MAIL_PREFIXES)
                (unreadable_mail if mail else errors).append(problem)
        settings = cls(**values, unreadable_mail=tuple(unreadable_mail))
        errors.extend(settings.problems())
        if errors:
            raise SettingsError(errors)
        return settings

    def problems(self) -> list[str]:
        """Every missing or wrong value, one French sentence each (never a secret's value)."""
        found = []
        if self.env not in ("development", "production"):
            found.append("BAROMETRE_ENV: 'development' ou 'production'")
        if self.production and len(self.secret_key) < 32:
            found.append("SECRET_KEY: obligatoire en production (au moins 32 caractères)")
        if self.red_threshold < 1 or not 1 <= self.red_min_offer_types <= 3:
            found.append("RED_THRESHOLD >= 1 et 1 <= RED_MIN_OFFER_TYPES <= 3")
        if self.situation_ttl_days < 1 or self.alert_group_wait < 0:
            found.append("SITUATION_TTL_DAYS >= 1 et ALERT_GROUP_WAIT >= 0")
        if self.red_reminder_days < 0:
            found.append(
                "RED_REMINDER_DAYS: un nombre entier de jours, 0 ou plus (0\xa0: aucun rappel)"
            )
        if not 0 <= self.digest_day <= 6 or not 0 <= self.digest_hour <= 23:
            found.append("DIGEST_DAY dans 0..6 (0 = lundi) et DIGEST_HOUR dans 0..23")
        for check in (_url_problems, _limit_problems, _fidex_contact_problems):
            found.extend(check(self))
        if self.production and self.sqlalchemy_url.startswith("sqlite"):
            found.append(
                "DATABASE_URL: PostgreSQL obligatoire en production "
                "(postgresql://utilisateur:motdepasse@hôte:5432/base\xa0; SQLite sert à la démo)"
            )
        return found

    def mail_problems(self) -> list[str]:
        """What keeps emails from leaving as they should, one French sentence each.

        Checked by the processes that send (the delivery worker refuses to start; an
        email is not sent, and retried, while one stands), shown by `/readyz` and the
        console; never a reason for migrate or the web site to stop.
        """
        return [*self.unreadable_mail, *_mail_problems(self), *_backend_problems(self)]


TWO_STEP_RULES = ("coordinators", "all", "none")
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "postgresql+psycopg")
REDIS_SCHEMES = ("redis", "rediss", "unix")
BROKER_SCHEMES = (*REDIS_SCHEMES, "redis+socket", "sentinel", "amqp", "amqps", "pyamqp")


def _url_problem(name: str, url: str, schemes: tuple[str, ...], needs_host: bool) -> str | None:
    """Say what is wrong with a URL without repeating it: it may hold a password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"{name}: adresse illisible (port ou format invalide)"
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        return f"{name}: schéma {parts.scheme or '(aucun)'!r} non pris en charge ({allowed})"
    if needs_host and not parts.hostname and "host=" not in parts.query:
        return f"{name}: nom d'hôte manquant"
    return None


def _url_problems(settings: Settings) -> list[str]:
    checks = [
        ("BASE_URL", settings.base_url, ("http", "https"), True),
        ("DATABASE_URL", settings.database_url, DATABASE_SCHEMES, False),
        ("REDIS_URL", settings.redis_url, REDIS_SCHEMES, False),
        ("CELERY_BROKER_URL", settings.celery_broker_url, BROKER_SCHEMES, False),
    ]
    found = []
    for name, url, schemes, needs_host in checks:
        if not url:
            continue
        host_required = needs_host or url.split(":", 1)[0] in ("redis", "rediss")
        if problem := _url_problem(name, url, schemes, host_required):
            found.append(problem)
    return found


def _has_control(value: str) -> bool:
    return any(c in value for c in "\r\n\x00")


def _mail_problems(settings: Settings) -> list[str]:
    found = []
    if not 1 <= settings.smtp_port_used <= 65535:
        found.append("SMTP_PORT: un port entre 1 et 65535 (25, 465 ou 587 en général)")
    if not 0 < settings.smtp_timeout <= 300:
        found.append("SMTP_TIMEOUT: un nombre de secondes entre 0 et 300")
    address = settings.mail_from
    if _has_control(address) or "@" not in address or " " in address.strip():
        # It goes into every email's From header: no line breaks, one address.
        found.append("MAIL_FROM: une adresse électronique, sans espace ni retour à la ligne")
    elif not address.isascii():
        # No encoded word may stand in an address (RFC 2047 §5), and no SMTPUTF8 is used.
        found.append("MAIL_FROM: une adresse en caractères ASCII (un domaine en xn--…)")
    if _has_control(settings.smtp_host) or " " in settings.smtp_host.strip():
        found.append("SMTP_HOST: un nom d'hôte, sans espace")
    return found + _tls_problems(settings)


def _tls_problems(settings: Settings) -> list[str]:
    """The TLS mode, the certificate authority and the login must agree."""
    found = []
    if settings.smtp_starttls and settings.smtp_ssl:
        found.append(
            "SMTP_STARTTLS et SMTP_SSL: l'un ou l'autre, pas les deux "
            "(SMTP_STARTTLS=1 sur le port 587, SMTP_SSL=1 sur le port 465)"
        )
    elif settings.smtp_starttls and settings.smtp_port_used == 465:
        found.append(
            "SMTP_PORT=465 attend TLS dès la connexion\xa0: SMTP_SSL=1 au lieu de SMTP_STARTTLS=1"
        )
    if settings.smtp_ca_file and not _readable_file(settings.smtp_ca_file):
        found.append(
            "SMTP_CA_FILE: fichier introuvable ou illisible "
            "(le certificat de l'autorité du serveur SMTP, au format PEM)"
        )
    elif settings.smtp_ca_file and not _loads_as_ca(settings.smtp_ca_file):
        found.append("SMTP_CA_FILE: aucun certificat PEM lisible dans ce fichier")
    plain = not settings.smtp_starttls and not settings.smtp_ssl
    if settings.smtp_user and plain and not settings.smtp_allow_plain_login:
        found.append(
            "SMTP_STARTTLS=1 ou SMTP_SSL=1 requis avec SMTP_USER\xa0: le mot de passe "
            "circulerait en clair (SMTP_ALLOW_PLAIN_LOGIN=1 pour l'accepter, vers un relais local)"
        )
    return found


def _readable_file(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError:
        return False
    return True


def _loads_as_ca(path: str) -> bool:
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


def _limit_problems(settings: Settings) -> list[str]:
    found = []
    if settings.retention_days < 1 or settings.audit_retention_days < 1:
        found.append("RETENTION_DAYS et AUDIT_RETENTION_DAYS: au moins 1 jour")
    if settings.export_retention_hours < 1:
        found.append("EXPORT_RETENTION_HOURS: au moins 1 heure")
    if settings.max_visit_age_days < 1:
        found.append("MAX_VISIT_AGE_DAYS: au moins 1 jour")
    if not 1 <= settings.signed_link_days <= 365:
        found.append("SIGNED_LINK_DAYS: durée de validité des liens signés, 1 à 365 jours")
    if settings.log_format not in ("json", "text"):
        found.append("LOG_FORMAT: 'json' ou 'text'")
    if not 16 * 1024 <= settings.max_content_length <= 100 * 1024 * 1024:
        found.append("MAX_CONTENT_LENGTH: en octets, entre 16384 et 104857600")
    if not 0 <= settings.trusted_proxies <= 5:
        found.append("TRUSTED_PROXIES: nombre de proxys de confiance devant l'application, 0 à 5")
    if settings.metrics_token and len(settings.metrics_token) < 24:
        found.append("METRICS_TOKEN: au moins 24 caractères (ou vide pour le désactiver)")
    if settings.require_two_step not in ("", *TWO_STEP_RULES):
        found.append(
            "REQUIRE_TWO_STEP: 'coordinators', 'all' ou 'none' "
            "(vide\xa0: 'coordinators' en production, 'none' en développement)"
        )
    if settings.default_locale not in LANGUAGES:
        found.append("DEFAULT_LOCALE: 'fr', 'nl' ou 'en'")
    try:
        ZoneInfo(settings.timezone)
    except (ValueError, KeyError, OSError):
        found.append("TIMEZONE: un fuseau horaire IANA, par exemple Europe/Brussels")
    return found


def _fidex_contact_problems(settings: Settings) -> list[str]:
    """The default Fidex contact goes into emails: one line each, an address the address
    rule keeps, a phone number as people write them."""
    found = []
    if len(settings.fidex_contact_name) > MAX_CONTACT_NAME or not printable(
        settings.fidex_contact_name, multiline=False
    ):
        found.append(
            f"FIDEX_CONTACT_NAME: un nom sur une ligne, {MAX_CONTACT_NAME} caractères au maximum"
        )
    if settings.fidex_contact_email and clean_address(settings.fidex_contact_email) is None:
        found.append(
            "FIDEX_CONTACT_EMAIL: une adresse électronique, sans espace ni retour à la ligne"
        )
    if settings.fidex_contact_phone and not is_phone(settings.fidex_contact_phone):
        found.append(
            "FIDEX_CONTACT_PHONE: un numéro de téléphone (chiffres, espaces, + . / - ( ), "
            "par exemple +32 2 123 45 67)"
        )
    return found


def mail_problem(settings: Settings) -> str:
    """« courriel mal configuré : … » with the mail settings' problems, or "" when they
    are right: what `/readyz` says, and why an email is not sent (and retried)."""
    problems = settings.mail_problems()
    return "courriel mal configuré\xa0: " + "\xa0; ".join(problems) if problems else ""


def _backend_problems(settings: Settings) -> list[str]:
    found = []
    if settings.mail_backend not in ("", "smtp", "outbox"):
        found.append("MAIL_BACKEND: 'smtp' ou 'outbox' (vide\xa0: selon SMTP_HOST)")
    elif settings.mail_backend == "smtp" and not settings.smtp_host:
        found.append("MAIL_BACKEND=smtp demande SMTP_HOST (le serveur SMTP qui envoie)")
    elif settings.production and not settings.smtp_host and settings.mail_backend != "outbox":
        found.append(
            "SMTP_HOST: obligatoire en production, sinon aucun courriel ne part "
            "(MAIL_BACKEND=outbox pour les écrire dans un dossier, à dessein)"
        )
    return found


EXPECTED = {
    "bool": "valeur invalide (1/0, true/false, oui/non)",
    "int": "nombre entier attendu",
    "int | None": "nombre entier attendu",
    "float": "nombre attendu (par exemple 10 ou 2.5)",
}


def _parse(raw: str, kind: object) -> Any:
    kind = str(kind)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on", "oui"):
            return True
        if lowered in ("0", "false", "no", "off", "non"):
            return False
        raise ValueError(raw)
    if kind in ("int", "int | None"):
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw


def settings_from_env_or_exit() -> Settings:
    """Read the settings; on a wrong value, print the French message and stop.

    Exit code 4 is gunicorn's "app failed to load": its master then stops
    instead of restarting workers that would fail the same way forever.
    """
    try:
        return Settings.from_env()
    except SettingsError as error:
        refuse_to_start(error.problems)


REFUSAL = "Baromètre ne démarre pas."


def refuse_to_start(problems: list[str], environ: Mapping[str, str] | None = None) -> NoReturn:
    """Say why this process does not start, then exit 4.

    In production (unless LOG_FORMAT=text) one JSON line, as every other line of the
    process, its problems in a list; elsewhere the French sentences, one a line.
    """
    environ = os.environ if environ is None else environ
    error = SettingsError(problems)
    production = environ.get("BAROMETRE_ENV") == "production"
    if production and environ.get("LOG_FORMAT", "json") != "text":
        print(json_line("critical", __name__, REFUSAL, {"problems": problems}), file=sys.stderr)
    else:
        print(f"{REFUSAL} {error}", file=sys.stderr)
    raise SystemExit(4)


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


def current() -> Settings:
    """The settings of the running app (inside an app context)."""
    from flask import current_app

    found: Settings = current_app.config["SETTINGS"]
    return found
