"""Follow one establishment (issue 19): the form, the page its confirmation link opens,
and the coordinators' list of followers.

The form is a barometer page: anyone when PUBLIC_BAROMETER is on, else
signed-in users. It answers the same whether the address already follows or
not: a confirmation email goes in both cases, and nothing else is sent before
its link is followed. The confirmation page is reached by the signed link
alone (no login); a GET only shows a button, so a mail scanner that opens the
link confirms nothing.

Coordinators see who follows what (paged, by establishment if asked) and may
remove a follower; each removal is audited, without the address.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError
from wtforms import BooleanField, Field, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from barometre.addresses import MAX_ADDRESS, clean_address
from barometre.auth import BAROMETER, COORDINATOR, PUBLIC, access
from barometre.clients import client_network
from barometre.console.forms import ReviewForm
from barometre.console.views.base import actor, done, paginate
from barometre.extensions import db
from barometre.models import Establishment
from barometre.presentation import lang
from barometre.routing import query_id
from barometre.settings import current as settings
from barometre.signed_links import LinkProblem
from barometre.webforms import Form, an_address

from . import service as follow
from .models import Follower

bp = Blueprint("follow", __name__)

THROTTLED = _l(
    "Trop de demandes de suivi pour cette adresse ou depuis votre connexion. "
    "Réessayez dans une heure."
)
# An invalid link is not found (as the preferences page answers); an expired one is gone.
LINK_STATUS = {LinkProblem.INVALID: 404, LinkProblem.EXPIRED: 410}


class FollowForm(Form):
    email = StringField(
        _l("Votre adresse électronique"),
        validators=[
            InputRequired(_l("Ce champ est obligatoire.")),
            Length(max=MAX_ADDRESS, message=_l("Adresse trop longue.")),
            an_address,
        ],
    )
    alerts = RadioField(
        _l("Alertes"),
        choices=[
            SelectChoice(follow.ALERTS_ALL, _l("À chaque hausse du niveau (rouge compris)")),
            SelectChoice(
                follow.ALERTS_RED, _l("Seulement quand il passe au rouge, et quand il en sort")
            ),
            SelectChoice(follow.ALERTS_NONE, _l("Aucune alerte")),
        ],
        default=follow.ALERTS_ALL,
        validate_choice=True,
    )
    digest = BooleanField(_l("La synthèse hebdomadaire de cet établissement"))

    def validate_digest(self, field: Field) -> None:
        if self.alerts.data == follow.ALERTS_NONE and not field.data:
            raise ValidationError(_l("Choisissez au moins les alertes ou la synthèse."))


def establishment_or_404(slug: str) -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    if row is None or not row.active:
        abort(404)
    return row


def client() -> str:
    return follow.client_key(client_network(request.remote_addr), settings())


@bp.route("/etablissements/<slug>/suivre", methods=["GET", "POST"])
@access(BAROMETER)
def form(slug: str) -> ResponseReturnValue:
    establishment = establishment_or_404(slug)
    asked = FollowForm()
    if request.method != "POST" and current_user.is_authenticated:
        asked.email.data = current_user.email
    if not asked.validate_on_submit():
        return form_page(establishment, asked), 422 if request.method == "POST" else 200
    address = clean_address(asked.email.data or "") or ""
    if follow.throttled(db.session, address, client()):
        db.session.rollback()
        return form_page(establishment, asked, refused=str(THROTTLED)), 429
    choice = follow.Choice.from_form(asked.alerts.data or "", bool(asked.digest.data))
    follow.request_follow(db.session, establishment, address, lang(), choice, client())
    db.session.commit()
    # The same page whether the address follows already or not.
    return render_template("alerts/follow_sent.html", establishment=establishment, address=address)


def form_page(establishment: Establishment, form: FollowForm, refused: str = "") -> str:
    return render_template(
        "alerts/follow.html",
        establishment=establishment,
        form=form,
        refused=refused,
        link_hours=follow.FOLLOW_LINK_HOURS,
    )


class ConfirmForm(Form):
    """Only the CSRF token."""


@bp.route("/etablissements/<slug>/suivre/confirmer/<token>", methods=["GET", "POST"])
@access(PUBLIC)
def confirm(slug: str, token: str) -> ResponseReturnValue:
    checked = follow.check_follow_token(token, settings())
    if isinstance(checked, LinkProblem):
        return already_or_refused(slug, token, checked)
    request_id, address = checked
    pending = follow.pending_request(db.session, request_id, address)
    if pending is None or pending.establishment.slug != slug:
        # Already confirmed (the request is gone), or stopped since.
        return already_or_refused(slug, token, LinkProblem.EXPIRED)
    establishment = pending.establishment
    confirm_form = ConfirmForm()
    if request.method == "POST" and confirm_form.validate_on_submit():
        done = render_template("alerts/follow_done.html", establishment=establishment)
        try:
            follow.confirm(db.session, pending)
            db.session.commit()
        except (IntegrityError, StaleDataError):
            # The same link (or another of this address) was confirmed at the same moment:
            # that one won, the address follows; nothing more to do.
            db.session.rollback()
        return no_store(done)
    page = render_template(
        "alerts/follow_confirm.html",
        establishment=establishment,
        address=pending.email,
        choice=pending,
        form=confirm_form,
    )
    return no_store(page)


def no_store(page: str) -> ResponseReturnValue:
    # The address holds a credential: kept by no cache, sent to no other site.
    return page, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def already_or_refused(slug: str, token: str, problem: LinkProblem) -> ResponseReturnValue:
    """A link that no longer confirms: when its address follows the establishment (the link
    served, or the address followed it since), the page says so rather than « refaites une
    demande »."""
    if problem == LinkProblem.EXPIRED:
        follower = follow.follow_of_link(db.session, token, slug, settings())
        if follower is not None:
            page = render_template(
                "alerts/follow_done.html", establishment=follower.establishment, already=True
            )
            return no_store(page)
    return refused(LINK_STATUS[problem], problem)


def refused(status: int, problem: LinkProblem) -> ResponseReturnValue:
    body = render_template("alerts/follow_refused.html", status=status, problem=problem)
    return body, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# --- the coordinators' list -------------------------------------------------------------------


@bp.get("/coordination/abonnes")
@access(COORDINATOR)
def followers() -> ResponseReturnValue:
    chosen = request.args.get("etablissement", type=query_id)
    query = (
        select(Follower)
        .join(Follower.establishment)
        .options(joinedload(Follower.establishment))
        .order_by(Establishment.name, Follower.email, Follower.id)
    )
    if chosen is not None:
        query = query.where(Follower.establishment_id == chosen)
    establishments = db.session.scalars(select(Establishment).order_by(Establishment.name)).all()
    return render_template(
        "alerts/followers.html",
        page=paginate(query),
        establishments=establishments,
        chosen=chosen,
        remove_form=ReviewForm(),
    )


@bp.post("/coordination/abonnes/<id:ident>/supprimer")
@access(COORDINATOR)
def remove_follower(ident: int) -> ResponseReturnValue:
    row = db.session.get(Follower, ident)
    if row is None:
        abort(404)
    if not ReviewForm().validate_on_submit():
        abort(400)
    follow.remove(db.session, actor(), row)
    return done(_("Abonné retiré : il ne recevra plus rien."), ".followers")
