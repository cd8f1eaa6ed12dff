"""Coordinator pages (notification log, outbox) and the signed preferences page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from barometre.addresses import AddressError, check_address
from barometre.auth import COORDINATOR, PUBLIC, access
from barometre.console.forms import LANGUAGE_LABELS, ReviewForm
from barometre.extensions import csrf, db
from barometre.languages import DEFAULT_LANGUAGE
from barometre.presentation import lang
from barometre.settings import current as settings

from . import delivery, digest, kinds, trouble
from .addresses import address_book, change_choice, line_of
from .channels import service as channels
from .channels.forms import ChannelForm, channel_form
from .channels.models import Channel, ChannelKind, channel_words
from .channels.targets import ChannelRefused
from .emails import (
    TOPIC_ALERTS,
    TOPICS,
    OneClick,
    address_from_token,
    one_click_from_token,
    preferences_token,
)
from .follow import service as follow
from .models import (
    TO_COMMITTEE,
    TO_CONTACT,
    TO_COORDINATOR,
    TO_FOLLOWER,
    TO_SERVICE,
    TO_USER,
    AddressPreference,
    AlertEvent,
    Notification,
    NotificationState,
)
from .recipients import preference, receives_otherwise, set_preference

bp = Blueprint("alerts", __name__)
# Every template (the notification log, the coordinators' warning email) names a kind of
# email as its row in `alerts.kinds` does.
bp.add_app_template_global(kinds.label, "email_kind_label")
# A channel as every page names it: « webhook n° 3 · https://h/… », never its URL.
bp.add_app_template_global(channel_words, "channel_words")


@bp.app_template_global("digest_period")
def digest_period(week: str) -> str:
    """The days a digest run covers, in the page's language: never its ISO week id."""
    return digest.week_period(week, settings(), lang())


LOG_LIMIT = 200
OUTBOX_LIMIT = 200
OUTBOX_NAME = re.compile(r"^notification-\d{6,}\.eml$")
RETRYABLE = (NotificationState.FAILED, NotificationState.UNCERTAIN)

# What the log shows for a notification's state and its kind of recipient (the
# stored codes stay English; the page speaks the reader's language).
STATE_LABELS = NotificationState.labels()
RECIPIENT_LABELS = {
    TO_CONTACT: _l("contact"),
    TO_COORDINATOR: _l("coordinateur"),
    TO_SERVICE: _l("service membre"),
    TO_USER: _l("compte"),
    TO_FOLLOWER: _l("abonné"),
    TO_COMMITTEE: _l("comité"),
}
# A channel's row: whose channel it is (an establishment's is told what its contacts are).
CHANNEL_RECIPIENT_LABELS = {
    TO_CONTACT: _l("canal d'un établissement"),
    TO_SERVICE: _l("canal d'un service membre"),
    TO_COMMITTEE: _l("canal du comité"),
}
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/coordination/notifications")
@access(COORDINATOR)
def notifications() -> ResponseReturnValue:
    state = request.args.get("state", "")
    query = (
        select(Notification)
        .options(
            joinedload(Notification.event).joinedload(AlertEvent.establishment),
            joinedload(Notification.digest_run),
        )
        .order_by(Notification.id.desc())
        .limit(LOG_LIMIT)
    )
    if state in STATE_LABELS:
        query = query.where(Notification.state == state)
    counts = dict(
        db.session.execute(
            select(Notification.state, func.count(Notification.id)).group_by(Notification.state)
        ).all()
    )
    rows = list(db.session.scalars(query))
    channel_ids = {row.channel_id for row in rows if row.channel_id is not None}
    named = db.session.scalars(select(Channel).where(Channel.id.in_(channel_ids)))
    return render_template(
        "alerts/notifications.html",
        rows=rows,
        channels={channel.id: channel for channel in named},
        channel_labels=CHANNEL_RECIPIENT_LABELS,
        corrections=trouble.corrections(db.session, rows),
        state=state if state in STATE_LABELS else "",
        states=tuple(NotificationState),
        state_labels=STATE_LABELS,
        recipient_labels=RECIPIENT_LABELS,
        counts=counts,
        retryable=RETRYABLE,
        embedded=settings().uses_outbox,
    )


@bp.post("/coordination/notifications/<id:notification_id>/retry")
@access(COORDINATOR)
def retry(notification_id: int) -> ResponseReturnValue:
    if delivery.retry(db.session, notification_id, current_user):
        db.session.commit()
        flash(_("Nouvel essai demandé."), "success")
    else:
        db.session.rollback()
        flash(_("Seule une notification en échec ou incertaine peut être relancée."), "error")
    return redirect(url_for(".notifications"))


