"""What the instance keeps, for how long, and the record of processing (GDPR art. 30).

The core lists its own data; other packages answer `signals.holdings_asked` with theirs
(alerts: who follows an establishment, and the requests to follow one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from . import clock, signals, user_sessions
from .auth import COORDINATOR, access
from .extensions import DbSession, db
from .models import (
    ApiToken,
    AuditEntry,
    Contact,
    PasskeyCredential,
    Report,
    Situation,
    User,
    UserSession,
)
from .retention import description_cutoff
from .settings import Settings
from .settings import current as settings

bp = Blueprint("privacy", __name__, url_prefix="/coordination/donnees")
SESSION_DAYS = user_sessions.KNOWN_FOR.days


@dataclass(frozen=True)
class Holding:
    """One kind of data the instance keeps."""

    what: str
    who_sees: str
    kept: str
    count: int


@dataclass(frozen=True)
class Inventory:
    holdings: list[Holding]
    texts_kept: int
    texts_purged: int
    oldest_text: datetime | None
    next_text_expiry: datetime | None


def _count(session: DbSession, *where: Any, model: type[Any] = Report) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def inventory(session: DbSession, current: Settings) -> Inventory:
    days = current.retention_days
    audit_days = current.audit_retention_days
    holdings = [
        Holding(
            str(_l("Texte libre des signalements")),
            str(_l("L'auteur et la coordination")),
            str(_l("%(days)d jours après l'envoi, puis effacé", days=days)),
            _count(session, Report.description != ""),
        ),
        Holding(
            str(_l("Signalements (établissement, date, conditions, types d'offre, auteur)")),
            str(_l("L'auteur et la coordination ; le public ne voit que des totaux")),
            str(_l("Tant que l'historique du baromètre est tenu")),
            _count(session),
        ),
        Holding(
            str(_l("Situations, niveaux et historique des niveaux")),
            str(_l("Tous (agrégats sans données personnelles)")),
            str(_l("Tant que l'historique du baromètre est tenu")),
            _count(session, model=Situation),
        ),
        Holding(
            str(_l("Comptes (adresse électronique, nom, rôle, service, langue)")),
            str(_l("La coordination")),
            str(_l("Jusqu'à leur suppression par la coordination")),
            _count(session, model=User),
        ),
        Holding(
            str(_l("Jetons d'API (empreinte seulement)")),
            str(_l("Personne : le jeton n'est montré qu'une fois")),
            str(_l("Jusqu'à leur révocation")),
            _count(session, model=ApiToken),
        ),
        Holding(
            str(
                _l(
                    "Deuxième étape des comptes (secret de l'application de codes, clés "
                    "publiques des clés d'accès, empreintes des codes de secours)"
                )
            ),
            str(_l("Personne : seule la connexion s'en sert")),
            str(_l("Jusqu'à leur retrait par la personne ou leur réinitialisation")),
            _count(session, User.totp_confirmed_at.is_not(None), model=User)
            + _count(session, model=PasskeyCredential),
        ),
        Holding(
            str(_l("Sessions (appareil, adresse du client, dates de connexion et d'activité)")),
            str(_l("Le titulaire du compte et la coordination")),
            str(_l("%(days)d jours après leur fin, puis supprimées", days=SESSION_DAYS)),
            _count(session, model=UserSession),
        ),
        Holding(
            str(_l("Contacts des établissements (adresse électronique, nom, langue, préférences)")),
            str(_l("La coordination")),
            str(_l("Jusqu'à leur suppression par la coordination")),
            _count(session, model=Contact),
        ),
        *(h for _receiver, theirs in signals.holdings_asked.send(session) for h in theirs),
        Holding(
            str(_l("Journal d'audit (qui a fait quoi, sans texte de signalement)")),
            str(_l("La coordination")),
            str(_l("%(days)d jours, puis supprimé", days=audit_days)),
            _count(session, model=AuditEntry),
        ),
    ]
    oldest = session.scalar(select(func.min(Report.submitted_at)).where(Report.description != ""))
    cutoff = description_cutoff(current)
    return Inventory(
        holdings=holdings,
        texts_kept=holdings[0].count,
        texts_purged=_count(session, Report.description_purged_at.is_not(None)),
        oldest_text=oldest,
        next_text_expiry=oldest + (clock.now() - cutoff) if oldest else None,
    )


@bp.get("")
@access(COORDINATOR)
def overview() -> ResponseReturnValue:
    return render_template(
        "barometre/privacy.html", inventory=inventory(db.session, settings()), settings=settings()
    )


@bp.get("/registre.txt")
@access(COORDINATOR)
def processing_record() -> ResponseReturnValue:
    text = render_template(
        "barometre/registre.txt",
        settings=settings(),
        inventory=inventory(db.session, settings()),
        generated=clock.now(),
    )
    return Response(
        text,
        content_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="registre-des-traitements.txt"'},
    )
