"""Account services: invite, sign in, ask for a password link, set or change a password,
choose a language.

Like the core's services they take the session, flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from barometre import services
from barometre.account_access import end_sessions
from barometre.addresses import account_form
from barometre.auth import check_password, hash_password
from barometre.errors import ValidationFailed
from barometre.extensions import DbSession
from barometre.languages import LANGUAGES
from barometre.models import ROLE_WORKER, ROLES, MemberService, User, UserSession
from barometre.password_links import RESET, email_link

from . import throttle

# Verified when the account does not exist, so that both answers take as long.
_DUMMY = User(password_hash=hash_password("not-a-real-password"))


class Throttled(Exception):
    """Too many failed sign-ins, or password-link requests, for this account or address."""


@dataclass(frozen=True)
class Invitation:
    email: str
    role: str
    service_id: int | None
    language: str
    name: str = ""


def find_user(session: DbSession, email: str) -> User | None:
    wanted = account_form(email)
    return session.scalar(select(User).where(func.lower(User.email) == wanted))


def authenticate(session: DbSession, email: str, password: str, address: str) -> User | None:
    """The user for these credentials; None after recording a failure.

    Raises Throttled before checking anything when the window is full.
    """
    if throttle.is_throttled(session, email, address):
        raise Throttled
    user = find_user(session, email)
    if user is None:
        check_password(_DUMMY, password)
    elif user.is_active and check_password(user, password):
        return user
    throttle.record_failure(session, email, address)
    return None


def request_reset(session: DbSession, email: str, address: str, language: str) -> None:
    """Someone asks for a password link: an email if the account exists and is active.

    The same work, in the same order, whatever the address: the request is
    counted (throttled per address typed and per client), the account looked
    up; only then, for an account, one notification row is recorded (its email
    leaves after commit, in the background). Raises Throttled first when a
    window is full. The email is in `language`, the page's when it was asked: the
    person who asks may not read the account's language (or never chose one).
    """
    if throttle.reset_throttled(session, email, address):
        raise Throttled
    throttle.record_reset_request(session, email, address)
    user = find_user(session, email)
    if user is not None and user.is_active:
        email_link(session, user, RESET, language)


def invitation_errors(session: DbSession, data: Invitation) -> dict[str, list[str]]:
    """What the database knows against an invitation (also shown beside type errors)."""
    errors: dict[str, list[str]] = {}
    email = account_form(data.email)
    if find_user(session, email) is not None:
        errors["email"] = [_("Un compte existe déjà pour cette adresse.")]
    if data.role not in ROLES:
        errors["role"] = [_("Rôle inconnu.")]
    service = session.get(MemberService, data.service_id) if data.service_id else None
    if data.role == ROLE_WORKER and service is None:
        errors["service"] = [_("Un travailleur appartient à un service membre.")]
    if data.language not in LANGUAGES:
        errors["language"] = [_("Langue inconnue.")]
    return errors


def invite(session: DbSession, actor: User, data: Invitation) -> User:
    """Create an account without a password; the invitation link sets it."""
    errors = invitation_errors(session, data)
    if errors:
        raise ValidationFailed(errors)
    email = account_form(data.email)
    service = session.get(MemberService, data.service_id) if data.service_id else None
    user = User(
        email=email,
        name=data.name.strip(),
        role=data.role,
        service=service if data.role == ROLE_WORKER else None,
        language=data.language,
        password_hash="",
    )
    session.add(user)
    session.flush()
    services.audit(session, actor, "user.invite", user, role=data.role)
    return user


def set_password(
    session: DbSession, user: User, password: str, keep: UserSession | None = None
) -> None:
    """New password; every session of the user ends (session_version), `keep` excepted."""
    user.password_hash = hash_password(password)
    end_sessions(session, user, keep)


def change_password(
    session: DbSession, user: User, current: str, new: str, keep: UserSession | None = None
) -> None:
    """`keep`: the session that changes it goes on (it must sign in with the new version)."""
    if not check_password(user, current):
        raise ValidationFailed({"current_password": [_("Mot de passe actuel incorrect.")]})
    set_password(session, user, new, keep)
    services.audit(session, user, "user.password_change", user)


def set_language(session: DbSession, user: User, language: str) -> None:
    if language not in LANGUAGES:
        raise ValidationFailed({"language": [_("Langue inconnue.")]})
    user.language = language
    session.flush()
