"""What a channel receives: a webhook's JSON payload, a chat's title and text (issue 30).

Both are made from the content its email would have (`alerts.kinds.EMAIL_KINDS`, the
one way an alert or a digest is read), so they say what the email says and nothing
more: the level, the causes in words, the open situations by their condition; never
a report's text, author or service. A channel's links are signed, like a contact's.

The payloads follow the Standard Webhooks envelope, `{"type", "timestamp", "data"}`;
their JSON schemas are in the OpenAPI document (`webhooks`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from barometre.extensions import DbSession
from barometre.settings import Settings

from ..emails import one_line, render_templates
from ..kinds import EMAIL_KINDS
from ..models import DIGEST, GREEN_AGAIN, RED, RED_LIFTED, REMINDER, RISE, Notification
from ..transport import PermanentFailure

LEVEL_CHANGED = "level.changed"
LEVEL_REMINDER = "level.reminder"
DIGEST_WEEKLY = "digest.weekly"
CHANNEL_TEST = "channel.test"

# The webhook event type of each kind a channel receives.
EVENT_TYPES = {
    RISE: LEVEL_CHANGED,
    RED: LEVEL_CHANGED,
    RED_LIFTED: LEVEL_CHANGED,
    GREEN_AGAIN: LEVEL_CHANGED,
    REMINDER: LEVEL_REMINDER,
    DIGEST: DIGEST_WEEKLY,
}


def timestamp(moment: datetime) -> str:
    """UTC, to the second, as RFC 3339 with a Z."""
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _context(session: DbSession, notification: Notification, settings: Settings) -> dict[str, Any]:
    if notification.kind not in EVENT_TYPES:
        raise PermanentFailure(f"Type d'envoi inconnu pour un canal\xa0: {notification.kind}")
    content = EMAIL_KINDS[notification.kind].content(session, notification, settings)
    return content.context


def webhook_payload(
    session: DbSession, notification: Notification, settings: Settings
) -> dict[str, Any]:
    """The notification's event as a Standard Webhooks payload."""
    context = _context(session, notification, settings)
    if notification.kind == DIGEST:
        run = notification.digest_run
        created = run.created_at if run is not None else notification.created_at
        data = _digest_data(context, notification.language)
    else:
        event = notification.event
        if event is None:  # pragma: no cover - an alert's row always has its event
            raise PermanentFailure(f"notification {notification.id} has no event")
        created = event.created_at
        data = _level_data(event, context, notification.language)
    return {"type": EVENT_TYPES[notification.kind], "timestamp": timestamp(created), "data": data}


def _level_data(event: Any, context: dict[str, Any], language: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "language": language,
        "establishment": {
            "slug": event.establishment.slug,
            "name": context["establishment"],
            "url": context["establishment_url"],
        },
        "change": event.kind,
        "summary": context["change"],
        "from": {
            "colour": event.from_colour,
            "step": event.from_step,
            "words": context["previous_level"],
        },
        "to": {
            "colour": event.to_colour,
            "step": event.to_step,
            "words": context["level"],
            "open_situations": event.open_situations,
            "red_pending": context["red_pending"] or None,
        },
        "causes": [
            {"at": timestamp(line["at"]), "change": line["change"], "cause": line["cause"]}
            for line in context["causes"]
        ],
        "situations": [
            {
                "condition": line["code"],
                "label": line["label"],
                "category": line["category_code"],
                "category_label": line["category"],
                "offer_types": list(line["offer_type_codes"]),
                "new": bool(line["new"]),
                "dates": line["dates"],
            }
            for line in context["situations"]
        ],
    }
    if event.kind == REMINDER:
        data["reminder"] = {
            "number": event.reminder_number,
            "red_since": timestamp(context["red_since"]),
            "red_days": context["red_days"],
        }
    return data


def _digest_data(context: dict[str, Any], language: str) -> dict[str, Any]:
    return {
        "language": language,
        "week": context["week"],
        "period": context["period"],
        "establishments": [
            {
                "slug": e.slug,
                "name": e.name,
                "colour": e.colour,
                "words": e.level,
                "open_situations": e.open_situations,
                "week_ago": e.week_ago,
                "trend": e.trend,
                "new_reports": e.new_reports,
                "changes": len(e.changes),
                "url": e.url,
            }
            for e in context["establishments"]
        ],
    }


def chat_message(
    session: DbSession, notification: Notification, settings: Settings
) -> tuple[str, str]:
    """(title, text) of the notification for a chat, in the channel's language."""
    context = _context(session, notification, settings)
    template = EMAIL_KINDS[notification.kind].template
    return render_chat(template, notification.language, {**context, "kind": notification.kind})


def render_chat(template: str, lang: str, context: dict[str, Any]) -> tuple[str, str]:
    parts = render_templates(
        {"title": f"emails/{template}.subject.txt", "text": "channels/chat.txt"}, lang, context
    )
    lines = [line.rstrip() for line in parts["text"].strip().splitlines()]
    return one_line(parts["title"]), "\n".join(line for line in lines if line)


def test_payload(channel_id: int, language: str, now: datetime) -> dict[str, Any]:
    """What « Envoyer un évènement de test » sends: no data of any establishment."""
    return {
        "type": CHANNEL_TEST,
        "timestamp": timestamp(now),
        "data": {"language": language, "channel": channel_id},
    }
