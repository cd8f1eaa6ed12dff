"""Account emails (invitation, password reset), sent after the commit that decided them.

A deliberately small sender: the embedded default writes each email as an .eml
file in the outbox folder; with SMTP_HOST set it goes through that server. The
alerts package will later carry these emails too.
"""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app

from barometre.settings import Settings


class MailRefused(ValueError):
    """An address or subject that would inject headers."""


def _check_header(value: str) -> str:
    if any(c in value for c in "\r\n\x00"):
        raise MailRefused("line break in an email header")
    return value


def build_message(settings: Settings, to: str, subject: str, body_text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _check_header(settings.mail_from)
    message["To"] = _check_header(to)
    message["Subject"] = _check_header(subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    message.set_content(body_text)
    return message


def send_account_email(to: str, subject: str, body_text: str) -> None:
    settings: Settings = current_app.config["SETTINGS"]
    message = build_message(settings, to, subject, body_text)
    if settings.smtp_host:
        _send_smtp(settings, message)
    else:
        write_outbox(settings.outbox_path, message)


def write_outbox(folder: Path, message: EmailMessage) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.eml"
    partial = folder / f".{name}.part"
    partial.write_bytes(message.as_bytes())
    # A reader of the folder never sees half an email.
    return partial.rename(folder / name)


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
