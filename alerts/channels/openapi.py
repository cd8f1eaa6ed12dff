"""The webhooks a channel receives, as the OpenAPI document of /api/v1 shows them (issue 30).

One JSON schema per event type (`payloads.EVENT_TYPES`, `payloads.CHANNEL_TEST`), the
Standard Webhooks envelope and headers, and what each answer of the receiver means
(`send.post`). The core serves them through `signals.openapi_asked` (`part`): it never
imports alerts. tests/alerts/test_channel_payloads.py holds every payload `payloads`
builds to these schemas.
"""

from __future__ import annotations

from typing import Any

from barometre.languages import LANGUAGES
from barometre.levels import ORANGE, ROUGE, VERT
from barometre.openapi import Part

from ..models import GREEN_AGAIN, RED, RED_LIFTED, REMINDER, RISE
from .payloads import CHANNEL_TEST, DIGEST_WEEKLY, LEVEL_CHANGED, LEVEL_REMINDER
from .send import RETRIED_CODES

COLOURS = [VERT, ORANGE, ROUGE]
STEP = {"type": "integer", "minimum": 0, "maximum": 5}
COUNT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
# `payloads.timestamp`: UTC, to the second, RFC 3339 with a Z.
MOMENT = {
    "type": "string",
    "format": "date-time",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
}
LINK = {
    "type": "string",
    "format": "uri",
    "description": "la page de l'établissement\xa0; signée (valable SIGNED_LINK_DAYS jours), "
    "elle s'ouvre sans compte",
}
LANGUAGE = {
    "type": "string",
    "enum": list(LANGUAGES),
    "description": "la langue du canal\xa0: celle de chaque texte (`words`, `summary`, `label`…)",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these properties, all required but the `optional` ones."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def _envelope(event_type: str, data: dict[str, Any], description: str) -> dict[str, Any]:
    """The Standard Webhooks payload: `type`, `timestamp`, `data`."""
    return {
        **_object(
            {
                "type": {"type": "string", "const": event_type},
                "timestamp": {
                    **MOMENT,
                    "description": "quand l'évènement a eu lieu (UTC), le même à chaque "
                    "tentative\xa0; l'heure de l'envoi est l'en-tête webhook-timestamp",
                },
                "data": data,
            }
        ),
        "description": description,
    }


LEVEL_DATA = _object(
    {
        "language": LANGUAGE,
        "establishment": _object(
            {
                "slug": {**TEXT, "description": "comme GET /api/v1/establishments/{slug}"},
                "name": {**TEXT, "description": "le nom dans la langue du canal"},
                "url": LINK,
            }
        ),
        "change": {
            "type": "string",
            "enum": [RISE, RED, RED_LIFTED, GREEN_AGAIN, REMINDER],
            "description": "rise\xa0: hausse\xa0; red\xa0: code rouge\xa0; lifted\xa0: code rouge "
            "levé sans retour au vert\xa0; green\xa0: retour au vert\xa0; reminder\xa0: rappel, "
            "toujours en code rouge",
        },
        "summary": {
            **TEXT,
            "description": "le changement en mots («\xa0de orange 2 à orange 3\xa0»)",
        },
        "from": _object(
            {"colour": {"type": "string", "enum": COLOURS}, "step": STEP, "words": TEXT}
        ),
        "to": {
            **_object(
                {
                    "colour": {"type": "string", "enum": COLOURS},
                    "step": STEP,
                    "words": TEXT,
                    "open_situations": COUNT,
                    "red_pending": {
                        "type": ["string", "null"],
                        "description": "orange 5 en attente de diversité\xa0: pourquoi le "
                        "rouge n'est pas atteint\xa0; sinon null",
                    },
                }
            ),
            "description": "le niveau atteint",
        },
        "causes": {
            "type": "array",
            "description": "chaque changement de niveau que l'évènement dit, avec sa cause "
            "en mots (les conditions nommées, jamais le texte d'un signalement, son auteur "
            "ni son service)",
            "items": _object({"at": MOMENT, "change": TEXT, "cause": TEXT}),
        },
        "situations": {
            "type": "array",
            "description": "les situations problématiques ouvertes, par leur condition",
            "items": _object(
                {
                    "condition": {**TEXT, "description": "code de la condition"},
                    "label": TEXT,
                    "category": {**TEXT, "description": "code de la catégorie"},
                    "category_label": TEXT,
                    "offer_types": {"type": "array", "items": TEXT},
                    "new": {"type": "boolean", "description": "ouverte par ce changement"},
                    "dates": {**TEXT, "description": "ouverte le…, confirmée le…, en mots"},
                }
            ),
        },
        "reminder": {
            **_object(
                {
                    "number": {"type": "integer", "minimum": 1},
                    "red_since": MOMENT,
                    "red_days": COUNT,
                }
            ),
            "description": "un rappel seulement (level.reminder)",
        },
    },
    optional=("reminder",),
)

CHANGE_TYPES = [RISE, RED, RED_LIFTED, GREEN_AGAIN]

SCHEMAS: dict[str, Any] = {
    "WebhookLevelData": LEVEL_DATA,
    "WebhookLevelChanged": _envelope(
        LEVEL_CHANGED,
        {
            "allOf": [
                _ref("WebhookLevelData"),
                {
                    "properties": {"change": {"enum": CHANGE_TYPES}},
                    "not": {"required": ["reminder"]},
                },
            ]
        },
        "Le niveau d'un établissement a changé\xa0: hausse, code rouge, code rouge levé, "
        "retour au vert.",
    ),
    "WebhookLevelReminder": _envelope(
        LEVEL_REMINDER,
        {
            "allOf": [
                _ref("WebhookLevelData"),
                {"properties": {"change": {"const": REMINDER}}, "required": ["reminder"]},
            ]
        },
        "Rappel\xa0: un établissement est toujours en code rouge (tous les RED_REMINDER_DAYS "
        "jours).",
    ),
    "WebhookDigestWeekly": _envelope(
        DIGEST_WEEKLY,
        _object(
            {
                "language": LANGUAGE,
                "week": {"type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$"},
                "period": {**TEXT, "description": "les jours couverts, en mots"},
                "establishments": {
                    "type": "array",
                    "description": "du pire niveau au meilleur",
                    "items": _object(
                        {
                            "slug": TEXT,
                            "name": TEXT,
                            "colour": {"type": "string", "enum": COLOURS},
                            "words": {**TEXT, "description": "le niveau en mots"},
                            "open_situations": COUNT,
                            "week_ago": {**TEXT, "description": "le niveau une semaine avant"},
                            "trend": {
                                "type": "string",
                                "enum": ["up", "down", "same"],
                                "description": "plus haut, plus bas ou comme il y a 7 jours",
                            },
                            "new_reports": COUNT,
                            "changes": {**COUNT, "description": "changements de la semaine"},
                            "url": LINK,
                        }
                    ),
                },
            }
        ),
        "La synthèse hebdomadaire\xa0: le niveau de chaque établissement du canal (d'un "
        "établissement\xa0: le sien\xa0; d'un service ou du comité\xa0: tous).",
    ),
    "WebhookChannelTest": _envelope(
        CHANNEL_TEST,
        _object({"language": LANGUAGE, "channel": {"type": "integer", "minimum": 1}}),
        "«\xa0Envoyer un évènement de test\xa0» (console) ou `flask channels test ID`\xa0: "
        "aucune donnée d'établissement.",
    ),
}

HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "l'identifiant de l'envoi, le même à chaque tentative\xa0: le "
        "récepteur ignore un identifiant déjà reçu",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "l'heure de cette tentative, en secondes depuis 1970 (UTC)\xa0; le "
        "récepteur refuse un envoi trop ancien (5 minutes pour la bibliothèque "
        "standardwebhooks)",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,` suivi du HMAC-SHA256 en base64 de «\xa0webhook-id.webhook-"
        "timestamp.corps\xa0», avec le secret du canal (whsec_…, donné une seule fois)\xa0; "
        "la bibliothèque standardwebhooks le vérifie (`Webhook(secret).verify(corps, "
        "en-têtes)`)",
        "schema": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
    },
]

