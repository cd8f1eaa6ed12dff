"""The console's forms (Flask-WTF: CSRF on every POST, French messages)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from barometre.errors import ValidationFailed
from barometre.languages import LANGUAGES
from barometre.routing import MAX_DB_ID

from ..addresses import MAX_ADDRESS, MAX_CONTACT_NAME, MAX_PHONE
from ..webforms import Form
from .admin import MAX_NAME, MAX_NOTE, MAX_REQUEST, MAX_WORDING

REQUIRED = _l("Ce champ est obligatoire.")


def options(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def required() -> DataRequired:
    return DataRequired(message=REQUIRED)


def at_most(maximum: int) -> Length:
    return Length(max=maximum, message=_l("%(max)d caractères au maximum.", max=maximum))


class FilterForm(Form):
    """Read from the query string: no CSRF, bad values are ignored with a message."""

    class Meta:
        csrf = False

    establishment = SelectField(_l("Établissement"), choices=[], validate_choice=False)
    date_from = DateField(
        _l("Visite du"),
        validators=[Optional()],
        format="%Y-%m-%d",
    )
    date_to = DateField(_l("au"), validators=[Optional()], format="%Y-%m-%d")
    category = SelectField(_l("Catégorie"), choices=[], validate_choice=False)
    offer_type = SelectField(_l("Type d'offre"), choices=[], validate_choice=False)
    service = SelectField(_l("Service"), choices=[], validate_choice=False)
    state = SelectField(_l("État"), choices=[], validate_choice=False)


class ReviewForm(Form):
    """Validate: only the CSRF token."""


class RejectForm(Form):
    reason = TextAreaField(
        _l("Motif du rejet"),
        validators=[required(), at_most(2000)],
        description=_l(
            "Le motif est gardé avec le signalement ; il n'apparaît jamais publiquement."
        ),
    )


class ResolveForm(Form):
    note = TextAreaField(
        _l("Note de résolution"),
        validators=[required(), at_most(2000)],
        description=_l(
            "Ce qui a changé, ou pourquoi la situation est close. "
            "Lue par les coordinateurs seulement."
        ),
    )


class NameForm(Form):
    """An establishment's names: French required (its slug comes from it), nl and en optional."""

    name = StringField(_l("Nom (français)"), validators=[required(), at_most(MAX_NAME)])
    name_nl = StringField(
        _l("Nom (néerlandais)"),
        validators=[at_most(MAX_NAME)],
        description=_l(
            "Facultatif, ex. « Gevangenis van Haren » : le nom montré sur les pages et dans "
            "les courriels en néerlandais. À défaut, le nom français est montré."
        ),
    )
    name_en = StringField(
        _l("Nom (anglais)"),
        validators=[at_most(MAX_NAME)],
        description=_l(
            "Facultatif, ex. « Haren Prison » : le nom montré sur les pages et dans "
            "les courriels en anglais. À défaut, le nom français est montré."
        ),
    )


class ActiveForm(Form):
    active = HiddenField()


class NoteForm(Form):
    note = TextAreaField(
        _l("Note du comité baromètre (français)"),
        validators=[at_most(MAX_NOTE)],
        description=_l(
            "Courte note publique, ex. « vert, avec une alerte sur les temps d'attente ». "
            "Laisser vide pour la retirer."
        ),
    )
    note_nl = TextAreaField(
        _l("Note du comité (néerlandais)"),
        validators=[at_most(MAX_NOTE)],
        description=_l("Facultative : à défaut, la note en français est montrée."),
    )
    note_en = TextAreaField(
        _l("Note du comité (anglais)"),
        validators=[at_most(MAX_NOTE)],
        description=_l("Facultative : à défaut, la note en français est montrée."),
    )


class WhatToDoForm(Form):
    """Whom at Fidex the contacts answer and what the committee asks (issue 26); the
    service checks the address, the phone number and the characters."""

    fidex_name = StringField(
        _l("Contact à Fidex : nom"),
        validators=[at_most(MAX_CONTACT_NAME)],
        description=_l(
            "Facultatif : sans nom, adresse ni téléphone ici, les alertes donnent le contact "
            "Fidex des réglages."
        ),
    )
    fidex_email = StringField(
        _l("Contact à Fidex : adresse électronique"),
        validators=[at_most(MAX_ADDRESS)],
    )
    fidex_phone = StringField(
        _l("Contact à Fidex : téléphone"),
        validators=[at_most(MAX_PHONE)],
        description=_l("Facultatif, ex. « +32 2 123 45 67 »."),
    )
    request = TextAreaField(
        _l("Ce que le comité demande (français)"),
        validators=[at_most(MAX_REQUEST)],
        description=_l(
            "Une phrase, à la fin des alertes aux contacts de l'établissement. "
            "Laisser vide pour la demande par défaut."
        ),
    )
    request_nl = TextAreaField(
        _l("Ce que le comité demande (néerlandais)"),
        validators=[at_most(MAX_REQUEST)],
        description=_l("Facultative : à défaut, la demande en français est montrée."),
    )
    request_en = TextAreaField(
        _l("Ce que le comité demande (anglais)"),
        validators=[at_most(MAX_REQUEST)],
        description=_l("Facultative : à défaut, la demande en français est montrée."),
    )


