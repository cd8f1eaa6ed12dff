"""Where emails go: one .eml file each in the outbox folder, or one SMTP server.

Without `SMTP_HOST` (the embedded default) each email is written to the outbox
folder. With it, three ways to reach the server: plain SMTP (port 25 unless
`SMTP_PORT` says otherwise), STARTTLS (`SMTP_STARTTLS=1`, port 587) or implicit
TLS (`SMTP_SSL=1`, port 465). With TLS the server's certificate is always
verified, host name included, against the system's authorities or the one file
`SMTP_CA_FILE` names: nothing, neither login nor message, is sent before TLS is
up, and a certificate that does not verify is a failure naming it.

The delivery outcomes: `TemporaryFailure` (4xx, network, timeout, TLS not
established: try again later), `PermanentFailure` (5xx) and `UncertainDelivery`
(the whole message went, then the answer was lost).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

from barometre.settings import Settings, mail_problem

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

MAX_ERROR = 500


class TemporaryFailure(Exception):
    """Try again later (4xx, network, timeout)."""


class PermanentFailure(Exception):
    """Never try again on its own (5xx, refused address)."""


class UncertainDelivery(Exception):
    """The whole message was handed over, then the answer was lost: it may have arrived."""


class Transport:
    """Where a batch's emails go: one SMTP connection, opened on the first email.

    TLS and login happen once per connection. A connection that broke is
    dropped: the email being sent is a temporary failure and the next one
    reconnects. Without an SMTP host, emails are written to the outbox folder.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.problem = mail_problem(settings)  # once a batch: it reads SMTP_CA_FILE
        self._smtp: MarkedSMTP | None = None
        self.connections = 0

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, message: EmailMessage, notification_id: int, outbox: str = "") -> None:
        """Send `message`; in the outbox it is written as `outbox` (default: by its id).

        Wrong mail settings (`Settings.mail_problems`: production without SMTP_HOST, a
        CA file that cannot be read…) send nothing, not even to the outbox: the email
        waits and is retried, the problem named in its row.
        """
        if self.problem:
            raise TemporaryFailure(self.problem[:1].upper() + self.problem[1:])
        if self.settings.uses_outbox:
            write_outbox(message, outbox or outbox_name(notification_id), self.settings)
            return
        smtp = self._connection()
        smtp.message_transmitted = False
        try:
            smtp.send_message(
                message, from_addr=self.settings.mail_from, to_addrs=[str(message["To"])]
            )
        except smtplib.SMTPRecipientsRefused as error:
            self._drop_if_closed()
            code, text = next(iter(error.recipients.values()))
            raise _by_code(code, text) from error
        except smtplib.SMTPResponseException as error:
            self._drop_if_closed()
            raise _by_code(error.smtp_code, error.smtp_error) from error
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            described = f"{type(error).__name__}: {error}"
            if smtp.message_transmitted:  # no answer to a whole message: maybe stored
                raise UncertainDelivery(described) from error
            raise TemporaryFailure(described) from error
        except BaseException:
            self._drop()  # a time limit mid-send: the connection's state is unknown
            raise

    def close(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            _quit(smtp)

    def _connection(self) -> MarkedSMTP:
        if self._smtp is None:
            self._smtp = _connect(self.settings)
            self.connections += 1
        return self._smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            smtp.close()

    def _drop_if_closed(self) -> None:
        # smtplib closes the socket itself on a 421 or a lost connection; else it reset.
        if self._smtp is not None and self._smtp.sock is None:
            self._drop()


class MarkedSMTP(smtplib.SMTP):
    """smtplib's client, marking when a message went whole (body and final dot).

    Before that mark the server has stored nothing, so a lost connection is a
    safe retry; after it, only the server's answer is missing.
    """

    message_transmitted = False
    _in_data = False

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)
        # Within DATA, the command goes as text and the message (ending ".") as bytes.
        if self._in_data and isinstance(s, bytes):
            self.message_transmitted = True


class MarkedSMTPSSL(MarkedSMTP, smtplib.SMTP_SSL):
    """The same marking over implicit TLS (`SMTP_SSL=1`): TLS from the first byte."""


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Verify the server's certificate and host name: the system's store, or SMTP_CA_FILE."""
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _connect(settings: Settings) -> MarkedSMTP:
    host, port, timeout = settings.smtp_host, settings.smtp_port_used, settings.smtp_timeout
    try:
        if settings.smtp_ssl:
            smtp: MarkedSMTP = MarkedSMTPSSL(
                host, port, timeout=timeout, context=tls_context(settings)
            )
        else:
            smtp = MarkedSMTP(host, port, timeout=timeout)
    except ssl.SSLCertVerificationError as error:
        raise TemporaryFailure(_certificate_refused(error)) from error
    except OSError as error:
        raise TemporaryFailure(f"Connexion SMTP impossible\xa0: {error}") from error
    try:
        if settings.smtp_starttls:
            # Raises when the server does not offer STARTTLS: never go on in clear.
            smtp.starttls(context=tls_context(settings))
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except ssl.SSLCertVerificationError as error:
        smtp.close()
        raise TemporaryFailure(_certificate_refused(error)) from error
    except smtplib.SMTPResponseException as error:
        _quit(smtp)
        raise _by_code(error.smtp_code, error.smtp_error) from error
    except (smtplib.SMTPException, OSError) as error:
        _quit(smtp)
        raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
    except BaseException:
        smtp.close()
        raise
    return smtp


def _certificate_refused(error: ssl.SSLCertVerificationError) -> str:
    reason = error.verify_message or str(error)
    return (
        f"Certificat du serveur SMTP refusé ({reason})\xa0: TLS non établi, rien n'a été envoyé. "
        "Vérifiez SMTP_HOST et SMTP_CA_FILE."
    )[:MAX_ERROR]


def _quit(smtp: smtplib.SMTP) -> None:
    # The message is handed over once DATA is accepted; a failing QUIT changes nothing.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _by_code(code: int, text: bytes | str) -> Exception:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    described = f"{code} {reply}"[:MAX_ERROR]
    return PermanentFailure(described) if code >= 500 else TemporaryFailure(described)


def outbox_name(notification_id: int) -> str:
    return f"notification-{notification_id:06d}.eml"


def write_outbox(message: EmailMessage, name: str, settings: Settings) -> None:
    """Embedded default: one .eml file per email; a resend overwrites the same file."""
    folder = settings.outbox_path
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    partial = target.with_suffix(".part")
    partial.write_bytes(message.as_bytes())
    os.replace(partial, target)
