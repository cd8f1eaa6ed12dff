"""The alert pipeline's state: groups, events, notifications, digest runs, preferences.

Each email is one `Notification` row, recorded in the transaction that decided
it and delivered after commit (SPEC §7). A row moves pending -> sending -> sent,
or to failed (permanent error, or retries exhausted after 24 h), or to uncertain:
a worker died while sending (resent with the same Message-ID), or the connection
was lost after the whole message went (`sent_at` set; only a coordinator resends).
A failed or uncertain row is trouble: it shows on every console page until it
is retried or dismissed, and coordinators are warned by email, at most once a
day (`DeliveryWarning`, one row per local day).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barometre import clock
from barometre.extensions import db
from barometre.levels import GREEN, Level, ordered_types, rank_of
from barometre.models import Establishment, User
from barometre.states import Labelled


class NotificationState(Labelled):
    """A notification's states (STYLE.md §5), with what the log shows for each."""

    PENDING = "pending", _l("En attente")
    SENDING = "sending", _l("En cours d'envoi")
    SENT = "sent", _l("Envoyée")
    FAILED = "failed", _l("Échec")
    UNCERTAIN = "uncertain", _l("Incertaine")


class GroupState(Labelled):
    OPEN = "open", _l("Ouvert")
    SENT = "sent", _l("Envoyé")
    CANCELLED = "cancelled", _l("Annulé")


# Alert kinds (R6) and the digest (R9).
RISE = "rise"
RED = "red"
GREEN_AGAIN = "green"
RED_LIFTED = "lifted"  # a fall out of red that does not reach green
DIGEST = "digest"
# The coordinators' warning that emails could not be delivered (alerts.trouble).
TROUBLE = "trouble"
# « Toujours en code rouge »: repeated every RED_REMINDER_DAYS while a red lasts (alerts.reminders).
REMINDER = "reminder"
# Account emails (alerts.account): an invitation, a password reset, the notice that the
# second step was reset (`barometre.two_step.RESET_EMAIL`); to a user.
INVITE = "invite"
RESET = "reset"
TWO_STEP_RESET = "twostep"
ACCOUNT_KINDS = (INVITE, RESET, TWO_STEP_RESET)
# « Nouvelle connexion à votre compte »: a sign-in from a device the account had not used.
NEW_DEVICE = "device"
# The confirmation asked of an address that wants to follow an establishment (issue 19).
FOLLOW = "follow"

# Who a recipient is, for the notification log.
TO_CONTACT = "contact"
TO_COORDINATOR = "coordinator"
TO_SERVICE = "service"
TO_USER = "user"
TO_FOLLOWER = "follower"
# The committee's own webhook and chat channels (issue 30): every alert, the whole digest,
# and signed links (a chat's readers may have no account).
TO_COMMITTEE = "committee"


class AlertGroup(db.Model):  # type: ignore[name-defined]
    """Level changes of one establishment waiting `ALERT_GROUP_WAIT` seconds to be told as
    one email: the net change and every step (R7, R15)."""

    __tablename__ = "alert_group"
    __table_args__ = (
        Index(
            "uq_alert_group_open",
            "establishment_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_alert_group_state_send_after", "state", "send_after"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    state: Mapped[str] = mapped_column(String(12), default=GroupState.OPEN)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    send_after: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The level before the first change of the group: what recipients last heard of.
    from_colour: Mapped[str] = mapped_column(String(8))
    from_step: Mapped[int] = mapped_column(Integer)
    level_change_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    new_situation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)

    establishment: Mapped[Establishment] = relationship()

    @property
    def rank_before(self) -> int:
        return rank_of(self.from_colour, self.from_step)


class AlertEvent(db.Model):  # type: ignore[name-defined]
    """One alert to send: a rise, a red, a fall out of red or a return to green, with a
    snapshot of the level and of the open situations it states (R14).

    A reminder is an event too: the `reminder_number`-th reminder of the red event
    `reminder_of`, unique on the pair, so two sweeps can never record it twice.
    """

    __tablename__ = "alert_event"
    __table_args__ = (UniqueConstraint("reminder_of", "reminder_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("alert_group.id"), unique=True)
    from_colour: Mapped[str] = mapped_column(String(8))
    from_step: Mapped[int] = mapped_column(Integer)
    to_colour: Mapped[str] = mapped_column(String(8))
    to_step: Mapped[int] = mapped_column(Integer)
    open_situations: Mapped[int] = mapped_column(Integer)
    offer_types: Mapped[str] = mapped_column(String(64), default="")
    red_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    level_change_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    new_situation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Every situation open when the event was recorded; None for events older than R14.
    open_situation_ids: Mapped[list[int] | None] = mapped_column(JSON)
    # Reminders only: the red event they recall, and which reminder of that red they are.
    reminder_of: Mapped[int | None] = mapped_column(ForeignKey("alert_event.id"))
    reminder_number: Mapped[int | None] = mapped_column(Integer)

    establishment: Mapped[Establishment] = relationship()

    @property
    def level(self) -> Level:
        if not self.open_situations:
            return GREEN
        types = ordered_types(t for t in self.offer_types.split(",") if t)
        return Level(self.to_colour, self.to_step, self.open_situations, types, self.red_blocked)


class DigestRun(db.Model):  # type: ignore[name-defined]
    """One weekly digest for one address: unique per ISO week, so it is never sent twice (R9)."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("iso_week", "recipient"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    iso_week: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    # Establishment ids the digest covers; None: all establishments.
    establishment_ids: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)


class DeliveryWarning(db.Model):  # type: ignore[name-defined]
    """The day's warning to coordinators about undeliverable emails: unique per local day."""

    __tablename__ = "delivery_warning"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    # The failed or uncertain notifications this warning reports.
    notification_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class Notification(db.Model):  # type: ignore[name-defined]
    """One email to one address, or one message to one webhook or chat channel, delivered
    exactly once as far as SMTP (or HTTP) allows (R8)."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient"),
        UniqueConstraint("warning_id", "recipient"),
        Index("ix_notification_state_next", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("alert_event.id"))
    digest_run_id: Mapped[int | None] = mapped_column(ForeignKey("digest_run.id"), unique=True)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_warning.id"))
    # An account email's user: its link is composed from the account when it is sent.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # A follow confirmation's request; no foreign key: the request is erased once
    # confirmed or expired, while this row stays in the log.
    follow_request_id: Mapped[int | None] = mapped_column(Integer)
    # A new-device email's session (`user_session`); no foreign key: the log outlives it.
    user_session_id: Mapped[int | None] = mapped_column(Integer)
    # A webhook or chat channel's row (issue 30): `recipient` is then the channel's name.
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    recipient_kind: Mapped[str] = mapped_column(String(12))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    state: Mapped[str] = mapped_column(String(12), default=NotificationState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now, index=True)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    give_up_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # Trouble (failed or uncertain): when a warning email reported it, when a coordinator
    # dismissed it. A retry clears both.
    warned_at: Mapped[datetime | None] = mapped_column(DateTime)
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime)

    event: Mapped[AlertEvent | None] = relationship()
    digest_run: Mapped[DigestRun | None] = relationship()
    warning: Mapped[DeliveryWarning | None] = relationship()
    user: Mapped[User | None] = relationship()


class AddressPreference(db.Model):  # type: ignore[name-defined]
    """What an address chose through the signed link in its emails (R10)."""

    __tablename__ = "address_preference"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "alerts": self.alerts, "digest": self.digest}
