"""Adding, listing, removing and testing channels: what the console and the CLI do.

A webhook without a secret gets one (`whsec_` and 24 random bytes in base64), shown
once to whoever added it; afterwards neither its URL nor its secret is shown in
full, nor logged, nor written to the journal.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from barometre import clock
from barometre.audit import audit
from barometre.extensions import DbSession
from barometre.languages import DEFAULT_LANGUAGE, supported
from barometre.models import Establishment, MemberService, User
from barometre.privacy import Holding
from barometre.settings import Settings

from ..models import Notification, NotificationState
from ..transport import PermanentFailure, TemporaryFailure
from .models import Channel, ChannelKind
from .payloads import test_payload
from .send import notify, post
from .targets import ChannelRefused, check_url, kind_of, shown

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every Standard Webhooks secret
MAX_SECRET = 120
# A channel whose last sends failed this recently is shown failing.
FAILING_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Added:
    channel: Channel
    # The secret generated for a webhook added without one: shown once, then never.
    generated_secret: str = ""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> str:
    from standardwebhooks import Webhook

    secret = secret.strip()
    if len(secret) > MAX_SECRET or not secret.startswith(SECRET_PREFIX):
        raise ChannelRefused(
            _("Le secret d'un webhook commence par « whsec_ » (Standard Webhooks).")
        )
    try:
        Webhook(secret)
        decoded = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except Exception as error:
        raise ChannelRefused(
            _("Secret de webhook illisible : base64 attendu après « whsec_ ».")
        ) from error
    if len(decoded) < 16:
        raise ChannelRefused(_("Secret de webhook trop court : 16 octets au moins."))
    return secret


def add(
    session: DbSession,
    actor: User | None,
    settings: Settings,
    url: str,
    *,
    kind: str = "",
    establishment_id: int | None = None,
    service_id: int | None = None,
    secret: str = "",
    language: str = DEFAULT_LANGUAGE,
) -> Added:
    """A new channel of an establishment, a service, or the committee (neither)."""
    url = url.strip()
    kind = kind or kind_of(url)
    if kind not in (ChannelKind.WEBHOOK, ChannelKind.CHAT):
        raise ChannelRefused(_("Type de canal inconnu."))
    if establishment_id is not None and service_id is not None:
        raise ChannelRefused(
            _("Un canal est celui d'un établissement ou d'un service, pas des deux.")
        )
    if establishment_id is not None and session.get(Establishment, establishment_id) is None:
        raise ChannelRefused(_("Établissement inconnu."))
    if service_id is not None and session.get(MemberService, service_id) is None:
        raise ChannelRefused(_("Service inconnu."))
    url = check_url(url, kind, settings.channels_allow_private)
    generated = ""
    if kind == ChannelKind.WEBHOOK:
        if secret.strip():
            secret = check_secret(secret)
        else:
            secret = generated = new_secret()
    elif secret.strip():
        raise ChannelRefused(_("Seul un webhook a un secret."))
    duplicate = session.scalar(
        select(Channel.id).where(
            Channel.url == url,
            Channel.removed_at.is_(None),
            _same_owner(establishment_id, service_id),
        )
    )
    if duplicate is not None:
        raise ChannelRefused(_("Ce canal existe déjà (n° %(id)d).", id=duplicate))
    channel = Channel(
        kind=kind,
        url=url,
        secret=secret if kind == ChannelKind.WEBHOOK else "",
        shown=shown(url, kind),
        language=supported(language),
        establishment_id=establishment_id,
        service_id=service_id,
        created_at=clock.now(),
    )
    session.add(channel)
    session.flush()
    audit(session, actor, "channel.add", channel, kind=kind, owner=owner_words(channel))
    return Added(channel, generated)


def _same_owner(establishment_id: int | None, service_id: int | None):  # type: ignore[no-untyped-def]
    return (
        (Channel.establishment_id == establishment_id)
        if establishment_id is not None
        else Channel.establishment_id.is_(None)
    ) & (
        (Channel.service_id == service_id)
        if service_id is not None
        else Channel.service_id.is_(None)
    )


def owner_words(channel: Channel) -> str:
    """Whose channel it is, as the console and the CLI say it."""
    if channel.establishment is not None:
        return channel.establishment.name
    if channel.service is not None:
        return channel.service.name
    return _("le comité")


def live(session: DbSession, channel_id: int) -> Channel | None:
    channel = session.get(Channel, channel_id)
    return None if channel is None or channel.removed_at is not None else channel


def remove(session: DbSession, actor: User | None, channel_id: int) -> Channel | None:
    """Remove a channel: its URL and secret are erased, its row stays for the log; what
    waits to be sent to it fails at its next attempt (« Canal supprimé »)."""
    channel = live(session, channel_id)
    if channel is None:
        return None
    channel.removed_at = clock.now()
    channel.url, channel.secret = "", ""
    session.flush()
    audit(session, actor, "channel.remove", channel, kind=channel.kind, owner=owner_words(channel))
    return channel


def listing(session: DbSession) -> list[Channel]:
    query = select(Channel).where(Channel.removed_at.is_(None)).order_by(Channel.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Health:
    """What a channel's recent sends say: its last outcome, and the failures of the week."""

    last_state: str = ""
    last_at: datetime | None = None
    last_error: str = ""
    failed: int = 0

    @property
    def failing(self) -> bool:
        return self.last_state in (NotificationState.FAILED, NotificationState.UNCERTAIN) or (
            self.failed > 0 and self.last_state != NotificationState.SENT
        )


