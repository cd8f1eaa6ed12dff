"""The OpenAPI 3.1 document of /api/v1."""

from __future__ import annotations

from typing import Any

COLOURS = ["vert", "orange", "rouge"]
OFFER_TYPES = ["individuel", "collectif", "cellulaire"]


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
    "Establishment": {
        "type": "object",
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "level": _ref("Level"),
            "diversity": {"type": "string"},
            "missing_offer_types": {"type": "array", "items": {"type": "string"}},
            "level_changed_at": {"type": ["string", "null"]},
            "committee_note": {"type": ["string", "null"]},
            "breakdown": {"type": "object"},
            "open_situations": {"type": "array", "items": _ref("Situation")},
            "recent_changes": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["slug", "name", "level", "breakdown"],
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
            "establishment": {"type": "string", "description": "slug"},
            "visit_date": {"type": "string", "format": "date"},
            "conditions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "offer_types": {
                "type": "array",
                "items": {"type": "string", "enum": OFFER_TYPES},
                "minItems": 1,
            },
            "description": {"type": "string", "maxLength": 2000},
            "minutes_waited": {"type": ["integer", "null"], "minimum": 0},
            "activity_cancelled": {"type": ["boolean", "null"]},
            "detainees_not_seen": {"type": ["integer", "null"], "minimum": 0},
            "submission_id": {"type": ["string", "null"], "format": "uuid"},
        },
        "required": ["establishment", "visit_date", "conditions", "offer_types"],
    },
    "ReportCreated": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "created": {"type": "boolean"},
            "establishment": {"type": "string"},
            "level": _ref("Level"),
            "level_before": _ref("Level"),
        },
        "required": ["id", "created", "establishment", "level"],
    },
    "Note": {
        "type": "object",
        "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 2000}},
        "required": ["note"],
    },
    "Reason": {
        "type": "object",
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
        "required": ["reason"],
    },
}

AUTH_ERRORS = {
    "401": _error("Jeton absent ou invalide"),
    "403": _error("Rôle insuffisant"),
}


def _write(summary: str, body: str, ok: dict[str, Any], with_id: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body)}}},
        "responses": {
            **ok,
            "400": _json(_ref("FieldErrors"), "Corps JSON illisible"),
            "422": _json(_ref("FieldErrors"), "Erreurs par champ"),
            **AUTH_ERRORS,
        },
    }
    if with_id:
        operation["parameters"] = [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ]
        operation["responses"]["404"] = _error("Inconnu")
        operation["responses"]["409"] = _error("Déjà fait")
    return operation


def document() -> dict[str, Any]:
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
                "get": {
                    "summary": "Catégories, conditions et types d'offre",
                    "responses": {"200": _json({"type": "object"}, "Référentiel")},
                }
            },
            "/api/v1/establishments": {
                "get": {
                    "summary": "Niveau de chaque établissement",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "establishments": {
                                        "type": "array",
                                        "items": _ref("Establishment"),
                                    }
                                },
                            },
                            "Établissements",
                        ),
                        "401": _error("Baromètre non public: jeton requis"),
                    },
                }
            },
            "/api/v1/establishments/{slug}": {
                "get": {
                    "summary": "Un établissement",
                    "parameters": [
                        {
                            "name": "slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("Establishment"), "Établissement"),
                        "401": _error("Baromètre non public: jeton requis"),
                        "404": _error("Inconnu"),
                    },
                }
            },
            "/api/v1/reports": {
                "post": _write(
                    "Enregistrer un signalement",
                    "ReportIn",
                    {
                        "200": _json(_ref("ReportCreated"), "Déjà enregistré (même submission_id)"),
                        "201": _json(_ref("ReportCreated"), "Enregistré"),
                    },
                    with_id=False,
                )
            },
            "/api/v1/reports/{id}/reject": {
                "post": _write(
                    "Rejeter un signalement (coordination)",
                    "Reason",
                    {"200": _json({"type": "object"}, "Rejeté")},
                    with_id=True,
                )
            },
            "/api/v1/situations/{id}/resolve": {
                "post": _write(
                    "Résoudre une situation (coordination)",
                    "Note",
                    {"200": _json({"type": "object"}, "Résolue")},
                    with_id=True,
                )
            },
        },
    }
