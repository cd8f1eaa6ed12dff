"""The web forms of the intake package.

WTForms checks types (dates, numbers, one value per field); the rules of a
report are the core's (`services.check_report`), shared with the JSON API, and
their French messages are put next to the matching fields.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, Optional, ValidationError

from barometre import clock, services
from barometre.languages import LANGUAGE_NAMES, LANGUAGES
from barometre.models import ROLES
from barometre.text import refusal
from barometre.webforms import Form, an_address

REQUIRED = _l("Ce champ est obligatoire.")
MAX_CODES = 100
PASSWORD_MIN = 10
PASSWORD_MAX = 200


def no_nul(_form: Any, field: Field) -> None:
    """Passwords: any character but NUL (they are hashed, never stored as text)."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(_l("Ce champ contient un caractère interdit."))


def printable_text(multiline: bool) -> Callable[[Any, Field], None]:
    """The rule of every stored text (barometre.text), as a WTForms validator."""

    def check(_form: Any, field: Field) -> None:
        values = field.data if isinstance(field.data, list) else [field.data]
        for value in values:
            if isinstance(value, str) and (refused := refusal(value, multiline)):
                raise ValidationError(refused)

    return check


# Names are one line, like the console's (they may end up in email headers).
printable_line = printable_text(multiline=False)
printable_lines = printable_text(multiline=True)


def language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]


class FrenchDateField(DateField):
    """A date in ISO form (what <input type=date> sends), with our own message."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not valuelist[0]:
            self.data = None
            return
        try:
            self.data = date.fromisoformat(str(valuelist[0]).strip())
        except ValueError:
            self.data = None
            raise ValueError(_l("Date invalide (format AAAA-MM-JJ).")) from None


class OptionalCountField(IntegerField):
    """An optional whole number: empty means "not said"."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = str(valuelist[0]).strip() if valuelist else ""
        if not raw:
            self.data = None
            return
        if len(raw) > 12 or not raw.lstrip("-").isdigit() or not raw.isascii():
            self.data = None
            raise ValueError(_l("Nombre entier attendu."))
        self.data = int(raw)


class CodesField(SelectMultipleField):
    """Checked codes; unknown codes are judged by the core, not by WTForms."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, validate_choice=False, **kwargs)

    def pre_validate(self, form: Any) -> None:
        if len(self.data or []) > MAX_CODES:
            raise ValidationError(_l("Trop de valeurs."))


def new_submission_id() -> str:
    return str(uuid.uuid4())


class ReportForm(Form):
    establishment = RadioField(
        _l("Établissement"), validate_choice=False, validators=[printable_line]
    )
    visit_date = FrenchDateField(_l("Date de la visite"), default=clock.today)
    conditions = CodesField(
        _l("Quelles conditions n'étaient pas réunies lors de votre visite ?"),
        validators=[printable_line],
    )
    # "ACC-01:individuel" for each type ticked in a condition's row (R1); a bare type
    # (the first form of the questionnaire) applies to every ticked condition.
    offer_types = CodesField(_l("Types d'offre impactés"), validators=[printable_line])
    description = TextAreaField(_l("Description (facultative)"), validators=[printable_lines])
    minutes_waited = OptionalCountField(_l("Minutes d'attente"))
    activity_cancelled = RadioField(
        _l("L'activité a-t-elle été annulée ?"),
        choices=[SelectChoice("true", _l("Oui")), SelectChoice("false", _l("Non"))],
        validate_choice=False,
    )
    detainees_not_seen = OptionalCountField(_l("Détenus qui n'ont pas pu être vus"))
    # Ticked after the page warned that the visit is older than the TTL (history only, R3).
    confirm_late = BooleanField(_l("Je l'envoie quand même, pour l'historique"))
    submission_id = HiddenField(default=new_submission_id, validators=[printable_line])
    # Honeypot: hidden from people, filled by robots.
    website = StringField(_l("Laissez ce champ vide"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.general_errors: list[str] = []
        # Errors about the offer types of one condition, by condition code.
        self.type_errors: dict[str, list[str]] = {}

    def validate_activity_cancelled(self, field: Field) -> None:
        if field.data not in (None, "", "None", "true", "false"):
            raise ValidationError(_l("Valeur vrai/faux attendue."))

    def validate_establishment(self, field: Field) -> None:
        if not field.data or field.data == "None":
            raise ValidationError(_l("Choisissez un établissement."))

    def validate_visit_date(self, field: Field) -> None:
        if field.data is None and not field.errors:
            raise ValidationError(REQUIRED)

    def ticked(self) -> list[str]:
        """The ticked conditions, and those with a type ticked in their row."""
        codes = _clean_codes(self.conditions.data)
        for value in _clean_codes(self.offer_types.data):
            pair = _pair(value)
            if pair and pair[0] not in codes:
                codes.append(pair[0])
        return codes

    def types_of(self, code: str) -> list[str]:
        """The offer types ticked in the row of one condition."""
        pairs = (_pair(v) for v in _clean_codes(self.offer_types.data))
        return [p[1] for p in pairs if p and p[0] == code]

    def impacted(self) -> tuple[list[services.ImpactedCondition], list[str] | None]:
        """Each condition with its types; the shared types when only bare types were sent."""
        values = _clean_codes(self.offer_types.data)
        bare = [v for v in values if not _pair(v)]
        codes = self.ticked()
        if len(bare) == len(values):
            return [services.ImpactedCondition(c, bare) for c in codes], bare
        return [services.ImpactedCondition(c, [*self.types_of(c), *bare]) for c in codes], None

    def report_input(self) -> services.ReportInput:
        """What was typed, as the core's input; unusable values become empty."""
        conditions, shared = self.impacted()
        return services.ReportInput(
            establishment=_clean(self.establishment.data),
            visit_date=self.visit_date.data or clock.today(),
            conditions=conditions,
            shared_offer_types=shared,
            description=self.description.data or "",
            minutes_waited=self.minutes_waited.data,
            activity_cancelled={"true": True, "false": False}.get(
                str(self.activity_cancelled.data)
            ),
            detainees_not_seen=self.detainees_not_seen.data,
            submission_id=_clean(self.submission_id.data) or None,
        )

    def add_domain_errors(self, errors: Mapping[str, Sequence[str]]) -> None:
        """The core's field errors next to their fields (type errors come first)."""
        codes = self.ticked()
        for name, messages in errors.items():
            if index := _condition_index(name):
                code = codes[index[0]] if index[0] < len(codes) else ""
                # Shown in the condition's row and in the summary; the messages name the
                # condition by its wording (a worker never sees the codes).
                self.type_errors[code] = [*messages]
                continue
            field = self._fields.get(name)
            if field is None or name in ("submission_id", "website"):
                self.general_errors.extend(messages)
            elif not field.errors:
                field.errors = [*field.errors, *messages]
        if "submission_id" in errors:
            # A tampered id: the next try gets a fresh one.
            self.submission_id.data = new_submission_id()

    @property
    def has_errors(self) -> bool:
        return bool(self.general_errors or self.type_errors) or any(f.errors for f in self)


