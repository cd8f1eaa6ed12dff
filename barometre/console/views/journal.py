"""The audit log, with what each action and target is called."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from barometre.auth import COORDINATOR, access
from barometre.console import details
from barometre.extensions import db
from barometre.models import AuditEntry

from .base import EXPORT_STATES, bp, paginate

AUDIT_LABELS = {
    "report.reject": _l("Signalement rejeté"),
    "report.validate": _l("Signalement validé"),
    "situation.resolve": _l("Situation résolue"),
    "establishment.create": _l("Établissement ajouté"),
    "establishment.rename": _l("Établissement renommé"),
    "establishment.activate": _l("Établissement réactivé"),
    "establishment.deactivate": _l("Établissement désactivé"),
    "establishment.note.set": _l("Note du comité publiée"),
    "establishment.note.remove": _l("Note du comité retirée"),
    "establishment.what_to_do": _l("Contact à Fidex ou demande du comité modifiés"),
    "contact.create": _l("Contact ajouté"),
    "contact.update": _l("Contact modifié"),
    "contact.remove": _l("Contact supprimé"),
    "service.create": _l("Service membre ajouté"),
    "service.update": _l("Service membre modifié"),
    "service.deactivate": _l("Service membre désactivé"),
    "user.create": _l("Compte créé"),
    "user.update": _l("Compte modifié"),
    "token.create": _l("Jeton d'API créé"),
    "condition.create": _l("Condition ajoutée"),
    "condition.update": _l("Libellé de condition modifié"),
    "condition.retire": _l("Condition retirée"),
    "condition.reinstate": _l("Condition remise"),
    "export.create": _l("Export demandé"),
    "service.alert_emails": _l("Adresses d'alerte modifiées"),
    "contact.save": _l("Contact enregistré"),
    "notification.retry": _l("Nouvel essai d'envoi demandé"),
    "notification.dismiss": _l("Échec d'envoi ignoré"),
    "address.preferences": _l("Préférences d'une adresse modifiées"),
    "channel.add": _l("Canal ajouté"),
    "channel.remove": _l("Canal supprimé"),
    "channel.test": _l("Canal testé"),
    "user.invite": _l("Invitation envoyée"),
    "user.disable": _l("Compte désactivé"),
    "user.enable": _l("Compte réactivé"),
    "user.password_change": _l("Mot de passe changé"),
    "token.revoke": _l("Jeton d'API révoqué"),
    "session.sign_in": _l("Connexion"),
    "session.sign_out": _l("Déconnexion"),
    "session.end": _l("Session terminée"),
    "session.end_others": _l("Autres sessions terminées"),
    "session.end_all": _l("Sessions d'un compte terminées"),
    "retention.purge": _l("Données effacées en fin de conservation"),
    "history.import": _l("Historique du comité importé"),
    "follower.remove": _l("Abonné retiré"),
    "two_step.setup": _l("Deuxième étape configurée"),
    "two_step.remove": _l("Deuxième étape retirée"),
    "two_step.failure": _l("Deuxième étape refusée"),
    "two_step.recovery_codes": _l("Nouveaux codes de secours"),
    "two_step.recovery_code_used": _l("Code de secours utilisé"),
    "two_step.reset": _l("Deuxième étape réinitialisée"),
    "passkey.add": _l("Clé d'accès ajoutée"),
    "passkey.remove": _l("Clé d'accès retirée"),
}

# What an audit entry is about: `type(target).__name__.lower()` in services.audit.
AUDIT_TARGETS = {
    "report": _l("Signalement"),
    "situation": _l("Situation"),
    "establishment": _l("Établissement"),
    "contact": _l("Contact"),
    "memberservice": _l("Service membre"),
    "user": _l("Compte"),
    "apitoken": _l("Jeton d'API"),
    "condition": _l("Condition"),
    "export": _l("Export"),
    "notification": _l("Notification"),
    "addresspreference": _l("Adresse"),
    "follower": _l("Abonné"),
}


@bp.context_processor
def console_helpers() -> dict[str, Any]:
    return {
        "export_states": EXPORT_STATES,
        "audit_label": lambda action: AUDIT_LABELS.get(action, action),
        "audit_target": lambda kind: AUDIT_TARGETS.get(kind, kind),
    }


@bp.get("/journal")
@access(COORDINATOR)
def journal() -> ResponseReturnValue:
    query = (
        select(AuditEntry)
        .options(joinedload(AuditEntry.actor))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    page = paginate(query)
    words = details.in_words(db.session, [entry.detail for entry in page.items])
    return render_template("console/journal.html", page=page, details=words)
