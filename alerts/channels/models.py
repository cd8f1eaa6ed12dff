"""A webhook or chat channel of one recipient (issue 30)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barometre import clock
from barometre.extensions import db
from barometre.models import Establishment, MemberService
from barometre.states import Labelled


class ChannelKind(Labelled):
    WEBHOOK = "webhook", _l("Webhook")
    CHAT = "chat", _l("Messagerie")


# What a channel is inside a sentence (« Canal en échec : webhook n° 3 · … »).
CHANNEL_NOUNS = {ChannelKind.WEBHOOK.value: _l("webhook"), ChannelKind.CHAT.value: _l("messagerie")}


class Channel(db.Model):  # type: ignore[name-defined]
    """Where one recipient's alerts and digest go besides email.

    Its URL and secret are never shown in full once saved: pages, the CLI and the
    notification log show `shown` (the scheme and host of a webhook; Apprise's own
    masked form for a chat), and nothing logs them. A removed channel keeps its row
    (the log names it) with its URL and secret erased.
    """

    __tablename__ = "channel"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text, default="")
    # A webhook's signing secret (« whsec_… », Standard Webhooks); empty for a chat.
    secret: Mapped[str] = mapped_column(String(120), default="")
    shown: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # One of the two, or neither: the committee's channel.
    establishment_id: Mapped[int | None] = mapped_column(ForeignKey("establishment.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("member_service.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)

    establishment: Mapped[Establishment | None] = relationship()
    service: Mapped[MemberService | None] = relationship()

    @property
    def name(self) -> str:
        """What the notification log and the warnings call it: « webhook 3 · https://h/… »."""
        return f"{self.kind} {self.id} · {self.shown}"[:254]

    @property
    def committee(self) -> bool:
        return self.establishment_id is None and self.service_id is None


def channel_words(channel: Channel) -> str:
    """A channel as pages and warnings name it, in the reader's language: « webhook n° 3 ·
    https://h/… » (its masked URL, never its URL)."""
    kind = CHANNEL_NOUNS.get(channel.kind, channel.kind)
    return _("%(kind)s n° %(id)d · %(shown)s", kind=kind, id=channel.id, shown=channel.shown)
