"""The floor: a bare Flask + Flask-SQLAlchemy app doing the least the real routes must do.

- `POST /api/v1/reports` validates the same fields by hand (known codes are
  read once at start) and inserts one row; it only checks that a bearer token
  is present, it does not look it up.
- `POST /signalement` takes the questionnaire's HTML form (form-encoded): it
  reads the same fields by hand into the JSON shape, validates them with the
  same code, checks that the honeypot is empty, inserts one row and answers
  303 (POST → redirect). No WTForms, no CSRF, no session.
- `GET /barometre` reads the establishments in one query and renders a bare
  Jinja page with one row each.

It runs under the same gunicorn settings as the app, on the same database.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Boolean, Date, DateTime, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MAX_DESCRIPTION = 2000
ZONE = ZoneInfo("Europe/Brussels")
MAX_COUNT = 100_000
FIELDS = {
    "establishment",
    "visit_date",
    "conditions",
    "offer_types",
    "description",
    "minutes_waited",
    "activity_cancelled",
    "detainees_not_seen",
    "submission_id",
}


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class BaselineReport(db.Model):  # type: ignore[name-defined]
    __tablename__ = "bench_baseline_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    establishment: Mapped[str] = mapped_column(String(64))
    visit_date: Mapped[date] = mapped_column(Date)
    conditions: Mapped[str] = mapped_column(String(400))
    offer_types: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    minutes_waited: Mapped[int | None] = mapped_column(Integer)
    activity_cancelled: Mapped[bool | None] = mapped_column(Boolean)
    detainees_not_seen: Mapped[int | None] = mapped_column(Integer)
    submission_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.utcnow)


def database_url() -> str:
    url = os.environ["DATABASE_URL"]
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url()
    db.init_app(app)
    with app.app_context():
        app.config["KNOWN"] = {
            "establishment": set(db.session.scalars(text("SELECT slug FROM establishment"))),
            "conditions": set(db.session.scalars(text("SELECT code FROM condition"))),
            "offer_types": set(db.session.scalars(text("SELECT code FROM offer_type"))),
        }
        db.session.remove()
    app.add_url_rule("/api/v1/reports", view_func=create_report, methods=["POST"])
    app.add_url_rule("/signalement", view_func=submit_form, methods=["POST"])
    app.add_url_rule("/barometre", view_func=page)
    return app


def create_schema(url: str) -> None:
    """Create the baseline's table (once, before gunicorn forks its workers)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url.replace("postgresql://", "postgresql+psycopg://", 1)
    db.init_app(app)
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def validate(body: Any, known: dict[str, set[str]]) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "objet JSON attendu"}
    errors = {name: "champ inconnu" for name in set(body) - FIELDS}
    if body.get("establishment") not in known["establishment"]:
        errors["establishment"] = "établissement inconnu"
    try:
        visit = date.fromisoformat(body.get("visit_date", ""))
        today = datetime.now(ZONE).date()  # the app's calendar (TIMEZONE), not the machine's
        if not today - timedelta(days=90) <= visit <= today:
            errors["visit_date"] = "date hors limites"
    except (TypeError, ValueError):
        errors["visit_date"] = "date invalide"
    for name in ("conditions", "offer_types"):
        codes = body.get(name)
        if not isinstance(codes, list) or not codes or not set(codes) <= known[name]:
            errors[name] = "codes inconnus"
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        errors["description"] = "texte invalide"
    for name in ("minutes_waited", "detainees_not_seen"):
        value = body.get(name)
        if value is not None and (type(value) is not int or not 0 <= value <= MAX_COUNT):
            errors[name] = "nombre invalide"
    if body.get("activity_cancelled") not in (None, True, False):
        errors["activity_cancelled"] = "booléen attendu"
    if body.get("submission_id") is not None:
        try:
            uuid.UUID(body["submission_id"])
        except (TypeError, ValueError, AttributeError):
            errors["submission_id"] = "UUID attendu"
    return errors


def create_report() -> ResponseReturnValue:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return jsonify(error="jeton requis"), 401
    body: Any = request.get_json(silent=True)
    errors = validate(body, current_app.config["KNOWN"])
    if errors:
        return jsonify(errors=errors), 422
    report = insert(body)
    return jsonify(id=report.id), 201


def insert(body: dict[str, Any]) -> BaselineReport:
    report = BaselineReport(
        establishment=body["establishment"],
        visit_date=date.fromisoformat(body["visit_date"]),
        conditions=",".join(body["conditions"]),
        offer_types=",".join(body["offer_types"]),
        description=body.get("description", ""),
        minutes_waited=body.get("minutes_waited"),
        activity_cancelled=body.get("activity_cancelled"),
        detainees_not_seen=body.get("detainees_not_seen"),
        submission_id=body.get("submission_id"),
    )
    db.session.add(report)
    db.session.commit()
    return report


FORM_ONLY = {"csrf_token", "website"}  # sent by the app's form; the baseline ignores the token


def form_body() -> tuple[dict[str, Any], dict[str, str]]:
    """The form's fields in the JSON shape (lists, ints, booleans), and the parse errors."""
    form = request.form
    lists = ("conditions", "offer_types")
    body: dict[str, Any] = {name: form[name] for name in form if name not in FORM_ONLY}
    body.update({name: form.getlist(name) for name in lists})
    errors: dict[str, str] = {}
    for name in ("minutes_waited", "detainees_not_seen"):
        raw = body.pop(name, "").strip()
        if raw:
            if raw.isascii() and raw.isdigit() and len(raw) <= 12:
                body[name] = int(raw)
            else:
                errors[name] = "nombre invalide"
    cancelled = body.pop("activity_cancelled", "")
    if cancelled:
        body["activity_cancelled"] = {"true": True, "false": False}.get(cancelled, cancelled)
    if not body.get("submission_id"):
        body.pop("submission_id", None)
    return body, errors


def submit_form() -> ResponseReturnValue:
    if request.form.get("website"):
        return "Envoi refusé.", 400
    body, errors = form_body()
    errors.update(validate(body, current_app.config["KNOWN"]))
    if errors:
        return jsonify(errors=errors), 422
    report = insert(body)
    return redirect(f"/signalement/{report.id}/merci", 303)


def page() -> ResponseReturnValue:
    rows = db.session.execute(
        text(
            "SELECT name, colour, step, open_situations FROM establishment"
            " WHERE active ORDER BY name"
        )
    ).all()
    return render_template("page.html", rows=rows)
