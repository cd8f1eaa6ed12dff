"""Shared by every console view: the blueprint, forms errors, filters, paging."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, select

from barometre.console.filters import Filters
from barometre.console.forms import FilterForm, apply_errors, options
from barometre.errors import DomainError, NotFound, ValidationFailed
from barometre.extensions import db
from barometre.models import Category, Establishment, MemberService, OfferType, User
from barometre.presentation import label_map, lang
from barometre.states import JobState

bp = Blueprint("console", __name__, url_prefix="/coordination")

PER_PAGE = 50
MAX_PAGE = 1_000_000
INVALID = 422


EXPORT_STATES = JobState.labels()


def actor() -> User:
    user: User = current_user._get_current_object()
    return user


@bp.errorhandler(DomainError)
def domain_error(error: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    if isinstance(error, NotFound):
        return render_template("error.html", code=404, message=error.message), 404
    flash(error.message or _("Action impossible."), "error")
    back = request.referrer or ""
    return redirect(back if back.startswith(request.host_url) else url_for(".home"))


def done(message: str, endpoint: str, **values: Any) -> ResponseReturnValue:
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def failed(form: Any, error: ValidationFailed) -> None:
    db.session.rollback()
    apply_errors(form, error)


def filter_form(states: dict[str, Any]) -> tuple[FilterForm, Filters]:
    form = FilterForm(formdata=request.args)
    # « Tous » or « Toutes » agrees with each filter's noun: each says what it leaves open.
    form.establishment.choices = options(
        [("", _("Tous les établissements"))]
        + [
            (e.slug, e.name_in(lang()))
            for e in db.session.scalars(select(Establishment).order_by(Establishment.name))
        ]
    )
    form.category.choices = options(
        [("", _("Toutes les catégories"))]
        + [
            (c.code, c.label(lang()))
            for c in db.session.scalars(select(Category).order_by(Category.position))
        ]
    )
    form.offer_type.choices = options(
        [("", _("Tous les types d'offre"))]
        + [
            (o.code, o.label(lang()))
            for o in db.session.scalars(select(OfferType).order_by(OfferType.position))
        ]
    )
    form.service.choices = options(
        [("", _("Tous les services"))]
        + [
            (str(s.id), s.name)
            for s in db.session.scalars(select(MemberService).order_by(MemberService.name))
        ]
    )
    form.state.choices = options(
        [("", _("Tous les états"))] + [(key, str(label)) for key, label in states.items()]
    )
    form.validate()

    def chosen(field: Any) -> str:
        value = field.data or ""
        return value if value in {str(choice.value) for choice in field.choices} else ""

    service = chosen(form.service)
    filters = Filters(
        establishment=chosen(form.establishment),
        date_from=None if form.date_from.errors else form.date_from.data,
        date_to=None if form.date_to.errors else form.date_to.data,
        category=chosen(form.category),
        offer_type=chosen(form.offer_type),
        service=int(service) if service else None,
        state=chosen(form.state),
    )
    return form, filters


def paginate(query: Select[Any]) -> Pagination:
    """One page of a list; a page number past the end shows the last page.

    The number is bounded before it becomes an OFFSET (`?page=10**20` is no error).
    """
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    page = db.paginate(query, page=number, per_page=PER_PAGE, error_out=False)
    if number > 1 and not page.items and page.pages:
        page = db.paginate(query, page=page.pages, per_page=PER_PAGE, error_out=False)
    return page


def list_url(endpoint: str, **changed: str | int) -> str:
    """A list's address with the query string this request was given, some names changed.

    The parameters go into the query string as they came, never as url_for's keywords:
    there `?endpoint=x` was a 500 and `?_scheme=…&_external=1` a link to another scheme.
    """
    kept = [(name, value) for name, value in request.args.items(multi=True) if name not in changed]
    return url_for(endpoint) + "?" + urlencode([*kept, *changed.items()])


@bp.app_template_global()
def page_link(endpoint: str, number: int) -> str:
    """The list at page `number`, with every other parameter it was given."""
    return list_url(endpoint, page=number)


def labels() -> dict[str, Any]:
    offer_types = db.session.scalars(select(OfferType)).all()
    return {"offer_labels": label_map(offer_types)}
