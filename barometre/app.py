"""The app factory: extensions initialised and blueprints registered in one place."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    current_app,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from . import template_gettext
from .auth import init_auth
from .extensions import babel, csrf, db, login_manager, migrate
from .languages import LANGUAGES
from .logs import init_logging
from .routing import init_routing
from .security import init_security
from .settings import Settings, ensure_secret_key, mail_problem, settings_from_env_or_exit

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(settings: Settings | None = None) -> Flask:
    settings = ensure_secret_key(settings or settings_from_env_or_exit())
    app = Flask(
        "barometre",
        instance_path=settings.instance_path,
        template_folder=str(TEMPLATES),
        static_folder=str(Path(__file__).resolve().parent / "static"),
    )
    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    configure(app, settings)
    init_routing(app)
    init_extensions(app)
    register_blueprints(app)
    register_errors(app)
    init_security(app)
    init_logging(app)
    if problem := mail_problem(settings):
        # The web site serves whatever the mail settings; the sending processes refuse them.
        app.logger.warning("%s (/readyz et la console le disent)", problem)
    if settings.outbox_in_production:
        app.logger.warning(
            "MAIL_BACKEND=outbox en production : les courriels sont écrits dans %s, aucun ne part",
            settings.outbox_path,
        )
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
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
        TESTING=settings.testing,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
    )
    app.config.update(settings.extra)
    app.json.sort_keys = False  # type: ignore[attr-defined]


def engine_options(url: str) -> dict[str, Any]:
    # hide_parameters: a database error in the logs must not carry report text.
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # No pool_pre_ping (a round trip on every checkout): connections idle for a
    # while are pinged on checkout instead (see _ping_idle_connections).
    return {
        "pool_size": 10,
        "max_overflow": 10,
        "hide_parameters": True,
        "connect_args": {"connect_timeout": 5},  # an unreachable server must not hang requests
    }


def select_locale() -> str | None:
    """The page's language: the header's switch (a cookie) first, then a signed-in
    user's profile language (also their emails'), then the browser's."""
    if not has_request_context():
        return None
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if current_user and getattr(current_user, "is_authenticated", False):
        language = getattr(current_user, "language", None)
        if language in LANGUAGES:
            return str(language)
    return request.accept_languages.best_match(LANGUAGES) or "fr"


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    template_gettext.install(app)
    init_auth(app)
    with app.app_context():
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            _sqlite_pragmas()
        else:
            _ping_idle_connections()


def _sqlite_pragmas() -> None:
    from sqlalchemy import event

    @event.listens_for(db.engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


# A pooled connection unused for this long is checked before use: the server may
# have restarted or dropped it meanwhile. A busy pool never pays the round trip.
IDLE_PING_SECONDS = 10.0


def _ping_idle_connections() -> None:
    from sqlalchemy import event

    engine = db.engine
    if event.contains(engine, "checkout", _checkout):
        return
    event.listen(engine, "checkin", _checkin)
    event.listen(engine, "checkout", _checkout)


def _checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling, for idle connections only.

    Raising DisconnectionError makes the pool drop this connection and try
    another (up to three times), as pool_pre_ping does.
    """
    from sqlalchemy import exc

    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        if not getattr(dbapi_connection, "autocommit", True):
            dbapi_connection.rollback()  # end the ping's implicit transaction
    except Exception as error:
        raise exc.DisconnectionError(str(error)) from error


def register_blueprints(app: Flask) -> None:
    """The core's blueprints, then what the composition root wires in (intake, alerts)."""
    from .api import bp as api
    from .composition import compose
    from .console.imports import bp as console_import
    from .console.views import bp as console
    from .health import bp as health
    from .privacy import bp as privacy
    from .report_views import bp as year_report
    from .views import bp as pages

    app.register_blueprint(pages)
    app.register_blueprint(console)
    app.register_blueprint(console_import)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(privacy)
    app.register_blueprint(year_report)
    compose(app)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def browsing() -> bool:
    """A person's browser asking for a page (not the API, a scraper or a script)."""
    return (
        not wants_json()
        and request.method in ("GET", "HEAD")
        and request.accept_mimetypes.accept_html
    )


ERROR_MESSAGES = {
    400: _l("Requête invalide."),
    401: _l("Authentification requise."),
    403: _l("Accès refusé."),
    404: _l("Page introuvable."),
    405: _l("Méthode non autorisée."),
    413: _l("Envoi trop volumineux."),
    429: _l("Trop de tentatives. Réessayez dans une minute."),
    500: _l("Erreur interne. L'équipe a été prévenue."),
    503: _l("Service momentanément indisponible."),
}
# Answers read by machines or embedded in other pages keep their own type when the
# database is down: an image for the badge, plain text for the feed (not an HTML page).
UNAVAILABLE_ANSWERS = {
    "barometre.badge_svg": ("barometre/badge_unavailable.svg", "image/svg+xml"),
    "barometre.feed": ("barometre/unavailable.txt", "text/plain"),
}
CSRF_MESSAGE = _l("Le formulaire a expiré ou n'est pas valide : rechargez la page et réessayez.")


def to_login() -> Any:
    """Browsers that must sign in go to the login page, and come back after."""
    target = request.full_path if request.query_string else request.path
    return redirect(url_for(str(login_manager.login_view), next=target), 303)


def register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        code = error.code or 500
        message = str(ERROR_MESSAGES.get(code, _l("Erreur.")))
        if isinstance(error, CSRFError):
            message = str(CSRF_MESSAGE)
        if code == 401 and browsing() and login_manager.login_view:
            return to_login()
        # Keep what the protocol requires of the error (Allow on a 405, Retry-After …).
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if wants_json():
            if code == 401:
                headers.append(("WWW-Authenticate", 'Bearer realm="barometre"'))
            return jsonify(error=message), code, headers
        return render_template("error.html", code=code, message=message), code, headers

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception) -> Any:
        """The database is down or saturated: a 503 page, never a traceback."""
        current_app.logger.error("database unavailable: %s", type(error).__name__)
        with contextlib.suppress(DBAPIError):
            db.session.rollback()
        # Render as anonymous: loading the signed-in user would query the database again.
        g._login_user = login_manager.anonymous_user()
        message = str(ERROR_MESSAGES[503])
        headers = {"Retry-After": "30"}
        if wants_json():
            return jsonify(error=message), 503, headers
        if has_request_context() and request.endpoint in UNAVAILABLE_ANSWERS:
            template, mimetype = UNAVAILABLE_ANSWERS[request.endpoint]
            body = render_template(template, message=message)
            return current_app.response_class(body, 503, headers, mimetype=mimetype)
        return render_template("error.html", code=503, message=message), 503, headers

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        current_app.logger.exception("unhandled error")
        db.session.rollback()
        message = str(ERROR_MESSAGES[500])
        if wants_json():
            return jsonify(error=message), 500
        return render_template("error.html", code=500, message=message), 500
