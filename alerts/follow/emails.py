"""Following an establishment: the confirmation email (issue 19).

A request (`alerts.follow.service`) gets one `Notification` of kind "follow",
delivered after commit like every email; it carries the signed link that
makes the address a follower. It is the only email an unconfirmed address
ever gets.
"""

from __future__ import annotations

from typing import Any

from alerts.emails import Content, barometer_url, common_context
from alerts.models import Notification
from alerts.transport import PermanentFailure
from barometre.extensions import DbSession
from barometre.presentation import name_in_sentence
from barometre.settings import Settings

from . import service as follow
from .models import FollowRequest


def confirm_url(request: FollowRequest, settings: Settings) -> str:
    token = follow.follow_token(request, settings)
    slug = request.establishment.slug
    return f"{settings.base_url.rstrip('/')}/etablissements/{slug}/suivre/confirmer/{token}"


def follow_context(request: FollowRequest, lang: str, settings: Settings) -> dict[str, Any]:
    return {
        **common_context(request.email, settings),
        "lang": lang,
        "barometer_url": barometer_url(settings),
        # The name in the email's language, as it reads inside its sentences (every use of
        # it in the confirmation is one: « confirmez le suivi de la prison de Haren »).
        "establishment": name_in_sentence(request.establishment.name_in(lang), lang),
        "address": request.email,
        "alerts": request.alerts,
        "red_only": request.red_only,
        "digest": request.digest,
        "confirm_url": confirm_url(request, settings),
        "link_hours": follow.FOLLOW_LINK_HOURS,
    }


def _request_of(session: DbSession, notification: Notification) -> FollowRequest:
    """The request of a confirmation email; gone (confirmed or expired): nothing to send."""
    request_id = notification.follow_request_id
    request = session.get(FollowRequest, request_id) if request_id is not None else None
    if request is None:
        raise follow_gone(notification.id)
    return request


def follow_content(session: DbSession, notification: Notification, settings: Settings) -> Content:
    """The confirmation email, about the establishment asked for (its one-click link stops
    that one); its request gone (confirmed or expired), nothing to send."""
    request = _request_of(session, notification)
    context = follow_context(request, notification.language, settings)
    return Content(context, [request.establishment_id])


class FollowGone(PermanentFailure):
    """The request of a confirmation email was confirmed or erased before it could go."""


def follow_gone(notification_id: int) -> FollowGone:
    return FollowGone(f"Demande de suivi effacée (notification {notification_id}).")