@bp.post("/coordination/notifications/<id:notification_id>/ignorer")
@access(COORDINATOR)
def dismiss(notification_id: int) -> ResponseReturnValue:
    if trouble.dismiss(db.session, notification_id, current_user):
        db.session.commit()
        flash(_("Échec ignoré : il ne s'affiche plus dans le bandeau."), "success")
    else:
        db.session.rollback()
        flash(_("Seule une notification en échec ou incertaine peut être ignorée."), "error")
    return redirect(url_for(".notifications"))


@dataclass(frozen=True)
class OutboxEntry:
    name: str
    written: datetime
    to: str
    subject: str


def _read(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)  # noqa: S101 - policy.default builds EmailMessage
    return parsed


@bp.get("/coordination/outbox")
@access(COORDINATOR)
def outbox() -> ResponseReturnValue:
    folder = settings().outbox_path
    files = sorted(folder.glob("notification-*.eml"), reverse=True) if folder.is_dir() else []
    entries = []
    for path in files[:OUTBOX_LIMIT]:
        message = _read(path)
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        entries.append(OutboxEntry(path.name, written, str(message["To"]), str(message["Subject"])))
    return render_template(
        "alerts/outbox.html", entries=entries, folder=str(folder), total=len(files)
    )


@bp.get("/coordination/outbox/<name>")
@access(COORDINATOR)
def outbox_message(name: str) -> ResponseReturnValue:
    path = settings().outbox_path / name
    if not OUTBOX_NAME.match(name) or not path.is_file():
        abort(404)
    message = _read(path)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    headers = [(h, str(message[h])) for h in ("Date", "From", "To", "Subject", "Message-ID")]
    return render_template("alerts/outbox_message.html", name=name, headers=headers, text=text)


ONE_CLICK = "/alertes/desabonnement/<token>/<topic>"


def one_click_link(token: str, topic: str) -> OneClick:
    link = one_click_from_token(token, settings())
    if link is None or topic not in TOPICS:
        abort(404)
    return link


@bp.get(ONE_CLICK)
@access(PUBLIC)
def one_click_page(token: str, topic: str) -> ResponseReturnValue:
    """A GET or a HEAD (a person following the link, a scanner, a prefetcher) changes
    nothing: it leads to the preferences page, which offers the rest."""
    address = one_click_link(token, topic).address
    return redirect(url_for(".preferences", token=preferences_token(address, settings())))


@bp.post(ONE_CLICK)
@csrf.exempt  # mail providers POST without a form: the signed token is the capability
@access(PUBLIC)
def one_click(token: str, topic: str) -> ResponseReturnValue:
    """RFC 8058: the provider POSTs `List-Unsubscribe=One-Click`; no page, no login.
    Only a POST changes anything (a view of its own: HEAD and OPTIONS never reach it)."""
    link = one_click_link(token, topic)
    if link.establishment_ids is not None:
        # A follower's email: it stops that topic of the establishments the email was about.
        alerts = topic == TOPIC_ALERTS
        follow.stop(db.session, link.address, alerts, not alerts, link.establishment_ids)
    else:
        stop_topic(link.address, topic)
    db.session.commit()
    return Response(_("Désabonnement enregistré."), mimetype="text/plain")


def stop_topic(address: str, topic: str) -> None:
    row = preference(db.session, address)
    alerts, digest = (row.alerts, row.digest) if row else (True, True)
    if topic == TOPIC_ALERTS:
        alerts = False
    else:
        digest = False
    choose(address, alerts, digest)


def choose(address: str, alerts: bool, digest: bool) -> None:
    """What an address chose through its link: for what it follows (stopping everything
    deletes its follows), and for what it gets otherwise. An address that only follows
    keeps no preference row: once it stops, nothing of it is kept."""
    follow.stop(db.session, address, alerts=not alerts, digest=not digest)
    if preference(db.session, address) is not None or receives_otherwise(db.session, address):
        set_preference(db.session, address, alerts, digest)


# --- who receives what --------------------------------------------------------------------


@bp.get("/coordination/adresses")
@access(COORDINATOR)
def addresses() -> ResponseReturnValue:
    return addresses_page()


def addresses_page(
    form: ChannelForm | None = None, status: int = 200, added: channels.Added | None = None
) -> ResponseReturnValue:
    """The addresses and the channels; `added`: a webhook just added, its generated secret
    shown in this answer only (never stored anywhere else, never cached)."""
    listed = channels.listing(db.session)
    page = render_template(
        "alerts/addresses.html",
        lines=address_book(db.session),
        channels=listed,
        health=channels.health(db.session, [channel.id for channel in listed]),
        channel_form=form or channel_form(db.session, lang()),
        action_form=ReviewForm(),
        added=added,
        kind_labels=ChannelKind.labels(),
        language_labels=LANGUAGE_LABELS,
        state_labels=STATE_LABELS,
    )
    return page, status, NO_STORE


