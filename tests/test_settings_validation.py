"""Settings are checked at start: one clear French line per wrong value, then a stop.

The mail settings are checked by the processes that send (issue 28): they never stop
migrate or the web site, which say them on /readyz and in the console instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from barometre.settings import INTERNAL_FIELDS, Settings, SettingsError

GOOD_PRODUCTION = {
    "BAROMETRE_ENV": "production",
    "SECRET_KEY": "k" * 40,
    "DATABASE_URL": "postgresql://barometre:secret@db:5432/barometre",
    "SMTP_HOST": "smtp.example.org",
}


def problems_of(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(environ)
    return str(raised.value)


def mail_problems_of(environ: dict[str, str]) -> str:
    """A wrong mail setting: every process reads the settings, the senders refuse them."""
    return "\n".join(Settings.from_env(environ).mail_problems())


def test_a_fidex_contact_as_people_write_it_passes() -> None:
    settings = Settings.from_env(
        {
            "FIDEX_CONTACT_NAME": "Aline Verhaegen (coordination)",
            "FIDEX_CONTACT_EMAIL": "aline@fidex.be",
            "FIDEX_CONTACT_PHONE": "(02) 512.00/00",
        }
    )
    assert settings.fidex_contact_phone == "(02) 512.00/00"


def test_a_good_production_configuration_passes() -> None:
    settings = Settings.from_env(
        {**GOOD_PRODUCTION, "REDIS_URL": "redis://redis:6379/0", "BASE_URL": "https://b.example"}
    )
    assert settings.production and settings.broker_url == "redis://redis:6379/0"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"BAROMETRE_ENV": "production", "DATABASE_URL": "postgresql://h/db"}, "SECRET_KEY"),
        ({**GOOD_PRODUCTION, "SECRET_KEY": "court"}, "SECRET_KEY"),
        ({**GOOD_PRODUCTION, "DATABASE_URL": ""}, "PostgreSQL obligatoire en production"),
        ({**GOOD_PRODUCTION, "DATABASE_URL": "sqlite:///x.db"}, "PostgreSQL obligatoire"),
        ({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL: schéma 'mysql'"),
        ({"DATABASE_URL": "postgresql://h:port/db"}, "DATABASE_URL: adresse illisible"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL: nom d'hôte manquant"),
        ({"CELERY_BROKER_URL": "http://broker"}, "CELERY_BROKER_URL"),
        ({"BASE_URL": "barometre.example"}, "BASE_URL"),
        ({"BASE_URL": "ftp://barometre.example"}, "BASE_URL"),
        ({"PUBLIC_BAROMETER": "peut-être"}, "PUBLIC_BAROMETER: valeur invalide"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
        ({"AUDIT_RETENTION_DAYS": "-1"}, "AUDIT_RETENTION_DAYS"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"MAX_CONTENT_LENGTH": "10"}, "MAX_CONTENT_LENGTH"),
        ({"METRICS_TOKEN": "court"}, "METRICS_TOKEN"),
        ({"TRUSTED_PROXIES": "9"}, "TRUSTED_PROXIES"),
        ({"TIMEZONE": "Europe/Bruxelles"}, "TIMEZONE"),
        ({"SIGNED_LINK_DAYS": "0"}, "SIGNED_LINK_DAYS"),
        ({"SIGNED_LINK_DAYS": "400"}, "SIGNED_LINK_DAYS"),
        ({"SIGNED_LINK_DAYS": "un mois"}, "SIGNED_LINK_DAYS: nombre entier attendu"),
        ({"NOTIFY_RED_LIFTED": "parfois"}, "NOTIFY_RED_LIFTED: valeur invalide"),
        ({"RED_REMINDER_DAYS": "-1"}, "RED_REMINDER_DAYS: un nombre entier de jours, 0 ou plus"),
        ({"RED_REMINDER_DAYS": "une semaine"}, "RED_REMINDER_DAYS: nombre entier attendu"),
        ({"RED_REMINDER_DAYS": "1.5"}, "RED_REMINDER_DAYS: nombre entier attendu"),
        ({"DEFAULT_LOCALE": "de"}, "DEFAULT_LOCALE"),
        (
            {"FIDEX_CONTACT_EMAIL": "pas une adresse"},
            "FIDEX_CONTACT_EMAIL: une adresse électronique",
        ),
        ({"FIDEX_CONTACT_EMAIL": "a@fidex.be\r\nBcc: x@y.z"}, "FIDEX_CONTACT_EMAIL"),
        ({"FIDEX_CONTACT_EMAIL": "b\u043eb@fidex.be"}, "FIDEX_CONTACT_EMAIL"),
        ({"FIDEX_CONTACT_PHONE": "appelez-moi"}, "FIDEX_CONTACT_PHONE: un numéro de téléphone"),
        ({"FIDEX_CONTACT_PHONE": "12"}, "FIDEX_CONTACT_PHONE"),
        ({"FIDEX_CONTACT_PHONE": "+32 2 123 45 67\nBcc"}, "FIDEX_CONTACT_PHONE"),
        ({"FIDEX_CONTACT_NAME": "Aline\nBcc: x@y.z"}, "FIDEX_CONTACT_NAME: un nom sur une ligne"),
        ({"FIDEX_CONTACT_NAME": "A" * 201}, "FIDEX_CONTACT_NAME"),
    ],
)
def test_each_wrong_value_is_named(environ: dict[str, str], expected: str) -> None:
    assert expected in problems_of(environ)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({**GOOD_PRODUCTION, "SMTP_HOST": ""}, "SMTP_HOST: obligatoire en production"),
        ({"MAIL_BACKEND": "pigeon"}, "MAIL_BACKEND: 'smtp' ou 'outbox'"),
        ({"MAIL_BACKEND": "smtp"}, "MAIL_BACKEND=smtp demande SMTP_HOST"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"SMTP_PORT": "vingt-cinq"}, "SMTP_PORT: nombre entier attendu"),
        ({"SMTP_TIMEOUT": "0"}, "SMTP_TIMEOUT"),
        ({"MAIL_FROM": "barometre@fidex.be\r\nBcc: x@y.z"}, "MAIL_FROM"),
        ({"MAIL_FROM": "pas une adresse"}, "MAIL_FROM"),
        ({"MAIL_FROM": "bar\u043emetre@fidex.be"}, "MAIL_FROM: une adresse en caractères ASCII"),
        ({"SMTP_HOST": "smtp.example\nX"}, "SMTP_HOST"),
        (
            {**GOOD_PRODUCTION, "SMTP_USER": "u", "SMTP_PORT": "587"},
            "SMTP_STARTTLS=1 ou SMTP_SSL=1 requis avec SMTP_USER\xa0: le mot de passe circulerait",
        ),
        ({"SMTP_USER": "u"}, "SMTP_STARTTLS=1 ou SMTP_SSL=1 requis avec SMTP_USER"),
        ({"SMTP_USER": "u", "SMTP_PORT": "465"}, "SMTP_STARTTLS=1 ou SMTP_SSL=1 requis"),
        (
            {"SMTP_STARTTLS": "1", "SMTP_SSL": "1"},
            "SMTP_STARTTLS et SMTP_SSL: l'un ou l'autre, pas les deux",
        ),
        (
            {"SMTP_STARTTLS": "1", "SMTP_PORT": "465"},
            "SMTP_PORT=465 attend TLS dès la connexion\xa0: SMTP_SSL=1 au lieu de SMTP_STARTTLS=1",
        ),
        (
            {"SMTP_SSL": "1", "SMTP_CA_FILE": "/nonexistent/ca.pem"},
            "SMTP_CA_FILE: fichier introuvable ou illisible",
        ),
    ],
)
def test_each_wrong_mail_value_is_named_by_the_senders_only(
    environ: dict[str, str], expected: str
) -> None:
    assert expected in mail_problems_of(environ)


def test_a_ca_file_without_certificates_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("pas un certificat\n")
    message = mail_problems_of({"SMTP_STARTTLS": "1", "SMTP_CA_FILE": str(garbage)})
    assert "SMTP_CA_FILE: aucun certificat PEM lisible dans ce fichier" in message


def test_an_unreadable_ca_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ca-folder"  # a folder cannot be read as a file, even by root
    folder.mkdir()
    message = mail_problems_of({"SMTP_STARTTLS": "1", "SMTP_CA_FILE": str(folder)})
    assert "SMTP_CA_FILE: fichier introuvable ou illisible" in message


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        ({}, 25),
        ({"SMTP_STARTTLS": "1"}, 587),
        ({"SMTP_SSL": "1"}, 465),
        ({"SMTP_SSL": "1", "SMTP_PORT": "2465"}, 2465),
        ({"SMTP_STARTTLS": "1", "SMTP_PORT": "25"}, 25),
    ],
)
def test_smtp_port_follows_the_tls_mode_unless_set(environ: dict[str, str], port: int) -> None:
    assert Settings.from_env(environ).smtp_port_used == port


@pytest.mark.parametrize(
    "environ",
    [
        {"SMTP_USER": "u", "SMTP_STARTTLS": "1"},
        {"SMTP_USER": "u", "SMTP_SSL": "1"},
        # The documented opt-out: a relay on the same host, login in clear accepted.
        {"SMTP_USER": "u", "SMTP_ALLOW_PLAIN_LOGIN": "1"},
    ],
)
def test_a_login_with_tls_or_the_explicit_opt_out_passes(environ: dict[str, str]) -> None:
    assert Settings.from_env(environ).smtp_user == "u"


def test_every_problem_is_reported_at_once() -> None:
    environ = {"BAROMETRE_ENV": "production", "RED_THRESHOLD": "0", "LOG_FORMAT": "x"}
    message = problems_of({**environ, "SMTP_PORT": "0"})
    for name in ("SECRET_KEY", "DATABASE_URL", "RED_THRESHOLD", "LOG_FORMAT"):
        assert name in message
    assert "SMTP" not in message  # the senders' business
    mail = {**GOOD_PRODUCTION, "SMTP_PORT": "abc", "SMTP_SSL": "1", "SMTP_STARTTLS": "1"}
    said = mail_problems_of({**mail, "SMTP_HOST": "", "MAIL_FROM": "x"})
    for name in ("SMTP_PORT: nombre entier", "SMTP_STARTTLS et SMTP_SSL", "MAIL_FROM", "SMTP_HOST"):
        assert name in said


def test_messages_never_repeat_a_secret() -> None:
    message = problems_of(
        {
            **GOOD_PRODUCTION,
            "DATABASE_URL": "mysql://admin:Tr3sSecret@db/x",
            "REDIS_URL": "http://:Tr3sSecret@redis",
        }
    )
    assert "Tr3sSecret" not in message


def test_every_setting_has_an_environment_name_documented() -> None:
    """`.env.example` and the operator's manual (docs/operations.md) list every Settings
    field under its env name (tests/test_docs.py: one row each, with its real default)."""
    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text()
    manual = (root / "docs" / "operations.md").read_text()
    for f in fields(Settings):
        if f.name in INTERNAL_FIELDS:
            continue
        name = f.metadata.get("env", f.name.upper())
        assert f"{name}=" in example, name
        assert f"`{name}`" in manual, name


def _run(
    command: list[str], tmp_path: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "INSTANCE_PATH": str(tmp_path),
        "BAROMETRE_ENV": "production",
        "SMTP_PORT": "99999",
        **(env or {}),
    }
    # Run from elsewhere than the repository: gunicorn reads ./gunicorn.conf.py by itself.
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp_path
    )


def test_flask_stops_at_once_with_the_message(tmp_path: Path) -> None:
    """In production the refusal is one JSON line, as every other line the process writes;
    the wrong SMTP_PORT is not a reason for migrate to stop."""
    done = _run([sys.executable, "-m", "flask", "--app", "barometre", "db", "upgrade"], tmp_path)
    assert done.returncode == 4
    [line] = done.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["event"]) == ("critical", "Baromètre ne démarre pas.")
    assert any(p.startswith("SECRET_KEY: obligatoire en production") for p in entry["problems"])
    assert any(p.startswith("DATABASE_URL") for p in entry["problems"])
    assert "SMTP_PORT" not in line


def test_outside_production_the_refusal_is_read_in_a_terminal(tmp_path: Path) -> None:
    env = {"RED_THRESHOLD": "0", "BAROMETRE_ENV": "development"}
    done = _run([sys.executable, "-m", "flask", "--app", "barometre", "routes"], tmp_path, env=env)
    assert done.returncode == 4
    assert done.stderr.startswith("Baromètre ne démarre pas. Configuration invalide\xa0:\n- RED")
    text = _run(
        [sys.executable, "-m", "flask", "--app", "barometre", "routes"],
        tmp_path,
        env={"LOG_FORMAT": "text", "SECRET_KEY": ""},
    )
    assert text.returncode == 4 and text.stderr.startswith("Baromètre ne démarre pas. Config")


GUNICORN = str(Path(sys.executable).parent / "gunicorn")
ROOT = Path(__file__).resolve().parent.parent


def test_gunicorn_as_in_compose_says_it_once_and_stops(tmp_path: Path) -> None:
    config = str(ROOT / "gunicorn.conf.py")
    command = [GUNICORN, "--config", config, "--bind", "127.0.0.1:0", "barometre:create_app()"]
    done = _run(command, tmp_path)
    assert done.returncode == 4
    assert done.stderr.count("SECRET_KEY: obligatoire en production") == 1
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr


def test_bare_gunicorn_stops_instead_of_restarting_workers(tmp_path: Path) -> None:
    """Without our config file the workers fail, and their exit code 4 stops the master.

    (The master's own exit code is 4, or 1 when gunicorn halts from inside its
    signal handler: a race of gunicorn's, either way it stops.)
    """
    command = [GUNICORN, "--bind", "127.0.0.1:0", "--workers", "2", "barometre:create_app()"]
    done = _run(command, tmp_path)
    assert done.returncode in (1, 4)
    assert "SECRET_KEY: obligatoire en production" in done.stderr
    assert "App failed to load" in done.stderr


def test_production_writes_to_the_outbox_only_on_purpose(
    caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    """Issue 28: production without SMTP_HOST is refused (above); MAIL_BACKEND=outbox says
    it is meant: it starts, says so in its log, and the emails go to the folder."""
    settings = Settings.from_env({**GOOD_PRODUCTION, "SMTP_HOST": "", "MAIL_BACKEND": "outbox"})
    assert settings.uses_outbox and settings.outbox_in_production
    forced = Settings.from_env({**GOOD_PRODUCTION, "MAIL_BACKEND": "outbox"})
    assert forced.uses_outbox  # even with SMTP_HOST: the folder, as asked
    assert not Settings.from_env(GOOD_PRODUCTION).uses_outbox
    from barometre import create_app

    with caplog.at_level("WARNING"):
        create_app(settings.with_overrides(instance_path=str(tmp_path), database_url=""))
    assert any("MAIL_BACKEND=outbox en production" in r.getMessage() for r in caplog.records)
