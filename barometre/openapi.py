"""The OpenAPI 3.1 document of /api/v1."""

from __future__ import annotations

from typing import Any

COLOURS = ["vert", "orange", "rouge"]
OFFER_TYPES = ["individuel", "collectif", "cellulaire"]
MAX_COUNT = 100_000
# Text fields refuse the NUL character (no database stores it).
NO_NUL = "^[^\\u0000]*$"
CODE = {"type": "string", "minLength": 1, "pattern": NO_NUL}
TYPES = {
    "type": "array",
    "items": {"type": "string", "enum": OFFER_TYPES},
    "minItems": 1,
    "maxItems": 100,
}
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
            "offer_types": {"type": "array", "items": {"type": "string", "enum": OFFER_TYPES}},
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
        "description": "la couleur d'un type d'offre : le palier orange que donnent "
        "ses seules situations ouvertes (vert quand aucune)",
        "properties": {
            "colour": {"type": "string", "enum": ["vert", "orange"]},
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
                "(la note française quand aucune n'est donnée) ; null sans note",
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
    "ReportIn": {
        "type": "object",
        "properties": {
            "establishment": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": NO_NUL,
                "description": "slug (GET /api/v1/establishments)",
            },
            "visit_date": {
                "type": "string",
                "format": "date",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "description": "AAAA-MM-JJ, ni dans le futur, ni plus vieux que MAX_VISIT_AGE_DAYS",
            },
            "conditions": {
                "anyOf": [
                    {"type": "array", "items": _ref("ImpactedCondition")},
                    {"type": "array", "items": CODE},
                ],
                "minItems": 1,
                "maxItems": 100,
                "description": "chaque condition non respectée avec les types d'offre qu'elle "
                "a touchés ; ou, première forme, les codes du référentiel "
                "(GET /api/v1/referentiel) avec `offer_types` pour toutes",
            },
            "offer_types": {
                **TYPES,
                "description": "première forme seulement : les types d'offre touchés par "
                "chacune des conditions données en codes",
            },
            "description": {"type": "string", "maxLength": 2000, "pattern": NO_NUL},
            "minutes_waited": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_COUNT},
            "activity_cancelled": {"type": ["boolean", "null"]},
            "detainees_not_seen": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": MAX_COUNT,
            },
            "submission_id": {
                "type": ["string", "null"],
                "description": (
                    "Clé d'idempotence propre à son auteur (UUID, casse indifférente) : "
                    "le même auteur qui la renvoie reçoit son premier signalement (200) ; "
                    "un autre utilisateur avec la même clé crée un nouveau signalement."
                ),
                "format": "uuid",
                "minLength": 36,
                "maxLength": 36,
            },
        },
        "required": ["establishment", "visit_date", "conditions"],
        "additionalProperties": False,
        # Objects carry their own offer types; codes take the report-level ones.
        "oneOf": [
            {
                "properties": {"conditions": {"type": "array", "items": {"type": "object"}}},
                "not": {"required": ["offer_types"]},
            },
            {
                "properties": {"conditions": {"type": "array", "items": {"type": "string"}}},
                "required": ["offer_types"],
            },
        ],
    },
    "ImpactedCondition": {
        "type": "object",
        "properties": {"code": CODE, "offer_types": TYPES},
        "required": ["code", "offer_types"],
        "additionalProperties": False,
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
                "confirmer une situation (SITUATION_TTL_DAYS) : gardé dans l'historique",
            },
            "reason": {"type": "string", "description": "pourquoi il ne compte pas"},
        },
        "required": ["id", "created", "establishment", "level", "counted"],
    },
    "Note": {"type": "object", "properties": {"note": NOTE}, "required": ["note"]},
    "Reason": {"type": "object", "properties": {"reason": NOTE}, "required": ["reason"]},
}

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
SLUG_PARAMETER = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}


def document() -> dict[str, Any]:
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
    return {
        "openapi": "3.1.0",
        "info": {"title": "Baromètre API", "version": "1"},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
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