def health(session: DbSession, channel_ids: list[int]) -> dict[int, Health]:
    if not channel_ids:
        return {}
    since = clock.now() - FAILING_WINDOW
    failed = dict(
        session.execute(
            select(Notification.channel_id, func.count())
            .where(
                Notification.channel_id.in_(channel_ids),
                Notification.state == NotificationState.FAILED,
                Notification.created_at >= since,
            )
            .group_by(Notification.channel_id)
        ).all()
    )
    last_ids = (
        select(func.max(Notification.id))
        .where(
            Notification.channel_id.in_(channel_ids),
            Notification.state != NotificationState.PENDING,
        )
        .group_by(Notification.channel_id)
    )
    found: dict[int, Health] = {}
    for row in session.scalars(select(Notification).where(Notification.id.in_(last_ids))):
        channel_id = int(row.channel_id or 0)
        found[channel_id] = Health(
            row.state,
            row.sent_at or row.claimed_at or row.created_at,
            row.last_error,
            int(failed.get(channel_id, 0)),
        )
    for failing_id, count in failed.items():
        found.setdefault(int(failing_id or 0), Health(failed=int(count)))
    return found


def send_test(session: DbSession, actor: User | None, channel: Channel, settings: Settings) -> str:
    """Send a test event now (not queued, not retried); what happened, in words.

    ChannelRefused with the reason when it could not be delivered."""
    now = clock.now()
    try:
        if channel.kind == ChannelKind.WEBHOOK:
            message_id = f"msg_test_{secrets.token_hex(12)}"
            status = post(
                channel, message_id, test_payload(channel.id, channel.language, now), settings
            )
            said = _("Évènement de test reçu (HTTP %(status)d).", status=status)
        else:
            with force_locale(channel.language):  # the channel's words, not the console's
                title = _("Baromètre : message de test")
                text = _("Ce canal recevra les alertes du baromètre.")
            notify(channel, title, text, settings)
            said = _("Message de test envoyé.")
    except (PermanentFailure, TemporaryFailure) as error:
        audit(session, actor, "channel.test", channel, ok=False)
        raise ChannelRefused(_("Échec du test : %(error)s", error=str(error))) from error
    audit(session, actor, "channel.test", channel, ok=True)
    return said


def holdings(session: DbSession) -> list[Holding]:
    """The receiver of `signals.holdings_asked`: what channels keep, for how long."""
    count = session.scalar(
        select(func.count()).select_from(Channel).where(Channel.removed_at.is_(None))
    )
    return [
        Holding(
            str(
                _l(
                    "Canaux webhook et messagerie (URL, secret de signature, langue ; une URL "
                    "de messagerie peut contenir un numéro de téléphone)"
                )
            ),
            str(_l("Personne en entier : les pages n'en montrent que le début")),
            str(_l("Jusqu'à leur suppression (URL et secret effacés aussitôt)")),
            count or 0,
        )
    ]