RETRIED = (
    "Réessayé avec le même webhook-id, après 1 minute puis un délai qui double jusqu'à "
    "1\xa0heure (±20\xa0%), pendant 24\xa0heures\xa0; ensuite en échec, montré dans la "
    "console, et les coordinateurs sont avertis (un courriel par jour au plus)."
)
FAILED = (
    "Échec immédiat, sans nouvel essai\xa0; montré dans la console, et les coordinateurs "
    "sont avertis (un courriel par jour au plus)."
)

RESPONSES: dict[str, Any] = {
    "2XX": {"description": "Reçu\xa0: l'envoi est fait (le corps de la réponse est ignoré)."},
    "3XX": {"description": f"Redirection non suivie. {FAILED}"},
    **{str(code): {"description": RETRIED} for code in RETRIED_CODES},
    "410": {"description": f"Gone\xa0: le récepteur n'existe plus. {FAILED}"},
    "4XX": {"description": f"Toute autre erreur 4xx (400, 401, 404…). {FAILED}"},
    "5XX": {"description": RETRIED},
}

DELIVERY = (
    "Un POST JSON (Content-Type: application/json, UTF-8), signé selon Standard Webhooks "
    "(https://www.standardwebhooks.com/). Pas de redirection suivie\xa0; connexion en "
    "5\xa0s, réponse en 10\xa0s, 64\xa0Kio de réponse lus au plus. Sans réponse à temps "
    "ou sans connexion\xa0: réessayé comme une 5xx. Un envoi peut arriver deux fois (une "
    "réponse perdue)\xa0: même webhook-id. Aucun texte de signalement, ni son auteur, ni "
    "son service. Des champs pourront s'ajouter\xa0: un récepteur ignore ceux qu'il ne "
    "connaît pas."
)

WEBHOOKS: dict[str, Any] = {
    name: {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": DELIVERY,
            "parameters": HEADERS,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(schema)}},
            },
            "responses": RESPONSES,
        }
    }
    for name, operation_id, schema, summary in (
        (
            LEVEL_CHANGED,
            "webhookLevelChanged",
            "WebhookLevelChanged",
            "Changement de niveau d'un établissement",
        ),
        (
            LEVEL_REMINDER,
            "webhookLevelReminder",
            "WebhookLevelReminder",
            "Rappel\xa0: toujours en code rouge",
        ),
        (DIGEST_WEEKLY, "webhookDigestWeekly", "WebhookDigestWeekly", "Synthèse hebdomadaire"),
        (CHANNEL_TEST, "webhookChannelTest", "WebhookChannelTest", "Évènement de test"),
    )
}

# The schema of each event type's payload, by its name in `components.schemas`.
EVENT_SCHEMAS = {
    LEVEL_CHANGED: "WebhookLevelChanged",
    LEVEL_REMINDER: "WebhookLevelReminder",
    DIGEST_WEEKLY: "WebhookDigestWeekly",
    CHANNEL_TEST: "WebhookChannelTest",
}

PART = Part(schemas=SCHEMAS, webhooks=WEBHOOKS)


def part(sender: object, **_: Any) -> Part:
    """alerts' answer to `signals.openapi_asked`."""
    return PART
