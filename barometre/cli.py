"""`flask --app barometre …` commands."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from . import (
    account_access,
    history_files,
    history_import,
    history_template,
    password_links,
    services,
    two_step,
)
from . import seed as seeding
from .addresses import AddressError, account_form, check_address
from .auth import create_token, hash_password
from .console import admin
from .errors import ValidationFailed
from .extensions import db
from .languages import LANGUAGES
from .models import ROLE_WORKER, ROLES, Establishment, MemberService, User
from .settings import current as settings
from .text import refusal


def checked_address(raw: str) -> str:
    """An address given on the command line, under the product's one rule (its reason if not)."""
    try:
        return check_address(raw)
    except AddressError as refused:
        raise click.ClickException(f"Adresse refusée\xa0: {raw!r}. {refused.reason}") from None


def checked_text(value: str, what: str, maximum: int = 200) -> str:
    """A name given on the command line, under the rule of every stored text."""
    value = value.strip()
    if len(value) > maximum:
        raise click.ClickException(f"{what}\xa0: {maximum} caractères au maximum.")
    if refused := refusal(value, multiline=False):
        raise click.ClickException(f"{what} refusé. {refused}")
    return value


log = logging.getLogger(__name__)


@click.command("seed")
@click.option("--demo", is_flag=True, help="Ajoute des services, comptes et signalements de démo.")
def seed_command(demo: bool) -> None:
    """Référentiel et établissements bruxellois (idempotent)."""
    seeding.seed_referentiel(db.session)
    logins = seeding.seed_demo(db.session, settings()) if demo else []
    db.session.commit()
    # A log line (JSON in production, like every line of the migrate container).
    log.info("Référentiel et établissements en place.")
    for email, password in logins:
        click.echo(f"Compte de démo\xa0: {email} / {password}")


users = click.Group("users", help="Comptes utilisateurs.")


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([role.value for role in ROLES]),
    default=ROLE_WORKER.value,
    show_default=True,
)
@click.option("--service", "service_name", default="", help="Service membre (créé s'il manque).")
@click.option("--name", default="")
@click.option(
    "--lang",
    "language",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Langue du compte (sans elle\xa0: celle du navigateur).",
)
@click.option("--password-stdin", is_flag=True, help="Lit le mot de passe sur l'entrée standard.")
def create_user(
    email: str,
    role: str,
    service_name: str,
    name: str,
    language: str | None,
    password_stdin: bool,
) -> None:
    """Crée un compte ; sans --password-stdin, envoie une invitation (lien aussi affiché)."""
    email = checked_address(email).lower()
    name = checked_text(name, "Nom")
    service_name = checked_text(service_name, "Nom du service")
    if db.session.scalar(select(User).where(User.email == email)):
        raise click.ClickException(f"Le compte {email} existe déjà.")
    if role == ROLE_WORKER and not service_name:
        raise click.ClickException("Un travailleur appartient à un service\xa0: --service NOM.")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else ""
    if password_stdin and len(password) < 10:
        raise click.ClickException("Mot de passe trop court (10 caractères minimum).")
    service = existing_or_new_service(service_name) if service_name else None
    user = User(
        email=email,
        name=name,
        role=role,
        service=service,
        language=language,
        password_hash=hash_password(password) if password else "",
    )
    db.session.add(user)
    services.audit(db.session, None, "user.create", user, role=role)
    db.session.flush()
    # Without a password, the account is usable only through its invitation link: its
    # email is recorded with the account, and leaves after the commit.
    invitation = None
    if not password:
        invitation = password_links.email_link(db.session, user, password_links.INVITE)
    db.session.commit()
    click.echo(f"Compte créé\xa0: {email} ({role})")
    if invitation is not None:
        invited(user, invitation)


def existing_or_new_service(name: str) -> MemberService:
    """The member service of this name in any case (the console's rule), or a new one."""
    service = admin.find_service(db.session, name)
    if service is not None:
        return service
    try:
        return admin.add_service(db.session, None, name, "")
    except ValidationFailed as error:
        db.session.rollback()
        messages = " ".join(m for field in error.errors.values() for m in field)
        raise click.ClickException(f"Nom du service refusé\xa0: {messages}") from None


def invited(user: User, invitation: password_links.QueuedEmail) -> None:
    """Say where the invitation is, and print its link (the same as in the email)."""
    state = invitation.state(db.session)
    if state.sent:
        click.echo(f"Invitation envoyée à {user.email}. Le lien, aussi affiché ici\xa0:")
    elif state.waiting:
        click.echo(
            f"Invitation à {user.email} en file d'envoi (état sur /coordination/notifications). "
            "Le lien, aussi affiché ici\xa0:"
        )
    else:
        click.echo(
            f"Le courriel d'invitation à {user.email} n'a pas pu partir\xa0; "
            "transmettez-lui ce lien\xa0:"
        )
    base_url = settings().base_url
    click.echo(password_links.link_url(base_url, user, password_links.INVITE, invitation.issued_at))


