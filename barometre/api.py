"""The read side of the JSON API under /api/v1, and its OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from . import clock, openapi
from .auth import BAROMETER, PUBLIC, access
from .datacache import barometer_key, cache
from .extensions import db
from .languages import LANGUAGES
from .levels import Level
from .models import LevelChange, Situation
from .queries import EstablishmentView, ReferentielKey, barometer, iso, referentiel
from .settings import current as settings
from .year_report import PeriodError, parse_period, report_json, year_report

bp = Blueprint("api", __name__, url_prefix="/api/v1")

RECENT_CHANGES = 10
MAX_SLUG = 64


@bp.after_request
def allow_cross_origin_reads(response: Any) -> Any:
    # Member websites embed the barometer: reads carry no cookie-based data.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def level_json(level: Level) -> dict[str, Any]:
    return level.as_dict()


def situation_json(situation: Situation) -> dict[str, Any]:
    return {
        "id": situation.id,
        "condition": situation.condition.code,
        "category": situation.condition.category.code,
        "label": situation.condition.label_fr,
        "offer_types": list(situation.offer_type_codes),
        "opened": iso(situation.opened_at),
        "first_visit": situation.first_visit.isoformat(),
        "last_confirmed": situation.last_confirmed.isoformat(),
        "report_count": situation.report_count,
    }


def change_json(change: LevelChange) -> dict[str, Any]:
    return {
        "at": iso(change.at),
        "from": {"colour": change.from_colour, "step": change.from_step},
        "to": {"colour": change.to_colour, "step": change.to_step},
        "open_situations": change.open_situations,
        "offer_types": [t for t in change.offer_types.split(",") if t],
        "cause": change.cause,
    }


def establishment_json(view: EstablishmentView, detail: bool) -> dict[str, Any]:
    establishment = view.establishment
    body: dict[str, Any] = {
        "slug": establishment.slug,
        "name": establishment.name,
        # Every language's name, the French one where none was given.
        "names": establishment.names(),
        "level": level_json(view.level),
        "diversity": f"{view.level.diversity}/3",
        "missing_offer_types": list(view.level.missing_offer_types),
        "level_changed_at": iso(establishment.level_changed_at),
        "committee_note": establishment.committee_note or None,
        "committee_notes": (
            {lang: establishment.note_in(lang) for lang in LANGUAGES}
            if establishment.committee_note
            else None
        ),
        "breakdown": {
            "by_offer_type": view.breakdown.by_offer_type,
            "by_category": view.breakdown.by_category,
        },
        # The colour of each offer type: what its open situations alone give (R13).
        "offer_type_levels": {
            offer_type: type_level.as_dict()
            for offer_type, type_level in view.breakdown.offer_type_levels().items()
        },
    }
    if detail:
        # Condition wording is for signed-in users; anonymous callers get counts (SPEC §4).
        if current_user.is_authenticated:
            body["open_situations"] = [situation_json(s) for s in view.situations]
        body["recent_changes"] = [change_json(c) for c in view.changes]
    return body


@bp.get("/referentiel")
@access(PUBLIC)
def get_referentiel() -> ResponseReturnValue:
    categories, offer_types = referentiel(db.session)
    return jsonify(
        categories=[
            {"code": c.code, "label": c.label_fr, "label_nl": c.label_nl, "label_en": c.label_en}
            for c in categories
        ],
        conditions=[
            {
                "code": cond.code,
                "label": cond.label_fr,
                "label_nl": cond.label_nl,
                "label_en": cond.label_en,
                "examples": cond.examples,
                "examples_nl": cond.examples_nl,
                "examples_en": cond.examples_en,
                "category": c.code,
                "retired": cond.retired_at is not None,
            }
            for c in categories
            for cond in c.conditions
        ],
        offer_types=[{"code": o.code, "label": o.label_fr} for o in offer_types],
    )


@bp.get("/establishments")
@access(BAROMETER)
def list_establishments() -> ResponseReturnValue:
    # The list is the same for every caller: kept while its data is unchanged.
    key = barometer_key(db.session)
    body = cache("api.establishments").get(key, lambda: list_body(key.referentiel))
    return current_app.response_class(body, mimetype=current_app.json.mimetype)  # type: ignore[attr-defined]


def list_body(referentiel: ReferentielKey) -> str:
    views = barometer(db.session, with_situations=False, known_referentiel=referentiel)
    document = {"establishments": [establishment_json(v, detail=False) for v in views]}
    return current_app.json.dumps(document, separators=(",", ":")) + "\n"


@bp.get("/establishments/<slug>")
@access(BAROMETER)
def get_establishment(slug: str) -> ResponseReturnValue:
    if len(slug) > MAX_SLUG or "\x00" in slug:
        abort(404)  # no such slug can exist, and PostgreSQL refuses NUL in a query
    views = barometer(db.session, [slug], changes_per_establishment=RECENT_CHANGES)
    if not views:
        abort(404)
    return jsonify(establishment_json(views[0], detail=True))


@bp.get("/report")
@access(BAROMETER)
def get_report() -> ResponseReturnValue:
    """The year told (issue 27): the same figures as `/rapport/public`, public ones only."""
    try:
        period = parse_period(
            request.args.get("from"), request.args.get("to"), clock.today(), ("from", "to")
        )
    except PeriodError as error:
        return jsonify(error=str(error)), 400
    return jsonify(report_json(year_report(db.session, period, public=True)))


@bp.get("/openapi.json")
@access(PUBLIC)
def openapi_document() -> ResponseReturnValue:
    # Built from the database each time: the enums are what a report may name now.
    choices = openapi.current_choices(db.session, settings().max_visit_age_days)
    parts = openapi.contributed_parts(db.session)
    return jsonify(openapi.document(choices, parts))
