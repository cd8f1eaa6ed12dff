"""What lets an account in: its activity, its sessions, its API tokens.

One path for each change, whoever asks (the console, the command line, the user's own
pages): disabling ends the sessions and revokes every API token for good; enabling
lets the account sign in again and brings no old token back. Services in the house
style: they take the session, flush, never commit, and audit.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import update

from . import clock, user_sessions
from .audit import audit
from .errors import ValidationFailed
from .extensions import DbSession
from .models import ApiToken, User, UserSession


def end_sessions(session: DbSession, user: User, keep: UserSession | None = None) -> int:
    """Every session of the user ends on the server: a new `session_version`, and every
    live session row ended (`user_sessions`). How many rows ended.

    The session lives in a signed cookie; without this a copy of it taken before
    would still open every page. `keep`: the session of the request that asked (a
    password change) goes on; it must sign in again with the new version
    (`intake.signin.stay_signed_in`).
    """
    user.session_version = (user.session_version or 1) + 1
    ended = user_sessions.end_all(session, user, keep)
    session.flush()
    return ended


def end_user_sessions(session: DbSession, actor: User | None, user: User) -> int:
    """Someone else (a coordinator, the command line) ends every session of `user`;
    how many were live. A coordinator's own sessions are theirs to end (their profile)."""
    if actor is not None and actor.id == user.id:
        refused = _("Vos propres sessions se terminent depuis la page Sessions de votre profil.")
        raise ValidationFailed({"sessions": [refused]})
    ended = end_sessions(session, user)
    audit(session, actor, "session.end_all", user, sessions=ended)
    return ended


def revoke_tokens(session: DbSession, user: User) -> int:
    """Revoke every live API token of the user; how many there were."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def revoke_token(session: DbSession, actor: User | None, token: ApiToken) -> None:
    """One token stops being accepted; revoking it again changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        session.flush()
        audit(session, actor, "token.revoke", token)


def disable_user(session: DbSession, actor: User | None, user: User) -> int:
    """The account stops: it cannot sign in, its sessions end, its tokens are revoked for
    good. Returns how many tokens were revoked. A coordinator never disables themself."""
    if actor is not None and actor.id == user.id:
        refused = _("Vous ne pouvez pas retirer votre propre rôle ni désactiver votre compte.")
        raise ValidationFailed({"role": [refused]})
    user.active = False
    end_sessions(session, user)
    revoked = revoke_tokens(session, user)
    audit(session, actor, "user.disable", user, tokens_revoked=revoked)
    return revoked


def enable_user(session: DbSession, actor: User | None, user: User) -> bool:
    """A disabled account may sign in again; False when it was not disabled.

    Its old sessions and tokens stay ended. A token still live on a disabled account
    (the console once disabled without revoking) is revoked here, so that enabling
    never brings one back.
    """
    if user.active:
        return False
    user.active = True
    revoked = revoke_tokens(session, user)
    session.flush()
    audit(session, actor, "user.enable", user, **({"tokens_revoked": revoked} if revoked else {}))
    return True
