"""What the intake package stores besides the core's models: failed sign-ins, reset requests,
failed second steps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from barometre import clock
from barometre.extensions import db


class LoginFailure(db.Model):  # type: ignore[name-defined]
    """One failed sign-in, kept an hour, counted per account and per address.

    The account is stored as a hash: the table must not become a list of the
    addresses people typed, existing or not.
    """

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_account_at", "account_key", "at"),
        Index("ix_login_failure_address_at", "address", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    account_key: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))


class ResetRequest(db.Model):  # type: ignore[name-defined]
    """One request for a password link, kept an hour, counted per address typed and per client.

    Recorded whether the account exists or not (so the answer cannot tell),
    with the address as a hash, like `LoginFailure`.
    """

    __tablename__ = "reset_request"
    __table_args__ = (
        Index("ix_reset_request_account_at", "account_key", "at"),
        Index("ix_reset_request_address_at", "address", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    account_key: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))


class SecondStepFailure(db.Model):  # type: ignore[name-defined]
    """One failed second step (a wrong code or passkey), kept an hour, counted per account
    (its id, hashed like `LoginFailure`'s key) and per address."""

    __tablename__ = "second_step_failure"
    __table_args__ = (
        Index("ix_second_step_failure_account_at", "account_key", "at"),
        Index("ix_second_step_failure_address_at", "address", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=clock.now)
    account_key: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
