"""Account emails (invitation, password reset): composed when they are sent.

The password link is signed then, from the notification's user id and dated by
the row: it is stored nowhere and shown nowhere in the console. The words come
from one template set per email (`emails/account_invite.*`, `emails/account_reset.*`)
in the user's language.
"""

from __future__ import annotations

from email.message import EmailMessage

from barometre import clock
from barometre.extensions import DbSession
from barometre.languages import LANGUAGES
from barometre.models import User
from barometre.password_links import INVITE, MAX_AGE, link_url
from barometre.settings import Settings

from .emails import barometer_url, build_message, render
from .models import Notification
from .transport import PermanentFailure

TEMPLATES = {"invite": "account_invite", "reset": "account_reset"}


def language_of(user: User, settings: Settings) -> str:
    """The account's language; one that lets the browser choose gets the default."""
    return str(user.language) if user.language in LANGUAGES else settings.default_locale


def outbox_name(notification_id: int) -> str:
    """Not `notification-…`: the console's outbox page never lists (nor shows) these."""
    return f"account-{notification_id:06d}.eml"


def account_message(
    session: DbSession, notification: Notification, settings: Settings
) -> EmailMessage:
    user = session.get(User, notification.user_id) if notification.user_id else None
    if user is None or not user.is_active:
        raise PermanentFailure("Compte introuvable ou désactivé : lien non envoyé.")
    purpose = notification.kind
    if clock.now() - notification.created_at > MAX_AGE[purpose]:
        # A coordinator's late retry: the link would be dead on arrival.
        raise PermanentFailure("Lien expiré avant l'envoi : un nouveau lien doit être demandé.")
    url = link_url(settings.base_url, user, purpose, notification.created_at)
    hours = int(MAX_AGE[purpose].total_seconds() // 3600)
    context = {
        "name": user.name,
        "email": user.email,
        "url": url,
        "hours": hours,
        "days": hours // 24,
        "invitation": purpose == INVITE,
        "lang": notification.language,
        "barometer_url": barometer_url(settings),
    }
    rendered = render(TEMPLATES[purpose], notification.language, context)
    message = build_message(
        notification.id,
        notification.recipient,
        rendered,
        settings,
        language=notification.language,
    )
    # An account email is not a list one can leave: no unsubscribe headers.
    del message["List-Unsubscribe"]
    del message["List-Unsubscribe-Post"]
    return message
