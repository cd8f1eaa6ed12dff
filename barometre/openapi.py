"""The OpenAPI 3.1 document of /api/v1.

Built at each request from what a report may name today (`Choices`): the slugs of
the active establishments, the codes of the conditions in use and of the offer
types as `enum`s, and the visit dates the window accepts — a generated client, or
a fuzzer, then writes reports that are stored. JSON Schema cannot compare dates
(`formatMinimum` is no standard keyword), so the window is an `enum` of its days
while it is short (MAX_VISIT_AGE_DAYS up to `DATE_ENUM_DAYS`), and otherwise the
bare `format: date` with the window in words.

The packages the app factory wires in add their own parts (`Part`), as their answers to
`signals.openapi_asked`: alerts documents the webhooks a channel receives (issue 30).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from . import clock, signals
from .extensions import DbSession
from .levels import OFFER_TYPES, ORANGE, ROUGE, VERT
from .models import Condition, Establishment, OfferType

# The longest window served as an enum of its days (a year and a day: 367 values).
DATE_ENUM_DAYS = 366

COLOURS = [VERT, ORANGE, ROUGE]
MAX_COUNT = 100_000
# Text fields refuse the NUL character (no database stores it).
NO_NUL = "^[^\\u0000]*$"


@dataclass(frozen=True)
class Choices:
    """What a report may name on `today`: establishment slugs, condition and offer type
    codes (only those the validation accepts), and the oldest visit date accepted."""

    establishments: Sequence[str]
    conditions: Sequence[str]
    offer_types: Sequence[str]
    today: date
    max_visit_age_days: int

    @property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.max_visit_age_days)


def current_choices(session: DbSession, max_visit_age_days: int) -> Choices:
    """What the validation (barometre.validation.check_report) accepts now."""
    establishments = session.scalars(
        select(Establishment.slug)
        .where(Establishment.active.is_(True))
        .order_by(Establishment.slug)
    )
    conditions = session.scalars(
        select(Condition.code).where(Condition.retired_at.is_(None)).order_by(Condition.code)
    )
    offer_types = session.scalars(select(OfferType.code).order_by(OfferType.position))
    return Choices(
        establishments=list(establishments),
        conditions=list(conditions),
        offer_types=list(offer_types),
        today=clock.today(),
        max_visit_age_days=max_visit_age_days,
    )


@dataclass(frozen=True)
class Part:
    """What a package wired in adds to the document: schemas (`components.schemas`, each
    name its own) and OpenAPI 3.1 `webhooks`, the requests it sends to others."""

    schemas: Mapping[str, Any] = field(default_factory=dict)
    webhooks: Mapping[str, Any] = field(default_factory=dict)


def contributed_parts(session: DbSession) -> list[Part]:
    """The parts the packages wired in answer to `signals.openapi_asked`."""
    return [part for _receiver, part in signals.openapi_asked.send(session)]


def _codes(values: Sequence[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), "description": description}


def _types(choices: Choices) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _codes(choices.offer_types, "code d'un type d'offre (GET /api/v1/referentiel)"),
        "minItems": 1,
        "maxItems": 100,
    }


def _visit_date(choices: Choices) -> dict[str, Any]:
    first, last = choices.first_day.isoformat(), choices.today.isoformat()
    schema: dict[str, Any] = {
        "type": "string",
        "format": "date",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "description": f"AAAA-MM-JJ, du {first} au {last}\xa0: ni dans le futur, ni plus "
        f"vieille que {choices.max_visit_age_days} jours (MAX_VISIT_AGE_DAYS)\xa0; la fenêtre "
        "avance chaque jour (dates du fuseau TIMEZONE du serveur)",
    }
    if choices.max_visit_age_days <= DATE_ENUM_DAYS:
        days = range(choices.max_visit_age_days, -1, -1)
        schema["enum"] = [(choices.today - timedelta(days=n)).isoformat() for n in days]
    return schema


NOTE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 2000,
    "pattern": "^[^\\u0000]*\\S[^\\u0000]*$",
}

# A text in each of the product's languages (French where none was given).
IN_EVERY_LANGUAGE: dict[str, Any] = {
    "type": "object",
    "properties": {lang: {"type": "string"} for lang in ("fr", "nl", "en")},
    "required": ["fr", "nl", "en"],
    "additionalProperties": False,
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    },
    "FieldErrors": {
        "type": "object",
        "properties": {
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            }
        },
        "required": ["errors"],
    },
    "Level": {
        "type": "object",
        "properties": {
            "colour": {"type": "string", "enum": COLOURS},
            "step": {"type": "integer", "minimum": 0, "maximum": 5},
            "open_situations": {"type": "integer", "minimum": 0},
            "offer_types": {
                "type": "array",
                "items": {"type": "string", "enum": list(OFFER_TYPES)},
            },
            "red_blocked_by_diversity": {"type": "boolean"},
        },
        "required": [
            "colour",
            "step",
            "open_situations",
            "offer_types",
            "red_blocked_by_diversity",
        ],
    },
    "TypeLevel": {
        "type": "object",
        "description": "la couleur d'un type d'offre\xa0: le palier orange que donnent "
        "ses seules situations ouvertes (vert quand aucune)",
        "properties": {
            "colour": {"type": "string", "enum": [VERT, ORANGE]},
            "step": {"type": "integer", "minimum": 0, "maximum": 5},
        },
        "required": ["colour", "step"],
    },
    "Establishment": {
        "type": "object",
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string", "description": "le nom en français"},
            "names": {
                **IN_EVERY_LANGUAGE,
                "description": "le nom en français, néerlandais et anglais "
                "(le nom français quand aucun n'est donné)",
            },
            "level": _ref("Level"),
            "offer_type_levels": {
                "type": "object",
                "description": "par type d'offre (individuel, collectif, cellulaire)",
                "additionalProperties": _ref("TypeLevel"),
            },
            "diversity": {"type": "string"},
            "missing_offer_types": {"type": "array", "items": {"type": "string"}},
            "level_changed_at": {"type": ["string", "null"]},
            "committee_note": {"type": ["string", "null"], "description": "en français"},
            "committee_notes": {
                "anyOf": [IN_EVERY_LANGUAGE, {"type": "null"}],
                "description": "la note du comité en français, néerlandais et anglais "
                "(la note française quand aucune n'est donnée)\xa0; null sans note",
            },
            "breakdown": {"type": "object"},
            "open_situations": {"type": "array", "items": _ref("Situation")},
            "recent_changes": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["slug", "name", "names", "level", "breakdown", "offer_type_levels"],
    },
    "Situation": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "condition": {"type": "string"},
            "category": {"type": "string"},
            "label": {"type": "string"},
            "offer_types": {"type": "array", "items": {"type": "string"}},
            "opened": {"type": ["string", "null"]},
            "first_visit": {"type": "string", "format": "date"},
            "last_confirmed": {"type": "string", "format": "date"},
            "report_count": {"type": "integer"},
        },
    },
    "ReportCreated": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "created": {"type": "boolean"},
            "establishment": {"type": "string"},
            "level": _ref("Level"),
            "level_before": _ref("Level"),
            "counted": {
                "type": "boolean",
                "description": "faux quand la visite est trop ancienne pour ouvrir ou "
                "confirmer une situation (SITUATION_TTL_DAYS)\xa0: gardé dans l'historique",
            },
            "reason": {"type": "string", "description": "pourquoi il ne compte pas"},
        },
        "required": ["id", "created", "establishment", "level", "counted"],
    },
    "Note": {"type": "object", "properties": {"note": NOTE}, "required": ["note"]},
    "Reason": {"type": "object", "properties": {"reason": NOTE}, "required": ["reason"]},
}

# The fields of a report whose rules do not depend on the database.
REPORT_FREE_FIELDS: dict[str, Any] = {
    "description": {
        "type": ["string", "null"],
        "maxLength": 2000,
        "pattern": NO_NUL,
        "description": "null ou vide\xa0: aucune\xa0; lettres, chiffres, ponctuation, symboles, "
        "espaces, tabulations "
        "et retours à la ligne (catégories Unicode L, M, N, P, S, Zs)\xa0; tout autre "
        "caractère (contrôle, format, séparateur, non attribué) est refusé (422)",
    },
    "minutes_waited": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_COUNT},
    "activity_cancelled": {"type": ["boolean", "null"]},
    "detainees_not_seen": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_COUNT},
    "submission_id": {
        "description": (
            "Clé d'idempotence propre à son auteur (UUID, casse indifférente)\xa0: "
            "le même auteur qui la renvoie reçoit son premier signalement (200)\xa0; "
            "un autre utilisateur avec la même clé crée un nouveau signalement. "
            "Vide ou null\xa0: pas de clé."
        ),
        "anyOf": [
            {"type": "string", "format": "uuid", "minLength": 36, "maxLength": 36},
            {"type": "string", "maxLength": 0},
            {"type": "null"},
        ],
    },
}
# Objects carry their own offer types; codes take the report-level ones.
REPORT_SHAPES = [
    {
        "properties": {"conditions": {"type": "array", "items": {"type": "object"}}},
        "not": {"required": ["offer_types"]},
    },
    {
        "properties": {"conditions": {"type": "array", "items": {"type": "string"}}},
        "required": ["offer_types"],
    },
]


def input_schemas(choices: Choices) -> dict[str, Any]:
    """The request body of a report: every slug, code and date among the `choices`."""
    condition = _codes(
        choices.conditions, "code d'une condition en vigueur (GET /api/v1/referentiel)"
    )
    conditions = {
        "anyOf": [
            {"type": "array", "items": _ref("ImpactedCondition")},
            {"type": "array", "items": condition},
        ],
        "minItems": 1,
        "maxItems": 100,
        "description": "chaque condition non respectée avec les types d'offre qu'elle "
        "a touchés\xa0; ou, première forme, les codes du référentiel "
        "(GET /api/v1/referentiel) avec `offer_types` pour toutes",
    }
    shared_types = {
        **_types(choices),
        "description": "première forme seulement\xa0: les types d'offre touchés par "
        "chacune des conditions données en codes",
    }
    establishment = _codes(
        choices.establishments, "slug d'un établissement actif (GET /api/v1/establishments)"
    )
    report = {
        "type": "object",
        "properties": {
            "establishment": establishment,
            "visit_date": _visit_date(choices),
            "conditions": conditions,
            "offer_types": shared_types,
            **REPORT_FREE_FIELDS,
        },
        "required": ["establishment", "visit_date", "conditions"],
        "additionalProperties": False,
        "oneOf": REPORT_SHAPES,
    }
    impacted = {
        "type": "object",
        "properties": {"code": condition, "offer_types": _types(choices)},
        "required": ["code", "offer_types"],
        "additionalProperties": False,
    }
    return {"ReportIn": report, "ImpactedCondition": impacted}


AUTH_ERRORS = {
    "401": _error("Jeton absent ou invalide"),
    "403": _error("Rôle insuffisant"),
}
# Any operation: the database is momentarily unreachable.
UNAVAILABLE = {"503": _error("Service momentanément indisponible")}


def _write(
    operation_id: str,
    summary: str,
    body: str,
    ok: dict[str, Any],
    with_id: bool,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body)}}},
        "responses": {
            **ok,
            "400": _json(_ref("FieldErrors"), "Corps JSON illisible"),
            "413": _error("Corps trop volumineux"),
            "422": _json(_ref("FieldErrors"), "Erreurs par champ"),
            **AUTH_ERRORS,
            **UNAVAILABLE,
        },
    }
    if with_id:
        operation["parameters"] = [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ]
        operation["responses"]["404"] = _error("Inconnu")
        operation["responses"]["409"] = _error("Déjà fait")
    return operation


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def _read(operation_id: str, summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "responses": {
            **ok,
            "401": _error("Jeton invalide, ou baromètre non public et jeton absent"),
            **UNAVAILABLE,
        },
        **extra,
    }


ESTABLISHMENTS = {
    "type": "object",
    "properties": {"establishments": {"type": "array", "items": _ref("Establishment")}},
    "required": ["establishments"],
}
DAYS = {"type": "number", "minimum": 0, "description": "jours du calendrier (Europe/Brussels)"}
MAYBE_DAYS = {"anyOf": [DAYS, {"type": "null"}]}
YEAR_REPORT: dict[str, Any] = {
    "type": "object",
    "description": "Le bilan d'une période (jours locaux, bornes comprises)\xa0: par "
    "établissement actif, les jours à chaque niveau depuis son premier enregistrement "
    "(avant\xa0: `no_data_days`) et à chaque gradation de chaque type d'offre\xa0; les "
    "conditions le plus souvent non respectées\xa0; les signalements par mois (date de "
    "visite, rejetés exclus)\xa0; le délai de clôture des situations par cause.",
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "establishments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "slug": {"type": "string"},
                    "name": {"type": "string"},
                    "no_data_days": DAYS,
                    "days": {
                        "type": "object",
                        "properties": {
                            key: DAYS
                            for key in ("vert", *(f"orange_{n}" for n in range(1, 6)), "rouge")
                        },
                        "required": [
                            "vert",
                            *(f"orange_{n}" for n in range(1, 6)),
                            "rouge",
                        ],
                    },
                    "red_days": DAYS,
                    "changes": {"type": "integer", "minimum": 0},
                    "offer_types": {
                        "type": "object",
                        "description": "par type d'offre, les jours à chaque gradation "
                        "(0\xa0: vert, 1 à 5\xa0: orange)",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": DAYS,
                        },
                    },
                },
                "required": [
                    "slug",
                    "name",
                    "no_data_days",
                    "days",
                    "red_days",
                    "changes",
                    "offer_types",
                ],
            },
        },
        "conditions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "category": {"type": "string"},
                    "condition": {"type": "string"},
                    "situations": {"type": "integer", "minimum": 1},
                    "median_days": DAYS,
                    "longest_days": DAYS,
                },
                "required": [
                    "category",
                    "condition",
                    "situations",
                    "median_days",
                    "longest_days",
                ],
            },
        },
        "reports_per_month": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
        "time_to_close": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "cause": {"type": "string"},
                    "situations": {"type": "integer", "minimum": 0},
                    "median_days": MAYBE_DAYS,
                },
                "required": ["cause", "situations", "median_days"],
            },
        },
    },
    "required": [
        "from",
        "to",
        "establishments",
        "conditions",
        "reports_per_month",
        "time_to_close",
    ],
}


def _date_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "format": "date"},
    }


SLUG_PARAMETER = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}


def document(choices: Choices, parts: Sequence[Part] = ()) -> dict[str, Any]:
    """The document; `parts`: what the packages wired in add (`contributed_parts`)."""
    listed = _json(ESTABLISHMENTS, "Établissements")
    listed["links"] = {
        "GetEstablishment": _link("getEstablishment", slug="$response.body#/establishments/0/slug")
    }
    detail = _json(_ref("Establishment"), "Établissement")
    detail["links"] = {
        "ResolveSituation": _link("resolveSituation", id="$response.body#/open_situations/0/id")
    }
    created = _json(_ref("ReportCreated"), "Enregistré")
    created["links"] = {
        "RejectReport": _link("rejectReport", id="$response.body#/id"),
        "GetEstablishment": _link("getEstablishment", slug="$response.body#/establishment"),
    }
    schemas = {**SCHEMAS, **input_schemas(choices)}
    webhooks: dict[str, Any] = {}
    for part in parts:
        clash = (schemas.keys() & part.schemas.keys()) | (webhooks.keys() & part.webhooks.keys())
        if clash:
            raise ValueError(f"OpenAPI names given twice: {sorted(clash)}")
        schemas.update(part.schemas)
        webhooks.update(part.webhooks)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Baromètre API", "version": "1"},
        "servers": [{"url": "/"}],
        **({"webhooks": webhooks} if webhooks else {}),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/v1/referentiel": {
                "get": _read(
                    "getReferentiel",
                    "Catégories, conditions et types d'offre",
                    {"200": _json({"type": "object"}, "Référentiel")},
                )
            },
            "/api/v1/establishments": {
                "get": _read(
                    "listEstablishments", "Niveau de chaque établissement", {"200": listed}
                )
            },
            "/api/v1/establishments/{slug}": {
                "get": _read(
                    "getEstablishment",
                    "Un établissement",
                    {"200": detail, "404": _error("Inconnu")},
                    parameters=[SLUG_PARAMETER],
                )
            },
            "/api/v1/report": {
                "get": _read(
                    "getReport",
                    "Le bilan d'une période\xa0: jours à chaque niveau, conditions, "
                    "signalements par mois, délais de clôture",
                    {
                        "200": _json(YEAR_REPORT, "Bilan"),
                        "400": _error("Période invalide (dates, ordre, 5 ans au plus)"),
                    },
                    parameters=[
                        _date_parameter(
                            "from", "premier jour (AAAA-MM-JJ)\xa0; par défaut le 1er janvier"
                        ),
                        _date_parameter(
                            "to", "dernier jour (AAAA-MM-JJ)\xa0; par défaut aujourd'hui"
                        ),
                    ],
                )
            },
            "/api/v1/reports": {
                "post": _write(
                    "createReport",
                    "Enregistrer un signalement",
                    "ReportIn",
                    {
                        "200": _json(_ref("ReportCreated"), "Déjà enregistré (même submission_id)"),
                        "201": created,
                    },
                    with_id=False,
                )
            },
            "/api/v1/reports/{id}/reject": {
                "post": _write(
                    "rejectReport",
                    "Rejeter un signalement (coordination)",
                    "Reason",
                    {"200": _json({"type": "object"}, "Rejeté")},
                    with_id=True,
                )
            },
            "/api/v1/situations/{id}/resolve": {
                "post": _write(
                    "resolveSituation",
                    "Résoudre une situation (coordination)",
                    "Note",
                    {"200": _json({"type": "object"}, "Résolue")},
                    with_id=True,
                )
            },
        },
    }
