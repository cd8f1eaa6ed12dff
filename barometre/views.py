"""The barometer people look at: cards, establishment history, codes, badge, feed.

Anonymous visitors (when PUBLIC_BAROMETER is on) see aggregates only: levels,
counts by category and offer type, history (SPEC §4). Signed-in users also see
the wording of the conditions behind the open situations. No page here ever
shows report text, authors or services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from . import clock, history
from .auth import BAROMETER, PUBLIC, access
from .charts import (
    DEFAULT_PERIOD,
    NARROW,
    PERIODS,
    WIDE,
    badge,
    chart_window,
    history_chart,
)
from .datacache import barometer_key, cache
from .extensions import db
from .gauge import level_words
from .levels import OFFER_TYPES
from .presentation import in_sentence, init_presentation, label_map, lang, tick_label
from .queries import EstablishmentView, barometer, referentiel, wording_labels
from .security import embeddable_when
from .settings import Settings
from .settings import current as settings
from .signed_links import LINK_PARAMETER, LinkProblem, check_token
from .text import printable_only

bp = Blueprint("barometre", __name__)
bp.record_once(lambda state: init_presentation(state.app))  # type: ignore[arg-type]

SHORT_CACHE_SECONDS = 300
FAVICON_CACHE_SECONDS = 86400


def public_barometer(settings: Settings) -> bool:
    return settings.public_barometer


def short_cache(response: Response) -> Response:
    """Kept five minutes; by shared caches only when anyone may see it: a private
    barometer's feeds and badges are for signed-in readers alone. Their words are in the
    reader's language (its header, or its cookie)."""
    scope = "public" if public_barometer(settings()) else "private"
    response.headers["Cache-Control"] = f"{scope}, max-age={SHORT_CACHE_SECONDS}"
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def signed_in() -> bool:
    return bool(current_user.is_authenticated)


def labels() -> dict[str, Any]:
    """Category, condition and offer-type labels for the templates."""
    categories, offer_types = referentiel(db.session)
    return {
        "category_labels": label_map(categories),
        "offer_labels": label_map(offer_types),
        "categories": categories,
        "offer_types": offer_types,
    }


def one_view(slug: str) -> EstablishmentView:
    views = barometer(db.session, [slug])
    if not views:
        abort(404)
    view = views[0]
    if not view.establishment.active and not getattr(current_user, "is_coordinator", False):
        abort(404)
    return view


@bp.get("/")
@access(BAROMETER)
def index() -> ResponseReturnValue:
    return render_template("barometre/index.html", cards=cards())


WEEK = timedelta(days=7)


def cards() -> Markup:
    """The cards of every active establishment, kept while what they show is unchanged.

    The one cache of `/`, for its budget fails without it: rendered on every request,
    the cards of the 40 Belgian prisons cost 73 ms of a worker's CPU against 2.6 ms
    for the bench's baseline (`python -m bench --only barometer`: 0.006 of its
    requests per second, the goal being 0.5). What they show depends on the
    establishments' rows, the référentiel and its wording (the key, see
    barometre.datacache), the language, whether the reader is signed in (the
    conditions behind the level), the address the app is mounted at and the day (how
    long each level has lasted, the trend over the week); nothing else of the request.
    """
    viewer = signed_in()
    current = lang()
    data = barometer_key(db.session)
    today = clock.today()
    key = (data, current, viewer, request.script_root, today)

    def render() -> Markup:
        views = barometer(db.session, with_situations=viewer, known_referentiel=data.referentiel)
        week_ago = history.levels_at(db.session, clock.local_moment(today - WEEK, 0))
        html = render_template(
            "barometre/_cards.html",
            views=views,
            today=today,
            week_ago=week_ago,
            signed_in=viewer,
            category_labels=wording_labels(data.wording, "category", current),
            offer_labels=wording_labels(data.wording, "offer", current),
        )
        return Markup(html)  # noqa: S704 - a template's own output, escaped as it rendered

    return cache("pages.cards").get(key, render)


def carries_signed_link() -> bool:
    """An email's signed link lets its reader in; the view itself checks the signature."""
    return LINK_PARAMETER in request.args


@bp.get("/etablissements/<slug>")
@access(BAROMETER, or_if=carries_signed_link)
def establishment(slug: str) -> ResponseReturnValue:
    token = request.args.get(LINK_PARAMETER)
    if token is not None:
        return signed_establishment(slug, token)
    return establishment_page(one_view(slug), signed_in())