def _clean(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value or value == "None":
        return ""
    return value


CONDITION_PAIR = re.compile(r"([A-Z]{1,8}-[0-9]{1,4}):(.+)")
CONDITION_INDEX = re.compile(r"conditions\[([0-9]+)\]\.offer_types")


def _pair(value: str) -> tuple[str, str] | None:
    """("ACC-01", "individuel") for "ACC-01:individuel"; None for a bare type."""
    match = CONDITION_PAIR.fullmatch(value)
    return (match.group(1), match.group(2)) if match else None


def _condition_index(name: str) -> tuple[int] | None:
    match = CONDITION_INDEX.fullmatch(name)
    return (int(match.group(1)),) if match else None


def _clean_codes(values: Any) -> list[str]:
    return [v for v in (values or [])[:MAX_CODES] if isinstance(v, str) and "\x00" not in v]


def _password_field(label: Any) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired(message=REQUIRED),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=_l(
                    "Entre %(min)d et %(max)d caractères.", min=PASSWORD_MIN, max=PASSWORD_MAX
                ),
            ),
            no_nul,
        ],
    )


class LoginForm(Form):
    email = StringField(
        _l("Adresse électronique"),
        validators=[InputRequired(message=REQUIRED), Length(max=254), printable_line],
    )
    password = PasswordField(
        _l("Mot de passe"),
        validators=[InputRequired(message=REQUIRED), Length(max=PASSWORD_MAX), no_nul],
    )
    next = HiddenField()


class ForgotPasswordForm(Form):
    email = StringField(
        _l("Adresse électronique"),
        validators=[
            InputRequired(message=REQUIRED),
            Length(max=254),
            printable_line,
            an_address,
        ],
    )


class SetPasswordForm(Form):
    password = _password_field(_l("Nouveau mot de passe"))
    confirm = PasswordField(
        _l("Confirmez le mot de passe"),
        validators=[
            InputRequired(message=REQUIRED),
            EqualTo("password", message=_l("Les deux mots de passe diffèrent.")),
        ],
    )


class ChangePasswordForm(SetPasswordForm):
    current_password = PasswordField(
        _l("Mot de passe actuel"),
        validators=[InputRequired(message=REQUIRED), Length(max=PASSWORD_MAX), no_nul],
    )


class LanguageForm(Form):
    language = SelectField(_l("Langue"), choices=language_choices())


def _int_or_none(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    return int(value)


ROLE_NAMES = {"worker": _l("Travailleur (service membre)"), "coordinator": _l("Coordinateur Fidex")}


class InviteForm(Form):
    email = StringField(
        _l("Adresse électronique"),
        validators=[
            InputRequired(message=REQUIRED),
            Length(max=254),
            printable_line,
            an_address,
        ],
    )
    name = StringField(
        _l("Nom (facultatif)"), validators=[Optional(), Length(max=200), printable_line]
    )
    role = RadioField(
        _l("Rôle"),
        choices=[SelectChoice(r, ROLE_NAMES[r]) for r in ROLES],
        default=ROLES[0],
        validators=[InputRequired(message=REQUIRED)],
    )
    service = SelectField(_l("Service membre (pour un travailleur)"), coerce=_int_or_none)
    language = SelectField(_l("Langue"), choices=language_choices(), default="fr")


class TokenForm(Form):
    name = StringField(
        _l("Nom du jeton"),
        validators=[InputRequired(message=REQUIRED), Length(max=100), printable_line],
    )


class SecondStepForm(Form):
    """After the password: a code of the code app, or a recovery code."""

    code = StringField(
        _l("Code"),
        validators=[InputRequired(message=REQUIRED), Length(max=64), printable_line],
    )


class TotpSetupForm(Form):
    """The first code of the code app, which confirms it is set up."""

    code = StringField(
        _l("Code à 6 chiffres"),
        validators=[InputRequired(message=REQUIRED), Length(max=16), printable_line],
    )


class ConfirmPasswordForm(Form):
    """Turning off the second step, or new recovery codes: the password again."""

    password = PasswordField(
        _l("Mot de passe"),
        validators=[InputRequired(message=REQUIRED), Length(max=PASSWORD_MAX), no_nul],
    )


class ActionForm(Form):
    """A button that changes something: its CSRF token only."""
