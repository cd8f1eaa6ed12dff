"""The write side of the JSON API: reports in, committee decisions."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from barometre import services
from barometre.auth import COORDINATOR, USER, access
from barometre.errors import DomainError, ValidationFailed
from barometre.extensions import db
from barometre.settings import current as settings
from barometre.states import ReviewState, SituationState
from barometre.text import refusal

bp = Blueprint("intake_api", __name__, url_prefix="/api/v1")

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

REPORT_FIELDS = (
    "establishment",
    "visit_date",
    "conditions",
    "offer_types",
    "description",
    "minutes_waited",
    "activity_cancelled",
    "detainees_not_seen",
    "submission_id",
)


@bp.errorhandler(DomainError)
def domain_error(error: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    if isinstance(error, ValidationFailed):
        return jsonify(errors=error.errors), error.status
    return jsonify(error=error.message), error.status


def json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON decoder goes
        body = None
    if not isinstance(body, dict):
        raise ValidationFailed({"body": [_("Corps JSON attendu (un objet).")]})
    return body


class Parser:
    """Turns untrusted JSON values into typed fields, collecting French errors."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, required: bool = False, multiline: bool = False) -> str:
        value = self.body.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, _("Ce champ est obligatoire."))
            return ""
        if not isinstance(value, str):
            self.fail(name, _("Texte attendu."))
            return ""
        if refused := refusal(value, multiline):
            self.fail(name, refused)
            return ""
        return value

    def day(self, name: str) -> date:
        value = self.text(name, required=True)
        try:
            if not value:
                return date.min
            if not ISO_DATE.fullmatch(value):
                raise ValueError(value)  # fromisoformat also takes 20261126 and 2026-W48-4
            return date.fromisoformat(value)
        except ValueError:
            self.fail(name, _("Date invalide (format AAAA-MM-JJ)."))
            return date.min

    def codes(self, name: str, source: dict[str, Any] | None = None, key: str = "") -> list[str]:
        """A list of codes at `name` of the body (or at `key` of `source`, errors at `name`)."""
        value = self.body.get(name) if source is None else source.get(key)
        if value is None:
            self.fail(name, _("Ce champ est obligatoire."))
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, _("Liste de codes attendue."))
            return []
        if len(value) > 100:
            self.fail(name, _("Trop de valeurs."))
            return []
        if refused := next(filter(None, (refusal(v, multiline=False) for v in value)), None):
            self.fail(name, refused)
            return []
        return value

    def impacted(self) -> tuple[list[services.ImpactedCondition], list[str] | None]:
        """`conditions` as objects {code, offer_types}, or as codes with a report-level
        `offer_types` that every condition impacted (the first form of the API).

        Returns the conditions and, for the codes form, the shared offer types.
        """
        value = self.body.get("conditions")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            if "offer_types" in self.body:
                self.fail("offer_types", _("Donnez les types d'offre dans chaque condition."))
            if len(value) > 100:
                self.fail("conditions", _("Trop de valeurs."))
                return [], None
            return [self._impacted(index, item) for index, item in enumerate(value)], None
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            self.fail("conditions", _("Liste de codes ou d'objets {code, offer_types} attendue."))
            codes: list[str] = []
        else:
            codes = self.codes("conditions")
        shared = self.codes("offer_types")
        return [services.ImpactedCondition(code, shared) for code in codes], shared

    def _impacted(self, index: int, item: dict[str, Any]) -> services.ImpactedCondition:
        name = f"conditions[{index}]"
        for unknown in sorted(set(item) - {"code", "offer_types"})[:5]:
            self.fail(f"{name}.{str(unknown)[:64]}", _("Champ inconnu."))
        code = item.get("code")
        if not isinstance(code, str) or not code:
            self.fail(f"{name}.code", _("Code de condition attendu."))
            code = ""
        elif refused := refusal(code, multiline=False):
            self.fail(f"{name}.code", refused)
            code = ""
        types = self.codes(f"{name}.offer_types", item, "offer_types")
        return services.ImpactedCondition(code, types)

    def count(self, name: str) -> int | None:
        value = self.body.get(name)
        if value is None:
            return None
        # JSON has one kind of number: 12.0 is the integer 12 (as JSON Schema's "integer").
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, _("Nombre entier attendu."))
            return None
        return value

    def flag(self, name: str) -> bool | None:
        value = self.body.get(name)
        if value is None or isinstance(value, bool):
            return value
        self.fail(name, _("Valeur vrai/faux attendue."))
        return None


def parse_report(body: dict[str, Any]) -> services.ReportInput:
    parser = Parser(body)
    for unknown in sorted(set(body) - set(REPORT_FIELDS))[:20]:
        parser.fail(str(unknown)[:64], _("Champ inconnu."))
    conditions, shared = parser.impacted()
    data = services.ReportInput(
        establishment=parser.text("establishment", required=True),
        visit_date=parser.day("visit_date"),
        conditions=conditions,
        shared_offer_types=shared,
        description=parser.text("description", multiline=True),
        minutes_waited=parser.count("minutes_waited"),
        activity_cancelled=parser.flag("activity_cancelled"),
        detainees_not_seen=parser.count("detainees_not_seen"),
        submission_id=parser.text("submission_id") or None,
    )
    if parser.errors:
        # Type errors first; the domain checks add what they can judge.
        errors = parser.errors
        try:
            services.check_report(db.session, data, settings())
        except ValidationFailed as failed:
            for name, messages in failed.errors.items():
                errors.setdefault(name, messages)
        raise ValidationFailed(errors)
    return data


@bp.post("/reports")
@access(USER, token_only=True)
def create_report() -> ResponseReturnValue:
    data = parse_report(json_body())
    outcome = services.record_report(db.session, data, current_user, settings())
    assert outcome.report is not None  # noqa: S101 - record_report always returns the report
    # Read before the commit, which expires the objects: no reload after it.
    body = {
        "id": outcome.report.id,
        "created": outcome.created,
        "establishment": outcome.establishment.slug,
        "level": outcome.after.as_dict(),
        "level_before": outcome.before.as_dict(),
        "counted": outcome.counted,
    }
    if not outcome.counted:
        body["reason"] = outcome.reason
    db.session.commit()
    return jsonify(body), 201 if outcome.created else 200


def note_from_body(name: str) -> str:
    value = json_body().get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed({name: [_("Texte attendu.")]})
    return value or ""


@bp.post("/situations/<id:situation_id>/resolve")
@access(COORDINATOR, token_only=True)
def resolve(situation_id: int) -> ResponseReturnValue:
    note = note_from_body("note")
    outcome = services.resolve_situation(db.session, situation_id, current_user, note, settings())
    db.session.commit()
    return jsonify(
        situation=situation_id, status=SituationState.RESOLVED, level=outcome.after.as_dict()
    )


@bp.post("/reports/<id:report_id>/reject")
@access(COORDINATOR, token_only=True)
def reject(report_id: int) -> ResponseReturnValue:
    reason = note_from_body("reason")
    outcome = services.reject_report(db.session, report_id, current_user, reason, settings())
    db.session.commit()
    return jsonify(report=report_id, status=ReviewState.REJECTED, level=outcome.after.as_dict())