def establishment_page(
    view: EstablishmentView, viewer: bool, signed_token: str | None = None
) -> str:
    """`viewer`: a signed-in user; `signed_token`: an email's reader (its valid token), shown
    the public page plus the wording of the conditions (which the email already named)."""
    signed_link = signed_token is not None
    changes = history.level_changes(db.session, view.establishment.id)
    period = request.args.get("periode", DEFAULT_PERIOD)
    now = clock.now()
    steps = history.chart_changes(changes)  # once for both drawings
    first = history.first_record(db.session, view.establishment.id)
    start, _end = chart_window(steps, now, period, first)
    spans = history.situation_spans(db.session, view.establishment.id, start)
    charts = [
        history_chart(
            steps,
            view.level.rank,
            now,
            period=period,
            spans=spans,
            offer_types=OFFER_TYPES,
            first_record=first,
            label=tick_label,
            **size,
        )
        for size in (WIDE, NARROW)
    ]
    return render_template(
        "barometre/establishment.html",
        view=view,
        chart=charts[0],
        charts=charts,
        periods=PERIODS,
        changes=list(reversed(changes)),
        durations=history.level_durations(changes),
        causes=history.cause_situations(db.session, changes),
        closed=history.recently_closed(db.session, view.establishment.id),
        closed_days=history.RECENTLY_CLOSED_DAYS,
        signed_in=viewer,
        show_conditions=viewer or signed_link,
        signed_link=signed_link,
        # The page's own links (the chart's periods) keep the token, or they would ask a login.
        link_args={LINK_PARAMETER: signed_token} if signed_link else {},
        # Resolution notes are the coordinators' own words: not for members' workers.
        coordinator=viewer and bool(getattr(current_user, "is_coordinator", False)),
        **labels(),
    )


LINK_REFUSED = {LinkProblem.INVALID: 403, LinkProblem.EXPIRED: 410}


def signed_establishment(slug: str, token: str) -> ResponseReturnValue:
    """The page an email's signed link opens without login (R14), or a French refusal."""
    views = barometer(db.session, [slug])
    if not views or not views[0].establishment.active:
        return link_refused(404, None)
    problem = check_token(token, views[0].establishment.id, settings())
    if problem is not None:
        return link_refused(LINK_REFUSED[problem], problem)
    response = make_response(establishment_page(views[0], viewer=False, signed_token=token))
    # The address holds a credential: kept by no cache, sent to no other site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def link_refused(status: int, problem: LinkProblem | None) -> ResponseReturnValue:
    body = render_template("barometre/link_refused.html", status=status, problem=problem)
    return body, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/codes")
@access(PUBLIC)
def codes() -> ResponseReturnValue:
    return render_template("barometre/codes.html", settings=settings(), **labels())


@bp.get("/favicon.ico")
@access(PUBLIC)
def favicon() -> ResponseReturnValue:
    """Browsers ask for /favicon.ico whatever a page links to (the pages link the SVG): the
    same drawing, as an icon file."""
    response = current_app.send_static_file("favicon.ico")
    response.headers["Cache-Control"] = f"public, max-age={FAVICON_CACHE_SECONDS}"
    return response


# Badges and feeds are for other websites and feed readers too: others may load them while
# the barometer is public (a private one's stay on this site).
@bp.get("/badge/<slug>.svg")
@access(BAROMETER)
@embeddable_when(public_barometer)
def badge_svg(slug: str) -> ResponseReturnValue:
    view = one_view(slug)
    level = view.level
    # Rows older than the text rule may hold controls.
    name = printable_only(view.establishment.name_in(lang()))
    picture = badge(name, level_words(level.colour, level.step, "short"), level.colour)
    body = render_template(
        "barometre/badge.svg",
        badge=picture,
        alt=_("%(label)s : %(value)s", label=name, value=level_words(level.colour, level.step)),
    )
    return short_cache(Response(body, mimetype="image/svg+xml"))


@bp.get("/feed.atom")
@access(BAROMETER)
@embeddable_when(public_barometer)
def feed() -> ResponseReturnValue:
    return atom(
        history.feed_changes(db.session),
        url_for("barometre.feed"),
        url_for("barometre.index"),
        _("Baromètre Fidex : changements de niveau"),
    )


@bp.get("/etablissements/<slug>/feed.atom")
@access(BAROMETER)
@embeddable_when(public_barometer)
def establishment_feed(slug: str) -> ResponseReturnValue:
    """One establishment's level changes only, for those who follow that one."""
    view = one_view(slug)
    name = printable_only(view.establishment.name_in(lang()))
    return atom(
        history.feed_changes(db.session, establishment_id=view.establishment.id),
        url_for("barometre.establishment_feed", slug=slug),
        url_for("barometre.establishment", slug=slug),
        _("Baromètre Fidex : changements de niveau de %(name)s", name=in_sentence(name)),
    )


def atom(changes: list[Any], self_path: str, page_path: str, title: str) -> ResponseReturnValue:
    base_url = settings().base_url.rstrip("/")
    body = render_template(
        "barometre/feed.xml",
        changes=changes,
        causes=history.cause_situations(db.session, changes),
        updated=changes[0].at if changes else clock.now(),
        base_url=base_url,
        feed_url=base_url + self_path,
        page_url=base_url + page_path,
        title=title,
        lang=lang(),
    )
    return short_cache(Response(body, mimetype="application/atom+xml"))
