"""Email kinds: one row each, and the one way to compose any email from its row.

A row says which template set the email is written with (`emails/<template>.*`),
who may receive it, what the console and the coordinators' warning call it, what
its List-Unsubscribe stops (none: not a list one leaves, no such headers), whether
it carries a password link (kept off the console's outbox page), and where the
words of its template come from. Adding a kind is one row here and its templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from barometre.extensions import DbSession
from barometre.settings import Settings

from .account_emails import account_content, new_device_content, two_step_reset_content
from .digest import digest_content
from .emails import (
    TOPIC_ALERTS,
    TOPIC_DIGEST,
    Content,
    alert_content,
    build_message,
    one_click_scope,
    render,
    sendable,
)
from .follow.emails import follow_content
from .models import (
    DIGEST,
    FOLLOW,
    GREEN_AGAIN,
    INVITE,
    NEW_DEVICE,
    RED,
    RED_LIFTED,
    REMINDER,
    RESET,
    RISE,
    TO_CONTACT,
    TO_COORDINATOR,
    TO_FOLLOWER,
    TO_SERVICE,
    TO_USER,
    TROUBLE,
    TWO_STEP_RESET,
    Notification,
)
from .trouble import trouble_content

# What a kind's template says, from its notification: the context and what it is about.
ContentOf = Callable[[DbSession, Notification, Settings], Content]


@dataclass(frozen=True)
class EmailKind:
    template: str
    label: LazyString
    recipients: frozenset[str]
    content: ContentOf
    # What its one-click List-Unsubscribe stops; None: asked for by its reader, no such header.
    topic: str | None = TOPIC_ALERTS
    # It carries a password link: written to the outbox under a name the console never lists.
    private: bool = False


# Alerts go to the establishment's contacts, the member services, the coordinators and
# the followers (R10); a reminder or a fall out of red to those of them the red reached.
ALERTED = frozenset({TO_CONTACT, TO_SERVICE, TO_COORDINATOR, TO_FOLLOWER})

EMAIL_KINDS: dict[str, EmailKind] = {
    RISE: EmailKind("rise", _l("Hausse"), ALERTED, alert_content),
    RED: EmailKind("red", _l("Code rouge"), ALERTED, alert_content),
    REMINDER: EmailKind("reminder", _l("Rappel : toujours en code rouge"), ALERTED, alert_content),
    RED_LIFTED: EmailKind("lifted", _l("Code rouge levé"), ALERTED, alert_content),
    GREEN_AGAIN: EmailKind("green", _l("Retour au vert"), ALERTED, alert_content),
    DIGEST: EmailKind("digest", _l("Synthèse"), ALERTED, digest_content, TOPIC_DIGEST),
    TROUBLE: EmailKind(
        "trouble",
        _l("Avertissement : courriels non remis"),
        frozenset({TO_COORDINATOR}),
        trouble_content,
    ),
    FOLLOW: EmailKind(
        "follow_confirm", _l("Confirmation d'un suivi"), frozenset({TO_FOLLOWER}), follow_content
    ),
    INVITE: EmailKind(
        "account_invite",
        _l("Invitation"),
        frozenset({TO_USER}),
        account_content,
        topic=None,
        private=True,
    ),
    RESET: EmailKind(
        "account_reset",
        _l("Réinitialisation du mot de passe"),
        frozenset({TO_USER}),
        account_content,
        topic=None,
        private=True,
    ),
    TWO_STEP_RESET: EmailKind(
        "account_two_step",
        _l("Deuxième étape réinitialisée"),
        frozenset({TO_USER}),
        two_step_reset_content,
        topic=None,
    ),
    # No password link, nothing the console's user page does not show: not private.
    NEW_DEVICE: EmailKind(
        "account_new_device",
        _l("Nouvelle connexion à un compte"),
        frozenset({TO_USER}),
        new_device_content,
        topic=None,
    ),
}


def label(kind: str) -> str:
    """What the console and the coordinators' warning call an email of `kind`."""
    found = EMAIL_KINDS.get(kind)
    return kind if found is None else str(found.label)


def compose(session: DbSession, notification: Notification, settings: Settings) -> EmailMessage:
    """The email of a notification, as its kind's row says, in the recipient's language."""
    kind = EMAIL_KINDS[notification.kind]
    sendable(notification.recipient)  # refused before anything is rendered
    content = kind.content(session, notification, settings)
    return build_message(
        notification.id,
        notification.recipient,
        render(kind.template, notification.language, content.context),
        settings,
        language=notification.language,
        topic=kind.topic,
        scope=one_click_scope(notification.recipient_kind, content.about),
    )
