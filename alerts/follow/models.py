"""Following one establishment: who follows it, and the requests waiting for their
confirmation (issue 19)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barometre import clock
from barometre.extensions import db
from barometre.models import Establishment


class Follower(db.Model):  # type: ignore[name-defined]
    """An address that follows one establishment, after confirming through its email (issue 19).

    Like a contact, but chosen by the address itself: alerts (every rise, or red
    only) and that establishment's weekly digest. A row with nothing left to
    receive is deleted: stopping means being forgotten.
    """

    __tablename__ = "follower"
    __table_args__ = (UniqueConstraint("establishment_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    email: Mapped[str] = mapped_column(String(254), index=True)
    # The language of the page the address followed from (fr, nl or en).
    language: Mapped[str] = mapped_column(String(2), default="fr")
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    red_only: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)

    establishment: Mapped[Establishment] = relationship()


class FollowRequest(db.Model):  # type: ignore[name-defined]
    """A request to follow an establishment, waiting for its address to confirm it.

    Nothing is sent to the address but the confirmation email until it is
    confirmed (it then becomes a `Follower` and this row goes); an unconfirmed
    request is erased once its link has expired (`FOLLOW_LINK_HOURS`). The rows
    also count the requests per address and per client, for throttling.
    """

    __tablename__ = "follow_request"
    # Two clicks on one link race to confirm it: the loser's DELETE finds the row gone,
    # the outcome the race should have (one follower), not a fault to warn about.
    __mapper_args__ = {"confirm_deleted_rows": False}
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    email: Mapped[str] = mapped_column(String(254), index=True)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    red_only: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=clock.now, index=True)
    # A keyed hash of the client's network address: counted, never shown or kept as such.
    client: Mapped[str] = mapped_column(String(64), index=True)

    establishment: Mapped[Establishment] = relationship()