def find_account(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == account_form(email)))
    if user is None:
        raise click.ClickException(f"Compte inconnu\xa0: {email}")
    return user


@users.command("list")
def list_users() -> None:
    """Liste les comptes : adresse, rôle, service, état."""
    query = select(User).options(joinedload(User.service)).order_by(User.email)
    rows = db.session.scalars(query).all()
    for user in rows:
        state = "actif" if user.active else "désactivé"
        if user.active and not user.password_hash:
            state = "invitation en attente"
        service = user.service.name if user.service else "-"
        # No language chosen: the browser's is used (docs/pages.md, Languages).
        language = user.language or "navigateur"
        click.echo(f"{user.email}\t{user.role}\t{service}\t{language}\t{state}")
    click.echo(f"{len(rows)} compte." if len(rows) == 1 else f"{len(rows)} comptes.")


@users.command("disable")
@click.argument("email")
def disable_user(email: str) -> None:
    """Désactive un compte : ses sessions et ses jetons d'API cessent aussitôt."""
    user = find_account(email)
    revoked = account_access.disable_user(db.session, None, user)
    db.session.commit()
    tokens = ngettext("%(num)d jeton d'API révoqué", "%(num)d jetons d'API révoqués", revoked)
    click.echo(f"Compte désactivé\xa0: {user.email}\xa0; ses sessions sont fermées et {tokens}.")


@users.command("enable")
@click.argument("email")
def enable_user(email: str) -> None:
    """Réactive un compte désactivé (il se reconnecte ; ses anciens jetons restent révoqués)."""
    user = find_account(email)
    if not account_access.enable_user(db.session, None, user):
        click.echo(f"Le compte {user.email} est déjà actif.")
        return
    db.session.commit()
    click.echo(f"Compte réactivé\xa0: {user.email}.")


@users.command("reset-two-step")
@click.argument("email")
def reset_two_step(email: str) -> None:
    """Retire la deuxième étape d'un compte (application, clés d'accès, codes de secours) ;
    la personne est prévenue par courriel."""
    user = find_account(email)
    removed = two_step.reset(db.session, None, user)
    db.session.commit()
    app_state = "retirée" if removed["totp"] else "absente"
    keys = ngettext("%(num)d clé d'accès", "%(num)d clés d'accès", removed["passkeys"])
    codes = ngettext(
        "%(num)d code de secours", "%(num)d codes de secours", removed["recovery_codes"]
    )
    click.echo(
        f"Deuxième étape réinitialisée pour {user.email}\xa0: application de codes {app_state}, "
        f"{keys} et {codes} retirés. La personne est prévenue par courriel\xa0; à sa prochaine "
        "connexion, elle en configure une nouvelle si elle y est tenue."
    )


def _changes_recorded(count: int) -> str:
    if count == 0:
        return "aucun changement enregistré"
    if count == 1:
        return "1 changement enregistré"
    return f"{count} changements enregistrés"


tokens = click.Group("tokens", help="Jetons d'API.")


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="cli")
def create_token_command(email: str, name: str) -> None:
    """Crée un jeton d'API; il est affiché une seule fois, seul sur la dernière ligne."""
    name = checked_text(name, "Nom du jeton", 100)
    user = db.session.scalar(select(User).where(User.email == account_form(email)))
    if user is None:
        raise click.ClickException(f"Compte inconnu\xa0: {email}")
    if not user.active:
        # Enabling the account would revoke it: disabled accounts hold no live token.
        raise click.ClickException(
            f"Le compte {user.email} est désactivé\xa0: réactivez-le d'abord."
        )
    token = create_token(db.session, user, name)
    services.audit(db.session, None, "token.create", user)
    db.session.commit()
    click.echo(f"Jeton créé pour {user.email} (affiché une seule fois)\xa0:")
    click.echo(token)


establishments = click.Group("establishments", help="Établissements\xa0: noms et note du comité.")

# The command line's name of each field a service may refuse.
OPTIONS = {
    "name": "Nom (français)",
    "name_nl": "--name-nl",
    "name_en": "--name-en",
    "note": "--note",
    "note_nl": "--note-nl",
    "note_en": "--note-en",
}


def refused(error: ValidationFailed) -> click.ClickException:
    lines = [
        f"{OPTIONS.get(field, field)} refusé\xa0: {message}"
        for field, messages in error.errors.items()
        for message in messages
    ]
    return click.ClickException("\n".join(lines))


def find_establishment(slug: str) -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == slug.strip()))
    if row is None:
        raise click.ClickException(f"Établissement inconnu\xa0: {slug}")
    return row


def name_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("--name-en", default=None, help="Nom en anglais (facultatif).")(command)
    return click.option("--name-nl", default=None, help="Nom en néerlandais (facultatif).")(command)


