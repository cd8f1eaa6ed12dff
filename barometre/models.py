"""The data model of the barometer core.

The database is the source of truth. An establishment row caches its current
level so that reads never recompute; every change of that level is a
`LevelChange` row, never rewritten (R5).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import clock
from .extensions import db
from .languages import LANGUAGES
from .levels import Level, rank_of, stored_level, stored_types
from .states import ReviewState, Role, SituationState

ROLE_WORKER = Role.WORKER
ROLE_COORDINATOR = Role.COORDINATOR
ROLES = (ROLE_WORKER, ROLE_COORDINATOR)


class Category(db.Model):  # type: ignore[name-defined]
    __tablename__ = "category"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    label_fr: Mapped[str] = mapped_column(String(120))
    label_nl: Mapped[str] = mapped_column(String(120), default="")
    label_en: Mapped[str] = mapped_column(String(120), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    conditions: Mapped[list[Condition]] = relationship(
        back_populates="category", order_by="Condition.position"
    )

    def label(self, lang: str = "fr") -> str:
        return str(getattr(self, f"label_{lang}", "") or self.label_fr)


class Condition(db.Model):  # type: ignore[name-defined]
    __tablename__ = "condition"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    label_fr: Mapped[str] = mapped_column(Text)
    label_nl: Mapped[str] = mapped_column(Text, default="")
    label_en: Mapped[str] = mapped_column(Text, default="")
    examples: Mapped[str] = mapped_column(Text, default="")
    examples_nl: Mapped[str] = mapped_column(Text, default="", server_default="")
    examples_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    keywords: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)

    category: Mapped[Category] = relationship(back_populates="conditions")

    def label(self, lang: str = "fr") -> str:
        return str(getattr(self, f"label_{lang}", "") or self.label_fr)

    def examples_in(self, lang: str = "fr") -> str:
        """The examples in `lang`; none rather than French ones on a Dutch or English page."""
        if lang == "fr":
            return self.examples
        return str(getattr(self, f"examples_{lang}", "") or "")

    @property
    def active(self) -> bool:
        return self.retired_at is None


class OfferType(db.Model):  # type: ignore[name-defined]
    __tablename__ = "offer_type"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    label_fr: Mapped[str] = mapped_column(String(60))
    label_nl: Mapped[str] = mapped_column(String(60), default="")
    label_en: Mapped[str] = mapped_column(String(60), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    def label(self, lang: str = "fr") -> str:
        return str(getattr(self, f"label_{lang}", "") or self.label_fr)


class Establishment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "establishment"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Optional Dutch and English names and notes: French is required and the fallback.
    name_nl: Mapped[str] = mapped_column(String(200), default="", server_default="")
    name_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    committee_note: Mapped[str] = mapped_column(Text, default="")
    committee_note_nl: Mapped[str] = mapped_column(Text, default="", server_default="")
    committee_note_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    # When the note was written and the level it spoke of: a note of another level is an
    # older note, not the current word of the committee (None: a note written before).
    committee_note_at: Mapped[datetime | None] = mapped_column(DateTime)
    committee_note_colour: Mapped[str | None] = mapped_column(String(8))
    committee_note_step: Mapped[int | None] = mapped_column(Integer)
    # Whom at Fidex this establishment's contacts answer, and what the committee asks of
    # them (issue 26): empty is the default (the FIDEX_CONTACT_* settings, the default
    # request). The request in French is the request; Dutch and English fall back to it.
    fidex_contact_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    fidex_contact_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    fidex_contact_phone: Mapped[str] = mapped_column(String(40), default="", server_default="")
    committee_request: Mapped[str] = mapped_column(Text, default="", server_default="")
    committee_request_nl: Mapped[str] = mapped_column(Text, default="", server_default="")
    committee_request_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Cached current level, written only by the recompute service.
    colour: Mapped[str] = mapped_column(String(8), default="vert")
    step: Mapped[int] = mapped_column(Integer, default=0)
    open_situations: Mapped[int] = mapped_column(Integer, default=0)
    offer_types: Mapped[str] = mapped_column(String(64), default="")
    red_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    level_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # [condition id, offer types] of each open situation, written with the level:
    # lists of many establishments read their breakdown (R13) here, not from situations.
    open_facts: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    # Bumped by every UPDATE of the row (onupdate): lists of the barometer are
    # cached under the (id, revision) of every establishment (see barometre.datacache).
    revision: Mapped[int] = mapped_column(
        Integer, default=1, server_default="1", onupdate=literal_column("revision + 1")
    )

    def name_in(self, lang: str = "fr") -> str:
        """The name in `lang`, the French one when none was given."""
        return self._in("name", lang)

    def note_in(self, lang: str = "fr") -> str:
        """The committee note in `lang`, the French one when none was given.

        The French note is the note: without it there is none, in any language (R12).
        """
        return self._in("committee_note", lang)

    def request_in(self, lang: str = "fr") -> str:
        """What the committee asks of the contacts, in `lang`; "" when it asked nothing of
        its own (the French request is the request, as the note is the note)."""
        return self._in("committee_request", lang)

    def _in(self, field: str, lang: str) -> str:
        """`field` in `lang` (its `<field>_nl` / `<field>_en` column), the French one when
        that language has none; "" when there is no French one."""
        french = str(getattr(self, field) or "")
        if french and lang in LANGUAGES and lang != "fr":
            return str(getattr(self, f"{field}_{lang}") or french)
        return french

    @property
    def note_is_current(self) -> bool:
        """The note speaks of the level shown: written at it, or before levels were noted."""
        if self.committee_note_colour is None:
            return True
        return (self.committee_note_colour, self.committee_note_step or 0) == (
            self.colour,
            self.step,
        )

    def names(self) -> dict[str, str]:
        """The name in every language (the French one where none was given)."""
        return {lang: self.name_in(lang) for lang in LANGUAGES}

    @property
    def level(self) -> Level:
        return stored_level(
            self.colour, self.step, self.open_situations, self.offer_types, self.red_blocked
        )

    def level_values(self, level: Level, facts: list[list[Any]] | None = None) -> dict[str, Any]:
        """The columns that keep `level` (and, given, the open situations' facts)."""
        values: dict[str, Any] = {
            "colour": level.colour,
            "step": level.step,
            "open_situations": level.open_situations,
            "offer_types": ",".join(level.offer_types),
            "red_blocked": level.red_blocked_by_diversity,
        }
        if facts is not None:
            values["open_facts"] = facts
        return values

    def store_level(self, level: Level, facts: list[list[Any]] | None = None) -> None:
        """Only what differs is set: an unchanged level leaves the row as it is."""
        for name, value in self.level_values(level, facts).items():
            if getattr(self, name) != value:
                setattr(self, name, value)


class MemberService(db.Model):  # type: ignore[name-defined]
    __tablename__ = "member_service"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    alert_emails: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def alert_addresses(self) -> list[str]:
        return [a.strip() for a in self.alert_emails.split(",") if a.strip()]


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default=ROLE_WORKER)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("member_service.id"))
    # None until the user (or whoever created the account) chooses: the browser's is used.
    language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change, disabling, a role change: every older session stops
    # being valid (`account_access.end_sessions`); one session ends with its own row.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    # The second step (barometre.two_step): a TOTP secret (base32, stored as is: it is no
    # more secret than the password hash beside it), in use once confirmed by a code; the
    # time step of the last code accepted, so that a code serves once.
    totp_secret: Mapped[str] = mapped_column(String(64), default="", server_default="")
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    service: Mapped[MemberService | None] = relationship()

    @property
    def is_coordinator(self) -> bool:
        return self.role == ROLE_COORDINATOR

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class ApiToken(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """One of the ten codes that replace a lost second step, each used once.

    Only its SHA-256 is stored: a code is long and random (no dictionary to try).
    """

    __tablename__ = "recovery_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class PasskeyCredential(db.Model):  # type: ignore[name-defined]
    """A passkey or security key (WebAuthn) of an account: its public key only."""

    __tablename__ = "passkey_credential"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The authenticator's credential id, base64url (no padding).
    credential_id: Mapped[str] = mapped_column(String(400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class UserSession(db.Model):  # type: ignore[name-defined]
    """One signed-in browser of an account (`barometre.user_sessions`).

    The cookie carries a random value; the row keeps its sha256 only. A session is
    accepted while its row is not ended and the account's `session_version` is the
    one the cookie names: setting `ended_at` ends it at once, wherever its cookie is.
    """

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    # Written at most once a minute (`user_sessions.SEEN_PRECISION`).
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # The device, read from the User-Agent at sign-in ("" when unknown): "Firefox", "Linux".
    browser: Mapped[str] = mapped_column(String(40), default="")
    system: Mapped[str] = mapped_column(String(40), default="")
    # The client at sign-in, as the throttles count it (an IPv6 client is its /64).
    client_address: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship()


class ReportCondition(db.Model):  # type: ignore[name-defined]
    """One condition a report named, with the offer types it impacted there (R1).

    `offer_types`: comma-separated codes in the order of OFFER_TYPES, like a situation's.
    """

    __tablename__ = "report_condition"
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), primary_key=True)
    condition_id: Mapped[int] = mapped_column(ForeignKey("condition.id"), primary_key=True)
    offer_types: Mapped[str] = mapped_column(String(64), default="", server_default="")

    condition: Mapped[Condition] = relationship()

    @property
    def offer_type_codes(self) -> tuple[str, ...]:
        return stored_types(self.offer_types)


report_condition = ReportCondition.__table__

report_offer_type = Table(
    "report_offer_type",
    db.metadata,
    Column("report_id", ForeignKey("report.id"), primary_key=True),
    Column("offer_type_id", ForeignKey("offer_type.id"), primary_key=True),
)

situation_report = Table(
    "situation_report",
    db.metadata,
    Column("situation_id", ForeignKey("situation.id"), primary_key=True),
    Column("report_id", ForeignKey("report.id"), primary_key=True, index=True),
)


class Report(db.Model):  # type: ignore[name-defined]
    __tablename__ = "report"
    __table_args__ = (
        Index("ix_report_establishment_submitted", "establishment_id", "submitted_at"),
        # "My reports" (newest first) and the questionnaire's repeat check (the last minutes).
        Index("ix_report_author_submitted", "author_id", "submitted_at"),
        # A submission id is its author's: another author's report under it is a new report.
        UniqueConstraint("author_id", "submission_id", name="uq_report_author_submission"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("member_service.id"))
    visit_date: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    description: Mapped[str] = mapped_column(Text, default="")
    description_purged_at: Mapped[datetime | None] = mapped_column(DateTime)
    minutes_waited: Mapped[int | None] = mapped_column(Integer)
    activity_cancelled: Mapped[bool | None] = mapped_column(Boolean)
    detainees_not_seen: Mapped[int | None] = mapped_column(Integer)
    # Canonical lower-case UUID, scoped to the author (uq_report_author_submission).
    submission_id: Mapped[str | None] = mapped_column(String(36))
    review_state: Mapped[str] = mapped_column(String(12), default=ReviewState.UNREVIEWED)
    review_reason: Mapped[str] = mapped_column(Text, default="")
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The committee's own reference, for a report brought in by the history import.
    import_reference: Mapped[str | None] = mapped_column(String(64), unique=True)

    establishment: Mapped[Establishment] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    service: Mapped[MemberService | None] = relationship()
    # Written through `condition_links` (each with its offer types); read-only here.
    conditions: Mapped[list[Condition]] = relationship(
        secondary=report_condition, order_by="Condition.position", viewonly=True
    )
    condition_links: Mapped[list[ReportCondition]] = relationship(cascade="all, delete-orphan")
    offer_types: Mapped[list[OfferType]] = relationship(
        secondary=report_offer_type, order_by="OfferType.position"
    )
    situations: Mapped[list[Situation]] = relationship(
        secondary=situation_report, back_populates="reports"
    )

    @property
    def offer_type_codes(self) -> list[str]:
        """Every offer type the report impacted, over all its conditions."""
        return [o.code for o in self.offer_types]

    def condition_types(self) -> list[tuple[Condition, tuple[str, ...]]]:
        """Each condition the report named with the offer types it gave for it (R1)."""
        links = sorted(self.condition_links, key=lambda link: link.condition.position)
        return [(link.condition, link.offer_type_codes) for link in links]

    def types_for(self, condition_id: int) -> tuple[str, ...]:
        """The offer types the report gave for one condition (none if not named)."""
        for link in self.condition_links:
            if link.condition_id == condition_id:
                return link.offer_type_codes
        return ()


class Situation(db.Model):  # type: ignore[name-defined]
    __tablename__ = "situation"
    __table_args__ = (
        # At most one open situation per (establishment, condition) (R2).
        Index(
            "uq_situation_open",
            "establishment_id",
            "condition_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_situation_establishment_status", "establishment_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    condition_id: Mapped[int] = mapped_column(ForeignKey("condition.id"))
    status: Mapped[str] = mapped_column(String(12), default=SituationState.OPEN)
    offer_types: Mapped[str] = mapped_column(String(64), default="")
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    first_visit: Mapped[date] = mapped_column(Date)
    last_confirmed: Mapped[date] = mapped_column(Date)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    close_note: Mapped[str] = mapped_column(Text, default="")
    # Resolved by a line of the history import (not by the committee in the console).
    closed_by_import: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )

    establishment: Mapped[Establishment] = relationship()
    condition: Mapped[Condition] = relationship()
    reports: Mapped[list[Report]] = relationship(
        secondary=situation_report, back_populates="situations"
    )

    @property
    def offer_type_codes(self) -> tuple[str, ...]:
        return stored_types(self.offer_types)


class LevelChange(db.Model):  # type: ignore[name-defined]
    __tablename__ = "level_change"
    __table_args__ = (Index("ix_level_change_establishment_at", "establishment_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=clock.now, index=True)
    from_colour: Mapped[str] = mapped_column(String(8))
    from_step: Mapped[int] = mapped_column(Integer)
    to_colour: Mapped[str] = mapped_column(String(8))
    to_step: Mapped[int] = mapped_column(Integer)
    open_situations: Mapped[int] = mapped_column(Integer)
    offer_types: Mapped[str] = mapped_column(String(64), default="")
    red_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    cause: Mapped[str] = mapped_column(String(16))
    cause_id: Mapped[int | None] = mapped_column(Integer)
    # Situations opened by the cause (for alerts: "every new situation").
    new_situation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Situations closed by the cause: the one resolved, those a rejection left without a
    # report, those expired (None: a change recorded before they were kept).
    closed_situation_ids: Mapped[list[int] | None] = mapped_column(JSON, default=list)

    establishment: Mapped[Establishment] = relationship()

    @property
    def rank_before(self) -> int:
        return rank_of(self.from_colour, self.from_step)

    @property
    def rank_after(self) -> int:
        return rank_of(self.to_colour, self.to_step)

    @property
    def is_rise(self) -> bool:
        return self.rank_after > self.rank_before


class Contact(db.Model):  # type: ignore[name-defined]
    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("establishment_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(2), default="fr")
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    red_only: Mapped[bool] = mapped_column(Boolean, default=False)

    establishment: Mapped[Establishment] = relationship()


class AuditEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=clock.now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()
