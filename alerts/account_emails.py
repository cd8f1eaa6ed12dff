"""Account emails (invitation, password reset, second step reset, new device): composed
when they are sent.

The password link is signed then, from the notification's user id and dated by
the row: it is stored nowhere and shown nowhere in the console. The words come
from one template set per email (`emails/account_invite.*`, `emails/account_reset.*`,
named in `alerts.kinds`) in the user's language; an account email is not a list one
can leave: it has no List-Unsubscribe.
"""

from __future__ import annotations

from barometre import clock
from barometre.extensions import DbSession
from barometre.languages import LANGUAGES
from barometre.models import User, UserSession
from barometre.password_links import INVITE, MAX_AGE, link_url
from barometre.settings import Settings
from barometre.user_sessions import SESSIONS_PATH

from .emails import Content, barometer_url
from .models import Notification
from .transport import PermanentFailure


def language_of(user: User, settings: Settings) -> str:
    """The account's language; one that lets the browser choose gets the default."""
    return str(user.language) if user.language in LANGUAGES else settings.default_locale


def outbox_name(notification_id: int) -> str:
    """Not `notification-…`: the console's outbox page never lists (nor shows) these."""
    return f"account-{notification_id:06d}.eml"


def account_content(session: DbSession, notification: Notification, settings: Settings) -> Content:
    """The invitation or reset email, its link signed now; PermanentFailure when the account
    is gone or disabled, or the link would be dead on arrival."""
    user = session.get(User, notification.user_id) if notification.user_id else None
    if user is None or not user.is_active:
        raise PermanentFailure("Compte introuvable ou désactivé\xa0: lien non envoyé.")
    purpose = notification.kind
    if clock.now() - notification.created_at > MAX_AGE[purpose]:
        # A coordinator's late retry: the link would be dead on arrival.
        raise PermanentFailure("Lien expiré avant l'envoi\xa0: un nouveau lien doit être demandé.")
    hours = int(MAX_AGE[purpose].total_seconds() // 3600)
    return Content(
        {
            "name": user.name,
            "email": user.email,
            "url": link_url(settings.base_url, user, purpose, notification.created_at),
            "hours": hours,
            "days": hours // 24,
            "invitation": purpose == INVITE,
            "lang": notification.language,
            "barometer_url": barometer_url(settings),
        }
    )


def two_step_reset_content(
    session: DbSession, notification: Notification, settings: Settings
) -> Content:
    """The notice that the account's second step was reset (`users reset-two-step`): no
    link in it, only what happened and what to do if the holder did not ask for it."""
    user = session.get(User, notification.user_id) if notification.user_id else None
    if user is None or not user.is_active:
        raise PermanentFailure("Compte introuvable ou désactivé\xa0: avis non envoyé.")
    return Content(
        {
            "name": user.name,
            "email": user.email,
            "lang": notification.language,
            "login_url": settings.base_url.rstrip("/") + "/connexion",
            "barometer_url": barometer_url(settings),
        }
    )


def new_device_content(
    session: DbSession, notification: Notification, settings: Settings
) -> Content:
    """« Nouvelle connexion à votre compte »: the device, the time and the client of the
    session it names, and the sessions page; never the session's cookie or its secret.
    PermanentFailure when the account is gone or disabled, or the session row is gone."""
    user = session.get(User, notification.user_id) if notification.user_id else None
    if user is None or not user.is_active:
        raise PermanentFailure("Compte introuvable ou désactivé\xa0: avertissement non envoyé.")
    ident = notification.user_session_id
    row = session.get(UserSession, ident) if ident else None
    if row is None:
        raise PermanentFailure("Session introuvable\xa0: avertissement non envoyé.")
    return Content(
        {
            "name": user.name,
            "email": user.email,
            "browser": row.browser,
            "system": row.system,
            "when": row.created_at,
            "address": row.client_address,
            "url": settings.base_url.rstrip("/") + SESSIONS_PATH,
            "lang": notification.language,
            "barometer_url": barometer_url(settings),
        }
    )
