"""The console's channel form (« Qui reçoit quoi »): whose, which URL, which kind, which
secret, which language. The URL, the kind and the secret are checked by `service.add`
(one path with the CLI); the form only says which field a refusal belongs to."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from barometre.console.forms import LANGUAGE_CHOICES, options
from barometre.extensions import DbSession
from barometre.models import Establishment, MemberService
from barometre.webforms import Form

from .models import ChannelKind
from .service import check_secret
from .targets import ChannelRefused

COMMITTEE = "comite"
ESTABLISHMENT_PREFIX = "etablissement-"
SERVICE_PREFIX = "service-"
AUTOMATIC = ""


def a_secret(_form: Any, field: Any) -> None:
    """A secret typed in is a Standard Webhooks one (`service.check_secret`)."""
    if field.data and field.data.strip():
        try:
            check_secret(str(field.data))
        except ChannelRefused as refused:
            raise ValidationError(refused.reason) from None


class ChannelForm(Form):
    owner = SelectField(
        _l("Destinataire"),
        choices=[],
        description=_l(
            "Le canal d'un établissement reçoit ses alertes et sa synthèse ; celui d'un "
            "service membre ou du comité, toutes les alertes et toute la synthèse."
        ),
    )
    url = StringField(
        _l("URL du canal"),
        description=_l(
            "Un webhook : une URL https://… ; une messagerie : une URL Apprise (tgram://…, "
            "matrix://…, workflows://…, signal://…). Elle n'est plus jamais montrée en entier "
            "une fois enregistrée."
        ),
    )
    kind = SelectField(
        _l("Type"),
        choices=options(
            [
                (AUTOMATIC, _l("Selon l'URL (http:// ou https:// : webhook ; sinon : messagerie)")),
                (ChannelKind.WEBHOOK.value, ChannelKind.WEBHOOK.label),
                (ChannelKind.CHAT.value, ChannelKind.CHAT.label),
            ]
        ),
        default=AUTOMATIC,
    )
    secret = PasswordField(
        _l("Secret du webhook (facultatif)"),
        validators=[a_secret],
        description=_l(
            "« whsec_… », si le destinataire en a déjà un ; laissé vide, un secret est créé "
            "et montré une seule fois. Une messagerie n'a pas de secret."
        ),
    )
    language = SelectField(_l("Langue des messages"), choices=LANGUAGE_CHOICES)

    def owned_by(self) -> tuple[int | None, int | None]:
        """(establishment_id, service_id) of the chosen owner; (None, None): the committee."""
        value = str(self.owner.data or "")
        if value.startswith(ESTABLISHMENT_PREFIX):
            return int(value.removeprefix(ESTABLISHMENT_PREFIX)), None
        if value.startswith(SERVICE_PREFIX):
            return None, int(value.removeprefix(SERVICE_PREFIX))
        return None, None


def owner_choices(session: DbSession, lang: str) -> list[SelectChoice]:
    """The committee, then every establishment, then every member service."""
    establishments = session.scalars(select(Establishment).order_by(Establishment.name))
    services = session.scalars(select(MemberService).order_by(MemberService.name))
    return options(
        [
            (COMMITTEE, _("Le comité (toutes les alertes, toute la synthèse)")),
            *[
                (
                    f"{ESTABLISHMENT_PREFIX}{e.id}",
                    _("%(name)s (établissement)", name=e.name_in(lang)),
                )
                for e in establishments
            ],
            *[
                (f"{SERVICE_PREFIX}{s.id}", _("%(name)s (service membre)", name=s.name))
                for s in services
            ],
        ]
    )


def channel_form(session: DbSession, lang: str, **kwargs: Any) -> ChannelForm:
    form = ChannelForm(**kwargs)
    form.owner.choices = owner_choices(session, lang)
    return form