# --- webhook and chat channels (issue 30) ---------------------------------------------------


@bp.post("/coordination/canaux")
@access(COORDINATOR)
def add_channel() -> ResponseReturnValue:
    form = channel_form(db.session, lang())
    if not form.validate_on_submit():
        return addresses_page(form, 422)
    establishment_id, service_id = form.owned_by()
    try:
        added = channels.add(
            db.session,
            current_user,
            settings(),
            form.url.data or "",
            kind=form.kind.data or "",
            establishment_id=establishment_id,
            service_id=service_id,
            secret=form.secret.data or "",
            language=form.language.data or DEFAULT_LANGUAGE,
        )
    except ChannelRefused as refused:
        db.session.rollback()
        form.url.errors = [*form.url.errors, refused.reason]
        return addresses_page(form, 422)
    db.session.commit()
    if added.generated_secret:
        # Rendered, not redirected: the secret exists only in this answer.
        return addresses_page(channel_form(db.session, lang(), formdata=None), 201, added)
    flash(_("Canal ajouté : %(name)s.", name=channel_words(added.channel)), "success")
    return redirect(url_for(".addresses", _anchor=f"canal-{added.channel.id}"), 303)


def live_channel(channel_id: int) -> Channel:
    channel = channels.live(db.session, channel_id)
    if channel is None:
        abort(404)
    return channel


@bp.post("/coordination/canaux/<id:channel_id>/test")
@access(COORDINATOR)
def test_channel(channel_id: int) -> ResponseReturnValue:
    channel = live_channel(channel_id)
    if not ReviewForm().validate_on_submit():
        abort(400)
    try:
        flash(channels.send_test(db.session, current_user, channel, settings()), "success")
    except ChannelRefused as refused:
        flash(refused.reason, "error")
    db.session.commit()  # the test's journal entry
    return redirect(url_for(".addresses", _anchor=f"canal-{channel_id}"), 303)


@bp.route("/coordination/canaux/<id:channel_id>/supprimer", methods=["GET", "POST"])
@access(COORDINATOR)
def remove_channel(channel_id: int) -> ResponseReturnValue:
    """GET asks to confirm; only the POST of that page removes."""
    channel = live_channel(channel_id)
    form = ReviewForm()
    if request.method != "POST":
        return render_template("alerts/channel_remove.html", channel=channel, form=form)
    if not form.validate_on_submit():
        abort(400)
    words = channel_words(channel)
    channels.remove(db.session, current_user, channel_id)
    db.session.commit()
    flash(_("Canal supprimé : %(name)s.", name=words), "success")
    return redirect(url_for(".addresses", _anchor="canaux"), 303)


@bp.app_template_global()
def address_choice(address: str) -> AddressPreference | None:
    """For console pages: what an address chose through its link (None: it refused nothing)."""
    return preference(db.session, address)


def _back(default: str) -> str:
    target = request.form.get("next", "")
    local = target.startswith("/coordination/") and not any(c in target for c in "\\\r\n")
    return target if local else default


@bp.post("/coordination/adresses")
@access(COORDINATOR)
def change_address() -> ResponseReturnValue:
    try:
        address = check_address(request.form.get("email", ""))
    except AddressError as refused:
        flash(str(refused.reason), "error")
        return redirect(_back(url_for(".addresses")))
    alerts = request.form.get("alerts") == "1"
    digest = request.form.get("digest") == "1"
    change_choice(db.session, current_user, address, alerts, digest)
    db.session.commit()
    flash(_("Choix enregistrés pour %(address)s.", address=address), "success")
    return redirect(_back(url_for(".addresses")))


@bp.route("/alertes/preferences/<token>", methods=["GET", "POST"])
@access(PUBLIC)
def preferences(token: str) -> ResponseReturnValue:
    address = address_from_token(token, settings())
    if address is None:
        abort(404)
    if request.method == "POST":
        stop_all = "stop_all" in request.form
        alerts = not stop_all and request.form.get("alerts") == "1"
        digest = not stop_all and request.form.get("digest") == "1"
        choose(address, alerts, digest)
        db.session.commit()
        flash(_("Vos préférences sont enregistrées."), "success")
        return redirect(url_for(".preferences", token=token))
    # The boxes show what the address receives now, as the console's address book says it
    # (its own choice, and what it follows, which a follower's one-click changes without
    # any preference row): saved unchanged, the page changes nothing.
    receives = line_of(db.session, address)
    return render_template(
        "alerts/preferences.html",
        address=address,
        alerts=receives.alerts,
        digest=receives.digest,
        follows=follow.follows(db.session, address),
    )