@establishments.command("list")
def list_establishments() -> None:
    """Liste les établissements : identifiant, noms (fr, nl, en), état."""
    rows = db.session.scalars(select(Establishment).order_by(Establishment.name)).all()
    for row in rows:
        state = "actif" if row.active else "désactivé"
        names = "\t".join(row.names().values())
        click.echo(f"{row.slug}\t{names}\t{state}")


@establishments.command("create")
@click.argument("name")
@name_options
def create_establishment(name: str, name_nl: str | None, name_en: str | None) -> None:
    """Ajoute un établissement ; son identifiant vient du nom français."""
    try:
        row = admin.add_establishment(db.session, None, name, name_nl, name_en)
    except ValidationFailed as error:
        db.session.rollback()
        raise refused(error) from None
    db.session.commit()
    click.echo(f"Établissement ajouté\xa0: {row.name} (identifiant {row.slug})")


@establishments.command("edit")
@click.argument("slug")
@click.option("--name", default=None, help="Nom en français (l'identifiant ne change pas).")
@name_options
@click.option("--note", default=None, help="Note du comité en français (vide\xa0: la retire).")
@click.option("--note-nl", default=None, help="Note du comité en néerlandais (facultative).")
@click.option("--note-en", default=None, help="Note du comité en anglais (facultative).")
def edit_establishment(
    slug: str,
    name: str | None,
    name_nl: str | None,
    name_en: str | None,
    note: str | None,
    note_nl: str | None,
    note_en: str | None,
) -> None:
    """Change les noms ou la note du comité ; une option absente laisse le texte tel quel."""
    row = find_establishment(slug)
    try:
        if (name, name_nl, name_en) != (None, None, None):
            admin.rename_establishment(
                db.session, None, row.id, row.name if name is None else name, name_nl, name_en
            )
        if (note, note_nl, note_en) != (None, None, None):
            french = row.committee_note if note is None else note
            admin.set_committee_note(db.session, None, row.id, french, note_nl, note_en)
    except ValidationFailed as error:
        db.session.rollback()
        raise refused(error) from None
    db.session.commit()
    click.echo(f"Établissement modifié\xa0: {row.name} (identifiant {row.slug})")


levels = click.Group("levels", help="Niveaux des établissements.")


@levels.command("recompute")
def recompute_command() -> None:
    """Expire les situations périmées et recalcule chaque niveau."""
    changes = services.recompute_all(db.session, settings())
    db.session.commit()
    click.echo(f"Niveaux recalculés\xa0; {_changes_recorded(len(changes))}.")


imports = click.Group("import", help="Import de données.")


@imports.command("history")
@click.argument("reports", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--resolutions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier des résolutions (CSV ou XLSX)\xa0; inutile si le classeur des signalements "
    "a une feuille «\xa0Résolutions\xa0».",
)
@click.option(
    "--dry-run", is_flag=True, help="Montre ce que l'import ferait, sans rien enregistrer."
)
def import_history_command(reports: Path, resolutions: Path | None, dry_run: bool) -> None:
    """Importe l'historique du comité (signalements, résolutions) depuis des fichiers CSV
    ou un classeur XLSX (en-têtes en français, néerlandais ou anglais)."""
    try:
        with import_progress() as progress:
            summary = history_import.import_history(
                db.session,
                reports.read_bytes(),
                resolutions.read_bytes() if resolutions else None,
                None,
                settings(),
                dry_run,
                progress,
            )
    except history_files.ImportRefused as refused:
        db.session.rollback()
        for line in refused.lines:
            click.echo(line, err=True)
        raise click.ClickException(refused.message) from None
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for line in history_import.summary_lines(summary, dry_run):
        click.echo(line)


@imports.command("template")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="fr",
    show_default=True,
    help="Langue des en-têtes, des feuilles et des listes déroulantes.",
)
def import_template_command(output: Path, lang: str) -> None:
    """Écrit le classeur XLSX à remplir pour l'import de l'historique (listes déroulantes)."""
    output.write_bytes(history_template.workbook(db.session, lang))
    click.echo(f"Classeur écrit\xa0: {output}")


def on_terminal() -> bool:
    return sys.stdout.isatty()


@contextmanager
def import_progress() -> Iterator[history_import.Progress]:
    """The import's progress: a bar on a terminal, else a line at each tenth (on stderr)."""
    bar: Any = None
    shown = [0, -1]  # lines done, tenth said

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if on_terminal():
            if bar is None:
                bar = click.progressbar(length=total, label="Lignes rejouées").__enter__()
            bar.update(done - shown[0])
            shown[0] = done
            return
        tenth = done * 10 // max(total, 1)
        if tenth > shown[1]:
            shown[1] = tenth
            click.echo(f"Lignes rejouées\xa0: {done} sur {total}", err=True)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def register_cli(app: Flask) -> None:
    from .retention import retention_cli

    for command in (seed_command, users, tokens, establishments, levels, imports, retention_cli):
        app.cli.add_command(command)
