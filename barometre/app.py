"""The app factory: extensions initialised and blueprints registered in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from . import i18n_cache
from .auth import init_auth
from .extensions import babel, csrf, db, migrate
from .settings import Settings, ensure_secret_key

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCALES = ("fr", "nl", "en")


def create_app(settings: Settings | None = None) -> Flask:
    settings = ensure_secret_key(settings or Settings.from_env())
    app = Flask(
        "barometre",
        instance_path=settings.instance_path,
        template_folder=str(TEMPLATES),
        static_folder=str(Path(__file__).resolve().parent / "static"),
    )
    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    configure(app, settings)
    init_extensions(app)
    register_blueprints(app)
    register_errors(app)
    from .cli import register_cli

    register_cli(app)
    return app


def configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.sqlalchemy_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.sqlalchemy_url),
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
        TESTING=settings.testing,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
    )
    app.config.update(settings.extra)
    app.json.sort_keys = False  # type: ignore[attr-defined]


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


def select_locale() -> str | None:
    if not has_request_context():
        return None
    if current_user and getattr(current_user, "is_authenticated", False):
        language = getattr(current_user, "language", None)
        if language in LOCALES:
            return str(language)
    chosen = request.cookies.get("lang")
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or "fr"


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    i18n_cache.install(app)
    init_auth(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _sqlite_pragmas()


def _sqlite_pragmas() -> None:
    from sqlalchemy import event

    @event.listens_for(db.engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def register_blueprints(app: Flask) -> None:
    from intake.api import bp as intake_api

    from .api import bp as api
    from .views import bp as pages

    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(intake_api)
    csrf.exempt(intake_api)


def wants_json() -> bool:
    return request.path.startswith("/api/")


ERROR_MESSAGES = {
    400: "Requête invalide.",
    401: "Authentification requise.",
    403: "Accès refusé.",
    404: "Page introuvable.",
    405: "Méthode non autorisée.",
    413: "Envoi trop volumineux.",
    429: "Trop de tentatives. Réessayez dans une minute.",
    500: "Erreur interne. L'équipe a été prévenue.",
    503: "Service momentanément indisponible.",
}


def register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        code = error.code or 500
        message = _(ERROR_MESSAGES.get(code, "Erreur."))
        if wants_json():
            return jsonify(error=message), code
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        current_app.logger.exception("unhandled error")
        db.session.rollback()
        message = _(ERROR_MESSAGES[500])
        if wants_json():
            return jsonify(error=message), 500
        return render_template("error.html", code=500, message=message), 500