# Each language of the product (barometre.languages), named in the reader's language.
LANGUAGE_LABELS = {"fr": _l("Français"), "nl": _l("Néerlandais"), "en": _l("Anglais")}
LANGUAGE_CHOICES = options([(code, LANGUAGE_LABELS[code]) for code in LANGUAGES])


class ContactForm(Form):
    email = StringField(_l("Adresse électronique"), validators=[required(), at_most(254)])
    name = StringField(_l("Nom"), validators=[at_most(MAX_NAME)])
    language = SelectField(_l("Langue des courriels"), choices=LANGUAGE_CHOICES)
    alerts = BooleanField(_l("Reçoit les alertes"), default=True)
    red_only = BooleanField(_l("Seulement les passages au rouge"))
    digest = BooleanField(_l("Reçoit la synthèse hebdomadaire"), default=True)


class ServiceForm(Form):
    name = StringField(_l("Nom du service"), validators=[required(), at_most(MAX_NAME)])
    alert_emails = TextAreaField(
        _l("Adresses d'alerte"),
        validators=[at_most(5000)],
        description=_l("Une ou plusieurs adresses, séparées par des virgules."),
    )
    active = BooleanField(_l("Actif"), default=True)


# A user's language: empty until chosen, and then the browser's is used.
USER_LANGUAGE_CHOICES = options(
    [
        ("", _l("Celle du navigateur")),
        *[(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
    ]
)


class UserForm(Form):
    role = SelectField(_l("Rôle"), choices=[])
    service = SelectField(_l("Service membre"), choices=[], validate_choice=False)
    language = SelectField(_l("Langue"), choices=USER_LANGUAGE_CHOICES, default="")
    active = BooleanField(_l("Compte actif"))

    def validate_service(self, field: SelectField) -> None:
        value = field.data or ""
        digits = len(value) <= len(str(MAX_DB_ID)) and value.isascii() and value.isdigit()
        if value and not (digits and 0 < int(value) <= MAX_DB_ID):
            raise ValidationError(_l("Service inconnu."))

    def service_id(self) -> int | None:
        """The chosen service's id, once validated (empty: none)."""
        value = self.service.data or ""
        return int(value) if value else None


class ConditionForm(Form):
    category = SelectField(_l("Catégorie"), choices=[])
    label_fr = TextAreaField(
        _l("Libellé (français)"), validators=[required(), at_most(MAX_WORDING)]
    )
    label_nl = TextAreaField(_l("Libellé (néerlandais)"), validators=[at_most(MAX_WORDING)])
    label_en = TextAreaField(_l("Libellé (anglais)"), validators=[at_most(MAX_WORDING)])
    examples = StringField(_l("Exemples (français)"), validators=[at_most(MAX_WORDING)])
    examples_nl = StringField(_l("Exemples (néerlandais)"), validators=[at_most(MAX_WORDING)])
    examples_en = StringField(_l("Exemples (anglais)"), validators=[at_most(MAX_WORDING)])
    keywords = StringField(
        _l("Mots-clés de recherche"),
        validators=[at_most(MAX_WORDING)],
        description=_l("Les mots du terrain qui aident à trouver la condition."),
    )


class ExportForm(Form):
    kind = SelectField(
        _l("Contenu"),
        choices=options([("reports", _l("Signalements")), ("situations", _l("Situations"))]),
    )
    format = SelectField(_l("Format"), choices=options([("xlsx", "XLSX (Excel)"), ("csv", "CSV")]))


def apply_errors(form: Form, failed: ValidationFailed) -> None:
    """Show a service's field errors on the form (unknown fields on the first one)."""
    fields: dict[str, Any] = {name: field for name, field in form._fields.items()}
    for name, messages in failed.errors.items():
        field = fields.get(name) or next((f for n, f in fields.items() if n != "csrf_token"), None)
        if field is not None:
            field.errors = [*list(field.errors or []), *messages]
